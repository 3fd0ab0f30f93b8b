package main

// 'boxmail migrate import EMAIL --vcf FILE --ics FILE': contacts and
// calendars into the account's default address book and calendar
// (internal/dav), one object per UID, so running it again changes
// nothing that did not change. '--carddav URL --caldav URL' copies them
// from a live old server instead, one box collection per remote one
// (dav.ImportRemote). Each import is recorded as an import run (source
// "contacts:..." or "calendar:..."), which 'migrate status' shows.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"boxmail/internal/dav"
	"boxmail/internal/store"
)

// contactsReport is what one file's or server's import did.
type contactsReport struct {
	File   string `json:"file,omitempty"`
	URL    string `json:"url,omitempty"`
	Kind   string `json:"kind"` // "contacts" or "calendar"
	Error  string `json:"error,omitempty"`
	Failed int    `json:"failed,omitempty"`
	dav.ImportResult
	Collections []dav.RemoteCollection `json:"collections,omitempty"`
}

// davSource is one file or server of a contacts import.
type davSource struct {
	file, url string
	what      string // "contacts" or "calendar"
	kind      store.DAVKind
}

func (s davSource) name() string { return s.file + s.url }

func importContacts(e *env, st *store.Store, j importJob, insecure, asJSON bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := st.AccountByEmail(ctx, strings.ToLower(j.email))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no account %s on the box: create it first with 'boxmail user add %s'", j.email, j.email)
	} else if err != nil {
		return fmt.Errorf("account %s: %w", j.email, err)
	}
	password := ""
	if j.carddav+j.caldav != "" {
		if j.user == "" {
			j.user = a.Email
		}
		if password, err = readOldPassword(e, j.passwordFile, j.user); err != nil {
			return err
		}
	}
	var reports []contactsReport
	var failed []string
	for _, src := range []davSource{
		{file: j.vcf, what: "contacts", kind: store.DAVCards}, {file: j.ics, what: "calendar", kind: store.DAVCalendars},
		{url: j.carddav, what: "contacts", kind: store.DAVCards}, {url: j.caldav, what: "calendar", kind: store.DAVCalendars},
	} {
		if src.name() == "" {
			continue
		}
		var rep contactsReport
		if src.file != "" {
			rep, err = importContactsFile(ctx, st, a.ID, src)
		} else {
			rep, err = importContactsRemote(ctx, st, a.ID, src, dav.RemoteOptions{User: j.user, Password: password,
				Insecure: insecure, Timeout: j.davTimeout, MaxObjects: j.davMaxObjects})
		}
		if err != nil {
			rep.Error = err.Error()
			failed = append(failed, fmt.Sprintf("%s: %s", src.name(), err))
		}
		reports = append(reports, rep)
		if !asJSON {
			printContactsReport(e.stdout, rep)
		}
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

func importContactsFile(ctx context.Context, st *store.Store, accountID int64, src davSource) (contactsReport, error) {
	rep := contactsReport{File: src.file, Kind: src.what}
	r, err := os.Open(src.file)
	if err != nil {
		return rep, err
	}
	defer func() { _ = r.Close() }() // only read from
	if fi, err := r.Stat(); err != nil || !fi.Mode().IsRegular() {
		return rep, errors.New("not a regular file")
	}
	err = dav.RecordImport(ctx, st, accountID, src.kind, src.file, func(ctx context.Context) (dav.ImportRunOutcome, error) {
		res, err := dav.ImportFile(ctx, st, accountID, src.kind, r)
		rep.ImportResult = res
		if err != nil {
			err = fmt.Errorf("%w (%d stored before)", err, res.Created+res.Changed)
		}
		return dav.ImportRunOutcome{ImportResult: res, Report: rep}, err
	})
	return rep, err
}

func importContactsRemote(ctx context.Context, st *store.Store, accountID int64, src davSource, opts dav.RemoteOptions) (contactsReport, error) {
	rep := contactsReport{URL: src.url, Kind: src.what}
	u, err := dav.CheckRemoteURL(src.url) // before it is recorded: no password in it
	if err != nil {
		return rep, err
	}
	opts.URL, opts.Kind = u, src.kind
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // failures are in the report
	err = dav.RecordImport(ctx, st, accountID, src.kind, u, func(ctx context.Context) (dav.ImportRunOutcome, error) {
		res, err := dav.ImportRemote(ctx, st, accountID, opts)
		rep.URL, rep.ImportResult, rep.Collections, rep.Failed = res.Source, res.Total, res.Collections, res.Failed
		if err == nil && res.Failed > 0 {
			err = fmt.Errorf("%d objects not imported (each named above); run the same command again once fixed on the old side", res.Failed)
		}
		return dav.ImportRunOutcome{ImportResult: res.Total, Failed: res.Failed, Report: res}, err
	})
	return rep, err
}

func printContactsReport(w io.Writer, rep contactsReport) {
	for _, c := range rep.Collections {
		fmt.Fprintf(w, "%s: %s %s -> %s: %d read, %d new, %d changed, %d unchanged, %d failed\n",
			rep.URL, rep.Kind, c.Href, c.Name, c.Read, c.Created, c.Changed, c.Unchanged, len(c.Failures))
		for _, f := range c.Failures {
			fmt.Fprintf(w, "failed: %s: %s\n", f.Href, f.Reason)
		}
	}
	if rep.Error != "" && rep.Read == 0 {
		return
	}
	fmt.Fprintf(w, "%s: %s: %d read, %d new, %d changed, %d unchanged\n", rep.File+rep.URL, rep.Kind, rep.Read, rep.Created, rep.Changed, rep.Unchanged)
}
