package main

// 'boxmail migrate import EMAIL --vcf FILE --ics FILE': contacts and
// calendars into the account's default address book and calendar
// (internal/dav), one object per UID, so running it again changes
// nothing that did not change.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"boxmail/internal/dav"
	"boxmail/internal/store"
)

// contactsReport is what one file's import did.
type contactsReport struct {
	File string `json:"file"`
	Kind string `json:"kind"` // "contacts" or "calendar"
	dav.ImportResult
}

func importContacts(e *env, st *store.Store, j importJob, asJSON bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := st.AccountByEmail(ctx, j.email)
	if err != nil {
		return fmt.Errorf("account %s: %w", j.email, err)
	}
	var reports []contactsReport
	for _, f := range []struct {
		path, what string
		kind       store.DAVKind
	}{{j.vcf, "contacts", store.DAVCards}, {j.ics, "calendar", store.DAVCalendars}} {
		if f.path == "" {
			continue
		}
		r, err := os.Open(f.path)
		if err != nil {
			return err
		}
		if fi, err := r.Stat(); err != nil || !fi.Mode().IsRegular() {
			_ = r.Close() // only read from
			return fmt.Errorf("%s: not a regular file", f.path)
		}
		res, err := dav.ImportFile(ctx, st, a.ID, f.kind, r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w (%d stored before)", f.path, err, res.Created+res.Changed)
		}
		reports = append(reports, contactsReport{File: f.path, Kind: f.what, ImportResult: res})
		if !asJSON {
			fmt.Fprintf(e.stdout, "%s: %s: %d read, %d new, %d changed, %d unchanged\n", f.path, f.what, res.Read, res.Created, res.Changed, res.Unchanged)
		}
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(reports)
	}
	return nil
}
