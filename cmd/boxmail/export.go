package main

// 'boxmail export': an account's mail written out as a Maildir++ tree
// or a directory of mbox files (migrate owns the formats), beside a
// running server.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"boxmail/internal/migrate"
	"boxmail/internal/store"
)

func cmdExport(e *env, args []string) error {
	var mbox, maildir string
	dir, pos, err := parseWith(e, "export", args, func(fs *flag.FlagSet) {
		fs.StringVar(&mbox, "mbox", "", "write a directory of mbox files (mboxrd; Folder.sbd/Sub.mbox) into this new or empty directory")
		fs.StringVar(&maildir, "maildir", "", "write a Maildir++ tree (Dovecot layout: .Folder.Sub) into this new or empty directory")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 || (mbox == "") == (maildir == "") {
		return usagef("usage: export EMAIL --mbox DIR | --maildir DIR")
	}
	return withStore(dir, func(st *store.Store) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		acc, err := st.AccountByEmail(ctx, strings.ToLower(pos[0]))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account %s on the box", pos[0])
		} else if err != nil {
			return err
		}
		opts := migrate.ExportOptions{Store: st, AccountID: acc.ID}
		var rep *migrate.ExportReport
		target := maildir
		if mbox != "" {
			target = mbox
			rep, err = migrate.ExportMbox(ctx, opts, mbox)
		} else {
			rep, err = migrate.ExportMaildir(ctx, opts, maildir)
		}
		if rep != nil {
			printExport(e, rep, target)
		}
		if err != nil {
			return fmt.Errorf("export of %s stopped (what is in %s is incomplete): %w", acc.Email, target, err)
		}
		return nil
	})
}

// printExport prints what an export wrote, a folder a line, and warns
// of what it could not keep.
func printExport(e *env, rep *migrate.ExportReport, target string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FOLDER\tPATH\tMESSAGES\tBYTES")
	for _, f := range rep.Folders {
		p := f.Path
		if p == "" {
			p = "."
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", f.Name, p, f.Messages, f.Bytes)
		if f.Vanished > 0 {
			fmt.Fprintf(e.stderr, "boxmail export: %s: %d message(s) were deleted while the export ran\n", f.Name, f.Vanished)
		}
		if len(f.KeywordsDropped) > 0 {
			fmt.Fprintf(e.stderr, "boxmail export: %s: Maildir holds 26 keywords per folder; not kept: %s\n", f.Name, strings.Join(f.KeywordsDropped, " "))
		}
	}
	n, b := rep.Totals()
	fmt.Fprintf(tw, "total\t%s\t%d\t%d\n", target, n, b)
	_ = tw.Flush() // stdout: nothing to do if it fails
}
