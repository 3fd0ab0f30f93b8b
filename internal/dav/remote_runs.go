package dav

import (
	"context"
	"encoding/json"

	"boxmail/internal/store"
)

// ImportRunOutcome is what one contacts or calendar import did, for its
// import run.
type ImportRunOutcome struct {
	ImportResult
	Failed int // objects not imported
	Report any // stored as JSON
}

// RecordImport runs one contacts or calendar import (ImportFile or
// ImportRemote, in run) as an import run of the account, so 'boxmail
// migrate status' shows it beside the mail imports: its source is
// store.ImportSourceContacts or store.ImportSourceCalendar and then
// source (a file or a URL, never a password). It returns run's error,
// else the recording's.
func RecordImport(ctx context.Context, st *store.Store, accountID int64, kind store.DAVKind, source string, run func(context.Context) (ImportRunOutcome, error)) error {
	prefix := store.ImportSourceCalendar
	if kind == store.DAVCards {
		prefix = store.ImportSourceContacts
	}
	id, err := st.StartImportRun(ctx, accountID, prefix+source)
	if err != nil {
		return err
	}
	out, err := run(ctx)
	js, jerr := json.Marshal(out.Report)
	if jerr != nil {
		js = []byte("null")
	}
	failed := out.Failed
	if err != nil && failed == 0 {
		failed = 1
	}
	ferr := st.FinishImportRun(context.WithoutCancel(ctx), store.ImportRun{ID: id, Verified: err == nil,
		Copied: out.Created + out.Changed, Present: out.Unchanged, Failed: failed, Report: string(js)})
	if err != nil {
		return err
	}
	return ferr
}
