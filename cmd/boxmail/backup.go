package main

// 'boxmail backup' and 'boxmail restore': flags around internal/backup,
// which owns the snapshot, the encryption, the target and the checks.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/skip2/go-qrcode"

	"boxmail/internal/backup"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/progress"
	"boxmail/internal/store"
)

func backupCommands() []subcommand {
	return []subcommand{
		{name: "init", args: "--to TARGET [--identity-out FILE] [--force]", summary: "set up encrypted backups to a directory or S3; prints the decryption identity once", run: backupInit},
		{name: "run", args: "[--to TARGET]", summary: "back up the box now (beside the running server)", run: backupRun},
		{name: "list", args: "[--identity FILE]", summary: "the snapshots in the target", run: backupList},
		{name: "verify", args: "[--read | --full --identity FILE]", summary: "check every snapshot's objects are there (--read: read all back; --full: decrypt and re-hash all)", run: backupVerify},
	}
}

func backupInit(e *env, args []string) error {
	var to, idOut string
	var force bool
	dir, pos, err := parseWith(e, "backup init", args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "TARGET: a directory (another disk, a mounted share) or s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false]")
		fs.StringVar(&idOut, "identity-out", "", "also write the identity to this file (0600; keep it off this machine)")
		fs.BoolVar(&force, "force", false, "replace an existing setup (the old identity keeps reading the old snapshots)")
	})
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if to == "" {
		return usagef("--to TARGET is required")
	}
	if _, err := loadConfig(dir); err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error { return backupInitIn(e, st, dir, to, idOut, force) })
}

// backupInitIn is 'backup init' on the box's open store: the settings
// go into the store, so every node of the box uses them.
func backupInitIn(e *env, st *store.Store, dir, to, idOut string, force bool) (err error) {
	var idFile *os.File
	if idOut != "" {
		if inside(dir, idOut) {
			return usagef("--identity-out %s is inside the data dir: the identity must not live on the box it backs up", idOut)
		}
		if idFile, err = os.OpenFile(idOut, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
			return fmt.Errorf("identity file: %w", err)
		}
	}
	id, s, err := backup.Init(context.Background(), st, dir, to, force)
	if err != nil {
		if idFile != nil {
			return errors.Join(err, idFile.Close(), os.Remove(idOut))
		}
		return err
	}
	text := backup.IdentityText(id, s.Created)
	if idFile != nil {
		if _, err := idFile.WriteString(text); err != nil {
			return errors.Join(err, idFile.Close())
		}
		if err := errors.Join(idFile.Sync(), idFile.Close()); err != nil {
			return err
		}
	}
	where := s.Target
	if t, err := backup.Open(s.Target); err == nil {
		where = t.String() // without an S3 secret
	}
	fmt.Fprintf(e.stdout, "Backups of this box go to %s, encrypted to %s.\n\n", where, s.Recipient)
	fmt.Fprintf(e.stdout, "This identity decrypts them. It is shown only now and is not kept on this box:\nstore it offline (print it, or save the file elsewhere). Without it no backup can be restored.\n\n%s\n", text)
	if q, err := qrcode.New(id.String(), qrcode.Medium); err == nil {
		fmt.Fprintln(e.stdout, q.ToSmallString(false))
	}
	if idOut != "" {
		fmt.Fprintf(e.stdout, "Also written to %s.\n", idOut)
	}
	fmt.Fprintln(e.stdout, "Next: 'boxmail backup run'.")
	return nil
}

