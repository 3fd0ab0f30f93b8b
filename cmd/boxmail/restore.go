package main

// 'boxmail restore': a whole box into an empty directory, or one
// account (or mailbox) back into a live box. internal/backup does the
// work; this is flags and the report.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"boxmail/internal/backup"
	"boxmail/internal/config"
	"boxmail/internal/progress"
	"boxmail/internal/safefile"
	"boxmail/internal/store"
)

func cmdRestore(e *env, args []string) (err error) {
	var from, idFile, snapshot, user, mailbox string
	var verbose bool
	dir, pos, err := parseWith(e, "restore", args, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "TARGET holding the backups")
		fs.StringVar(&idFile, "identity", "", "the identity file 'backup init' printed")
		fs.StringVar(&snapshot, "snapshot", "", "snapshot ID (default: the newest; see 'backup list')")
		fs.StringVar(&user, "user", "", "put back this account's missing mailboxes and messages into the live box in --dir (beside the running server)")
		fs.StringVar(&mailbox, "mailbox", "", "with --user: only this mailbox")
		fs.BoolVar(&verbose, "verbose", false, "log each phase's time on stderr")
	})
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if from == "" || idFile == "" {
		return usagef("--from TARGET and --identity FILE are required")
	}
	if mailbox != "" && user == "" {
		return usagef("--mailbox needs --user EMAIL")
	}
	t, err := backup.Open(from)
	if err != nil {
		return err
	}
	ids, err := backup.ReadIdentity(idFile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if user != "" {
		return restoreUser(ctx, e, backup.AccountRestoreOptions{Target: t, Identities: ids, Snapshot: snapshot, Dir: dir,
			User: user, Mailbox: mailbox, Logger: log})
	}
	limitMemory(e)
	stopProfile, err := cpuProfile(e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopProfile()) }()
	start := time.Now()
	bar := progress.New(e.stderr, "restore", "files") // nil off a terminal
	res, err := backup.Restore(ctx, backup.RestoreOptions{Target: t, Identities: ids, Snapshot: snapshot, Dir: dir, Logger: log,
		Progress: func(done, total int) { bar.Set(int64(done), int64(total)) }})
	bar.Finish()
	if err != nil {
		return fmt.Errorf("nothing restored: %w", err)
	}
	m := res.Manifest
	fmt.Fprintf(e.stdout, "restored snapshot %s (taken %s by boxmail %s, schema %d) into %s in %s:\n  %d accounts, %d messages (%d body files), %d files, %s; every hash checked, database integrity ok\n",
		m.ID, m.Time.Format(time.RFC3339), m.Version, m.Schema, dir, time.Since(start).Round(time.Millisecond),
		res.Info.Accounts, res.Info.Messages, len(res.Info.BodyFiles), res.Files, sizeText(res.Bytes))
	if from, err := detachRestoredStore(dir); err != nil {
		return fmt.Errorf("restored into %s, but its %s still names the PostgreSQL store: %w", dir, config.FileName, err)
	} else if from != "" {
		fmt.Fprintf(e.stdout, "The box ran on PostgreSQL (%s); the restored box runs on SQLite (store_url and body_store removed from its %s).\n"+
			"To go back to PostgreSQL: 'boxmail store copy --dir %s --to postgres://...', then set store_url.\n", from, config.FileName, dir)
	}
	fmt.Fprintf(e.stdout, "Start it with 'boxmail serve --dir %s'.\n", dir)
	return nil
}

// detachRestoredStore makes a restored box of a PostgreSQL store (its
// snapshot is a SQLite box: store.SnapshotDB) a SQLite box: its config
// loses store_url and body_store, which would point the restored box at
// the live database. It returns the store it named (password hidden),
// "" when there was none.
func detachRestoredStore(dir string) (string, error) {
	cfg, err := config.Load(dir)
	if err != nil || cfg.StoreURL == "" {
		return "", err
	}
	from := store.RedactURL(cfg.StoreURL)
	cfg.StoreURL, cfg.BodyStore = "", ""
	return from, safefile.Write(filepath.Join(dir, config.FileName), cfg.Format(), 0o600)
}

// restoreUser puts one account's (or mailbox's) missing mail back into
// the box in o.Dir, running or not, and prints what per mailbox.
func restoreUser(ctx context.Context, e *env, o backup.AccountRestoreOptions) error {
	if _, err := os.Stat(o.Dir); err != nil {
		return fmt.Errorf("data dir %s does not exist: --user restores into an existing box", o.Dir)
	}
	return withBox(o.Dir, func(_ config.Config, st *store.Store) error {
		o.Store = st
		start := time.Now()
		res, err := backup.RestoreAccount(ctx, o)
		if res.Manifest.ID != "" {
			fmt.Fprintf(e.stdout, "snapshot %s (taken %s), account %s:\n", res.Manifest.ID, res.Manifest.Time.Format(time.RFC3339), o.User)
		}
		added, perr := printRestored(e, res.Mailboxes)
		if perr != nil && err == nil {
			err = perr
		}
		if err != nil {
			if added > 0 {
				return fmt.Errorf("restore stopped after putting back %d messages (listed above): %w", added, err)
			}
			return fmt.Errorf("nothing restored: %w", err)
		}
		fmt.Fprintf(e.stdout, "%d messages put back in %s; every chunk's hash checked\n", added, time.Since(start).Round(time.Millisecond))
		return nil
	})
}

// printRestored prints a table of what a restore did to each mailbox
// and returns the number of messages put back.
func printRestored(e *env, boxes []backup.MailboxRestored) (int, error) {
	if len(boxes) == 0 {
		return 0, nil
	}
	tw := newTable(e.stdout, "MAILBOX\tIN SNAPSHOT\tSTILL THERE\tPUT BACK\t")
	added := 0
	for _, mb := range boxes {
		note := ""
		if mb.Created {
			note = "(was deleted: made again, new UIDVALIDITY)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", mb.Name, mb.InSnapshot, mb.Present, mb.Added, note)
		added += mb.Added
	}
	return added, tw.Flush()
}
