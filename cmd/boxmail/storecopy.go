package main

// 'boxmail store copy': a box's state copied between its SQLite
// database and a PostgreSQL database (issue 23), online (store.Copy).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"boxmail/internal/backup"
	"boxmail/internal/config"
	"boxmail/internal/store"
)

func storeCommands() []subcommand {
	return []subcommand{
		{name: "copy", args: "--to postgres://USER:PASS@HOST:PORT/DB | --to sqlite:DIR [--body-store db|s3://...] [--again]",
			summary: "copy the box's store into an empty database on the other engine while it serves, and verify; stop boxmail, copy --again, switch store_url", run: storeCopy},
	}
}

func storeCopy(e *env, args []string) (err error) {
	var to, bodyStore string
	var again bool
	dir, pos, err := parseWith(e, "store copy", args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the target: postgres://USER:PASS@HOST:PORT/DB (an empty database), or sqlite:DIR (a new data dir) to copy back from PostgreSQL")
		fs.BoolVar(&again, "again", false, "bring a target an earlier copy of this box filled up to date (run it with boxmail stopped, just before switching store_url)")
		fs.StringVar(&bodyStore, "body-store", "", "with a postgres:// target: where its large bodies go, db or s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false] (default: the box's body_store, else db)")
	})
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if to == "" {
		return usagef("--to is required: postgres://USER:PASS@HOST:PORT/DB or sqlite:DIR")
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	src, err := store.Open(ctx, dir, store.Options{URL: cfg.StoreURL, BodyStore: cfg.BodyStore})
	if err != nil {
		return err
	}
	defer closeStore(src, &err)
	// The box's secrets go with its database: an older box's backup
	// settings file is imported first (its SRS key was, at Open).
	if _, err := backup.LoadSettings(ctx, src, dir); err != nil && !errors.Is(err, backup.ErrNotConfigured) {
		return err
	}
	dst, where, cleanup, err := openCopyTarget(ctx, cfg, to, bodyStore)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	fmt.Fprintf(e.stderr, "copying the store of %s into %s\n", dir, where)
	rep, err := store.CopyBox(ctx, src, dst, store.CopyOptions{Again: again, Progress: func(s string) { fmt.Fprintln(e.stderr, s) }})
	if err != nil {
		return fmt.Errorf("copy into %s: %w", where, err)
	}
	printCopyReport(e, rep, where)
	if strings.HasPrefix(to, "sqlite:") || !strings.Contains(to, "://") {
		fmt.Fprintf(e.stdout, "next: stop boxmail, remove store_url and body_store from %s, and serve the copy (or move its %s into %s)\n", config.FileName, store.FileName, dir)
	} else if again {
		fmt.Fprintf(e.stdout, "next: set store_url = %s (and body_store = %s) in %s, start boxmail\n", store.RedactURL(to), rep.Target, config.FileName)
	} else {
		fmt.Fprintf(e.stdout, "next: stop boxmail, run this again with --again (mail that came in meanwhile), set store_url = %s (and body_store = %s) in %s, start it\n", store.RedactURL(to), rep.Target, config.FileName)
	}
	return nil
}

// openCopyTarget opens the target store of a copy: a PostgreSQL
// database (with a scratch dir: its large bodies go to its body store),
// or a SQLite data dir.
func openCopyTarget(ctx context.Context, cfg config.Config, to, bodyStore string) (*store.Store, string, func() error, error) {
	none := func() error { return nil }
	if strings.HasPrefix(to, "postgres://") || strings.HasPrefix(to, "postgresql://") {
		if bodyStore == "" {
			bodyStore = cfg.BodyStore
		}
		if bodyStore == store.BodyStoreFile {
			return nil, "", none, usagef("--body-store file: a copy's large bodies go to a store every node reads (db or s3://...)")
		}
		if err := store.CheckBodyStore(bodyStore); err != nil {
			return nil, "", none, usagef("--body-store: %s", err)
		}
		scratch, err := os.MkdirTemp("", "boxmail-copy-")
		if err != nil {
			return nil, "", none, err
		}
		dst, err := store.Open(ctx, scratch, store.Options{URL: to, BodyStore: bodyStore})
		if err != nil {
			return nil, "", none, errors.Join(err, os.RemoveAll(scratch))
		}
		return dst, store.RedactURL(to), func() error { return errors.Join(dst.Close(), os.RemoveAll(scratch)) }, nil
	}
	if strings.Contains(to, "://") {
		return nil, "", none, usagef("--to: want postgres://USER:PASS@HOST:PORT/DB or sqlite:DIR")
	}
	if cfg.StoreURL == "" {
		return nil, "", none, usagef("--to: the box is on SQLite already; copy it to postgres://...")
	}
	tdir := strings.TrimPrefix(to, "sqlite:")
	dst, err := store.Open(ctx, tdir, store.Options{})
	if err != nil {
		return nil, "", none, err
	}
	return dst, "sqlite:" + tdir, dst.Close, nil
}

func printCopyReport(e *env, rep *store.CopyReport, where string) {
	fmt.Fprintf(e.stdout, "copied into %s (large bodies: %s):\n", where, rep.Target)
	for _, t := range rep.Tables {
		if t.Rows > 0 {
			fmt.Fprintf(e.stdout, "  %-24s %d rows\n", t.Name, t.Rows)
		}
	}
	fmt.Fprintf(e.stdout, "bodies: %d (%d large, %d bytes, moved into the body store); %d added or removed during the final pause of %s\n",
		rep.Bodies, rep.Large, rep.LargeSize, rep.CatchUp, rep.Pause.Round(1e6))
	fmt.Fprintf(e.stdout, "verified: row counts equal in every table; %d bodies byte-identical (SHA-256)\n", rep.Verified)
}