// inside tells whether path p is within dir.
func inside(dir, p string) bool {
	ad, err1 := filepath.Abs(dir)
	ap, err2 := filepath.Abs(p)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(ad, ap)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// backupSetup loads the box's backup settings (from its store) and its
// target (or the one --to names).
func backupSetup(ctx context.Context, st *store.Store, dir, to string) (backup.Settings, backup.Target, error) {
	s, err := backup.LoadSettings(ctx, st, dir)
	if err != nil {
		return s, nil, err
	}
	if to == "" {
		to = s.Target
	}
	t, err := backup.Open(to)
	return s, t, err
}

func backupRun(e *env, args []string) (err error) {
	var to string
	var verbose bool
	dir, pos, err := parseWith(e, "backup run", args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "TARGET for this run (default: the one 'backup init' stored)")
		fs.BoolVar(&verbose, "verbose", false, "log each phase's time on stderr")
	})
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	limitMemory(e)
	stopProfile, err := cpuProfile(e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopProfile()) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	return withBox(dir, func(cfg config.Config, st *store.Store) error {
		s, t, err := backupSetup(ctx, st, dir, to)
		if err != nil {
			return err
		}
		keep := retention(cfg)
		bar := progress.New(e.stderr, "backup", "files") // nil off a terminal
		res, err := backup.Run(ctx, backup.RunOptions{Dir: dir, Store: st, Settings: s, Target: t, Version: version, Logger: log, Keep: &keep,
			Progress: func(done, total int) { bar.Set(int64(done), int64(total)) }})
		bar.Finish()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "snapshot %s: %d messages, %d files, %s; %d of %d objects uploaded (%s) in %s\n",
			res.ID, res.Messages, res.Files, sizeText(res.Bytes), res.Uploaded, res.Objects, sizeText(res.UploadedBytes), res.Duration.Round(time.Millisecond))
		if res.Pruned > 0 || res.ObjectsPruned > 0 {
			fmt.Fprintf(e.stdout, "backup_keep = %s: removed %d older snapshots and %d objects no kept snapshot needs\n", cfg.Backup.Keep, res.Pruned, res.ObjectsPruned)
		}
		return nil
	})
}

// retention is the config's backup_keep.
func retention(cfg config.Config) backup.Retention {
	k := cfg.Backup.Keep
	return backup.Retention{Daily: k.Daily, Weekly: k.Weekly, Monthly: k.Monthly, Yearly: k.Yearly}
}

// startBackupSchedule runs a backup (with pruning and a presence check)
// at the config's backup_schedule every day while serve runs, once
// 'backup init' set backups up, on one node of several (singleton.go).
// stop cancels a run in progress and waits.
func startBackupSchedule(dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, q *delivery.Queue, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			next, ok := cfg.Backup.NextBackup(time.Now())
			if !ok {
				return
			}
			timer := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			singleton(ctx, st, q, "backup", log, func(ctx context.Context) {
				if err := scheduledBackup(ctx, dir, cfg, st, log); err != nil && ctx.Err() == nil {
					tellAdmins(st, d, cfg.Hostname, "The backup of "+cfg.Hostname+" failed",
						"Tonight's backup of "+cfg.Hostname+" failed:\n\n"+err.Error()+"\n\n'boxmail status' shows the last good backup; 'boxmail backup run' tries again.", log)
				}
			})
		}
	}()
	return func() { cancel(); <-done }
}

// scheduledBackup is one nightly run: backup, prune, verify presence.
// Failures are logged at error level and returned, for the admins' mail.
func scheduledBackup(ctx context.Context, dir string, cfg config.Config, st *store.Store, log *slog.Logger) error {
	s, err := backup.LoadSettings(ctx, st, dir)
	if errors.Is(err, backup.ErrNotConfigured) {
		log.Debug("no scheduled backup: not set up")
		return nil
	}
	var t backup.Target
	if err == nil {
		t, err = backup.Open(s.Target)
	}
	if err != nil {
		log.Error("scheduled backup failed", "err", err)
		return err
	}
	keep := retention(cfg)
	res, err := backup.Run(ctx, backup.RunOptions{Dir: dir, Store: st, Settings: s, Target: t, Version: version, Logger: log, Keep: &keep})
	if err != nil {
		log.Error("scheduled backup failed", "target", t.String(), "err", err)
		return err
	}
	kind, err := scheduledVerify(ctx, dir, cfg, st, s, t, time.Now())
	if err != nil {
		log.Error("backup verify failed after the scheduled run", "target", t.String(), "verify", kind, "err", err)
		return fmt.Errorf("the snapshot was stored, but the %s check of the target found a problem: %w", kind, err)
	}
	log.Info("scheduled backup done", "snapshot", res.ID, "uploaded", res.Uploaded, "objects", res.Objects, "pruned", res.Pruned, "verify", kind, "took", res.Duration)
	return nil
}

