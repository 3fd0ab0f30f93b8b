package main

// 'boxmail export': an account's mail written out as a Maildir++ tree
// or a directory of mbox files (migrate owns the formats), beside a
// running server; 'boxmail migrate export': the same mail appended to
// another IMAP server, the import in reverse.

import (
	"boxmail/internal/progress"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
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
		usage, err := st.AccountUsage(ctx, acc.ID)
		if err != nil {
			return err
		}
		bar := progress.New(e.stderr, "export", "MiB") // nil off a terminal
		opts := migrate.ExportOptions{Store: st, AccountID: acc.ID, Progress: func(done int64) {
			bar.Set(done>>20, max(usage.Used, done)>>20)
		}}
		var rep *migrate.ExportReport
		target := maildir
		if mbox != "" {
			target = mbox
			rep, err = migrate.ExportMbox(ctx, opts, mbox)
		} else {
			rep, err = migrate.ExportMaildir(ctx, opts, maildir)
		}
		bar.Finish()
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

// migrateExport is 'boxmail migrate export': the import in reverse, the
// account's mail appended to another IMAP server (migrate.ExportIMAP).
func migrateExport(e *env, args []string) error {
	var to, user, pwFile string
	var insecure, asJSON bool
	dir, pos, err := parseWith(e, "migrate export", args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the IMAP server to copy to: imaps://host[:993] or imap://host[:143] (STARTTLS)")
		fs.StringVar(&user, "user", "", "login at that server (default: EMAIL)")
		fs.StringVar(&pwFile, "password-file", "", "file whose first line is the password there (default: read from the terminal or stdin)")
		fs.BoolVar(&insecure, "insecure", false, "allow plaintext IMAP and unverified certificates")
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 || to == "" {
		return usagef("usage: migrate export EMAIL --to imaps://HOST --user LOGIN [--password-file F]")
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
		if user == "" {
			user = acc.Email
		}
		pw, err := readOldPassword(e, pwFile, user)
		if err != nil {
			return err
		}
		rep, err := migrate.ExportIMAP(ctx, migrate.IMAPExportOptions{
			ExportOptions: migrate.ExportOptions{Store: st, AccountID: acc.ID},
			IMAP:          migrate.IMAPOptions{URL: to, User: user, Password: pw, Insecure: insecure},
			Logger:        slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if rep != nil {
			if perr := printPush(e, rep, asJSON); perr != nil {
				return errors.Join(err, perr)
			}
		}
		if err != nil {
			return fmt.Errorf("copy of %s stopped; run the same command again to go on: %w", acc.Email, err)
		}
		if !rep.Done() {
			return fmt.Errorf("%d message(s) or folder(s) of %s were not copied; run the same command again to retry them", rep.Totals().Failed, acc.Email)
		}
		return nil
	})
}

// printPush prints the report of a migrate export.
func printPush(e *env, rep *migrate.PushReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*migrate.PushReport
			Totals migrate.PushedFolder `json:"totals"`
			Done   bool                 `json:"done"`
		}{rep, rep.Totals(), rep.Done()})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FOLDER\tTHERE\tIN THE BOX\tCOPIED\tALREADY THERE\tSKIPPED\tFAILED")
	for _, f := range rep.Folders {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\n", f.Name, f.Remote, f.OnBox, f.Appended, f.Present, f.Skipped, f.Failed)
		if f.Error != "" {
			fmt.Fprintf(tw, "\t%s\n", oneLine(f.Error))
		}
	}
	t := rep.Totals()
	fmt.Fprintf(tw, "total\t%s\t%d\t%d\t%d\t%d\t%d\n", rep.Target, t.OnBox, t.Appended, t.Present, t.Skipped, t.Failed)
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Done() {
		fmt.Fprintln(e.stdout, "done: every message of the box is on the other server (skipped: marked deleted)")
	}
	return nil
}