// scheduledVerify checks the target after a scheduled run and records
// the result for 'boxmail status'. Every night: each snapshot's object
// list, and every object present with the size it was stored with. Once
// a week (backup.DeepVerifyEvery) it goes deeper: with
// backup_verify_identity, a full verify (every object decrypted and
// re-hashed, each snapshot's database checked); without it (the box does
// not hold the identity), every object and manifest is read back and
// checked to be a whole age file.
func scheduledVerify(ctx context.Context, dir string, cfg config.Config, db *store.Store, s backup.Settings, t backup.Target, now time.Time) (string, error) {
	o := backup.VerifyOptions{Target: t, NameKey: s.NameKey}
	st, err := backup.ReadStatus(ctx, db, dir)
	if err != nil || st.DeepVerifyDue(now) {
		o.Read = true
		if cfg.Backup.VerifyIdentity != "" {
			o.Full = true
			if o.Identities, err = backup.ReadIdentity(cfg.Backup.VerifyIdentity); err != nil {
				err = fmt.Errorf("backup_verify_identity: %w", err)
				return o.Kind(), errors.Join(err, backup.RecordVerify(ctx, db, dir, now, o.Kind(), err))
			}
		}
	}
	_, err = backup.Verify(ctx, o)
	if rerr := backup.RecordVerify(context.WithoutCancel(ctx), db, dir, now, o.Kind(), err); rerr != nil {
		err = errors.Join(err, fmt.Errorf("recording the verify: %w", rerr))
	}
	return o.Kind(), err
}

// backupStaleAfter is how old the newest verified backup may be before
// 'boxmail status' warns.
const backupStaleAfter = 48 * time.Hour

// backupCheck is the status line of the backups: set up, the last run
// stored its snapshot, and the newest verified one is at most two days
// old.
func backupCheck(ctx context.Context, dir string, db *store.Store, hostname string, now time.Time) dnsrecords.Result {
	r := dnsrecords.Result{Level: dnsrecords.Warn, Subject: hostname, Check: "backup"}
	s, err := backup.LoadSettings(ctx, db, dir)
	if errors.Is(err, backup.ErrNotConfigured) {
		r.Found, r.Fix = "no backup is set up: one dead disk loses every message", "boxmail backup init --to TARGET (another disk, or s3://...), then keep the printed identity offline"
		return r
	}
	st, serr := backup.ReadStatus(ctx, db, dir)
	switch {
	case err != nil || serr != nil:
		r.Found, r.Fix = "the backup settings or record cannot be read: "+errors.Join(err, serr).Error(), "boxmail backup run --verbose"
	case st.LastRunError != "":
		r.Found = fmt.Sprintf("the last run (%s) failed: %s", st.LastRun.Format(time.RFC3339), st.LastRunError)
		r.Fix = "boxmail backup run to try again"
	case st.VerifyError != "":
		r.Found = fmt.Sprintf("the last verify (%s, %s) failed: %s", st.VerifyKind, st.LastVerify.Format(time.RFC3339), st.VerifyError)
		r.Fix = "boxmail backup verify --full --identity FILE names every damaged object; then boxmail backup run"
	case st.DeepVerifyError != "":
		r.Found = fmt.Sprintf("the weekly verify (%s, %s) failed: %s", st.DeepVerifyKind, st.LastDeepVerify.Format(time.RFC3339), st.DeepVerifyError)
		r.Fix = "boxmail backup verify --full --identity FILE names every damaged object; then boxmail backup run"
	case st.LastVerified.IsZero():
		r.Found, r.Fix = "no verified backup in "+s.Target+" yet", "boxmail backup run, then boxmail backup verify (the nightly run does both)"
	case now.Sub(st.LastVerified) > backupStaleAfter:
		r.Found = fmt.Sprintf("the newest verified backup is from %s, %s ago", st.LastVerified.Format(time.RFC3339), now.Sub(st.LastVerified).Round(time.Hour))
		r.Fix = "boxmail backup run and boxmail backup verify; is backup_schedule off?"
	default:
		r.Level = dnsrecords.OK
		r.Found = fmt.Sprintf("snapshot %s in %s, verified %s; %s", st.LastSnapshot, s.Target, st.LastVerified.Format(time.RFC3339), deepVerifyText(st))
	}
	return r
}

// deepVerifyText says when the last weekly verify ran and how deep.
func deepVerifyText(st backup.Status) string {
	switch {
	case st.LastDeepVerify.IsZero():
		return "no weekly verify yet"
	case st.DeepVerifyKind == "full":
		return "weekly verify (full: decrypted, re-hashed) " + st.LastDeepVerify.Format(time.RFC3339)
	}
	return "weekly verify (read back, without the identity) " + st.LastDeepVerify.Format(time.RFC3339)
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func backupList(e *env, args []string) error {
	var to, idFile string
	dir, pos, err := parseWith(e, "backup list", args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "TARGET to list (default: the box's)")
		fs.StringVar(&idFile, "identity", "", "identity file: also show what each snapshot holds")
	})
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	ctx := context.Background()
	var t backup.Target
	if err := withStore(dir, func(st *store.Store) (err error) {
		_, t, err = backupSetup(ctx, st, dir, to)
		return err
	}); err != nil {
		return err
	}
	snaps, err := backup.List(ctx, t)
	if err != nil {
		return err
	}
	ids, err := maybeIdentity(idFile)
	if err != nil {
		return err
	}
	tw := newTable(e.stdout, "SNAPSHOT\tTIME\tMESSAGES\tFILES\tSIZE\tVERSION")
	for _, s := range snaps {
		row := fmt.Sprintf("%s\t%s\t-\t-\t-\t-", s.ID, s.Time.Format(time.RFC3339))
		if ids != nil {
			m, err := backup.ReadManifest(ctx, t, s.ID, ids)
			if err != nil {
				return err
			}
			row = fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s", s.ID, s.Time.Format(time.RFC3339), m.Messages, len(m.Files), sizeText(m.Bytes), m.Version)
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

func maybeIdentity(path string) ([]backup.Identity, error) {
	if path == "" {
		return nil, nil
	}
	return backup.ReadIdentity(path)
}

func backupVerify(e *env, args []string) error {
	var to, idFile string
	var full, read bool
	dir, pos, err := parseWith(e, "backup verify", args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "TARGET to verify (default: the box's)")
		fs.BoolVar(&full, "full", false, "download, decrypt and re-hash every object; check each snapshot's database")
		fs.BoolVar(&read, "read", false, "download every object and manifest and check each is a whole age file (no identity needed)")
		fs.StringVar(&idFile, "identity", "", "identity file (needed by --full)")
	})
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if full && idFile == "" {
		return usagef("--full needs --identity FILE")
	}
	ids, err := maybeIdentity(idFile)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error { return verifyBox(e, st, dir, to, full, read, ids) })
}

// verifyBox is 'backup verify' on the box's open store (its settings,
// and the record 'boxmail status' shows on every node).
func verifyBox(e *env, st *store.Store, dir, to string, full, read bool, ids []backup.Identity) error {
	ctx := context.Background()
	s, t, err := backupSetup(ctx, st, dir, to)
	if err != nil {
		return err
	}
	start := time.Now()
	o := backup.VerifyOptions{Target: t, NameKey: s.NameKey, Full: full, Read: read || full, Identities: ids}
	res, err := backup.Verify(ctx, o)
	if to == "" { // the box's own target: 'boxmail status' follows it
		if rerr := backup.RecordVerify(ctx, st, dir, start, o.Kind(), err); rerr != nil {
			fmt.Fprintf(e.stderr, "warning: the verify's result is not recorded for 'boxmail status': %v\n", rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("verify of %s failed:\n%w", t, err)
	}
	what := "present with their sizes"
	switch {
	case full:
		what = fmt.Sprintf("decrypted and re-hashed (%s), databases checked", sizeText(res.Bytes))
	case read:
		what = fmt.Sprintf("read back whole (%s)", sizeText(res.Bytes))
	}
	fmt.Fprintf(e.stdout, "ok: %d snapshots, %d objects %s in %s\n", res.Snapshots, res.Objects, what, time.Since(start).Round(time.Millisecond))
	return nil
}
