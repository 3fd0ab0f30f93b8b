package backup

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"boxmail/internal/store"
)

// Status is what the box remembers of its last backup run and its last
// verify, for 'boxmail status' and the admin panel.
type Status struct {
	LastRun      time.Time `json:"last_run,omitzero"`        // when the last run started
	LastRunError string    `json:"last_run_error,omitempty"` // "" when it stored its snapshot
	LastOK       time.Time `json:"last_ok,omitzero"`         // the last run that stored a snapshot
	LastSnapshot string    `json:"last_snapshot,omitempty"`
	LastVerify   time.Time `json:"last_verify,omitzero"`
	VerifyKind   string    `json:"verify_kind,omitempty"` // of the last verify: VerifyOptions.Kind
	VerifyError  string    `json:"verify_error,omitempty"`
	LastVerified time.Time `json:"last_verified,omitzero"` // the last verify that found every snapshot whole
	// The last deep verify ("read" or "full", the weekly one): when, which, and its error.
	LastDeepVerify  time.Time `json:"last_deep_verify,omitzero"`
	DeepVerifyKind  string    `json:"deep_verify_kind,omitempty"`
	DeepVerifyError string    `json:"deep_verify_error,omitempty"`
}

// DeepVerifyEvery is how often the scheduled backup also reads back (or,
// with the identity, decrypts) everything: weekly.
const DeepVerifyEvery = 7 * 24 * time.Hour

// DeepVerifyDue tells whether the scheduled run at now should verify
// deeply: a week (less an hour, so a nightly schedule does not slip a
// day) after the last deep verify, or never done.
func (s Status) DeepVerifyDue(now time.Time) bool {
	return now.Sub(s.LastDeepVerify) >= DeepVerifyEvery-time.Hour
}

// statusFile held Status in earlier versions (DIR/backup/status.json);
// a store without a status imports it once.
const statusFile = "status.json"

// statusName is the status's name among the store's box settings (as
// settingsName): whichever node ran or verified the last backup, every
// node's 'boxmail status' and admin panel show it.
const statusName = "backup.status"

// ReadStatus returns what the box remembers of its backups (the zero
// Status when nothing ran yet), from its store.
func ReadStatus(ctx context.Context, st *store.Store, dataDir string) (Status, error) {
	var s Status
	text, ok, err := st.BoxSecret(ctx, statusName)
	if err != nil {
		return s, err
	}
	if !ok {
		data, err := os.ReadFile(filepath.Join(dataDir, StateDir, statusFile))
		if errors.Is(err, fs.ErrNotExist) {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		if err := json.Unmarshal(data, &s); err != nil {
			return s, err
		}
		if text, err = st.AddBoxSecret(ctx, statusName, string(data)); err != nil {
			return s, err
		}
	}
	return s, json.Unmarshal([]byte(text), &s)
}

// RecordVerify remembers a verify of kind (VerifyOptions.Kind) that
// started at start and ended with err (nil: every snapshot whole).
func RecordVerify(ctx context.Context, st *store.Store, dataDir string, start time.Time, kind string, err error) error {
	return updateStatus(ctx, st, dataDir, func(s *Status) {
		s.LastVerify, s.VerifyKind, s.VerifyError = start.UTC(), kind, errText(err)
		if err == nil {
			s.LastVerified = start.UTC()
		}
		if kind == "read" || kind == "full" {
			s.LastDeepVerify, s.DeepVerifyKind, s.DeepVerifyError = start.UTC(), kind, errText(err)
		}
	})
}

// RecordRun remembers a run that started at start and stored snapshot
// id, or failed with err (Run calls it).
func RecordRun(ctx context.Context, st *store.Store, dataDir string, start time.Time, id string, err error) error {
	return updateStatus(ctx, st, dataDir, func(s *Status) {
		s.LastRun, s.LastRunError = start.UTC(), errText(err)
		if err == nil {
			s.LastOK, s.LastSnapshot = start.UTC(), id
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// updateStatus changes the stored status. Runs and verifies of one box
// do not overlap (the backup lease), so a read and a write suffice.
func updateStatus(ctx context.Context, st *store.Store, dataDir string, f func(*Status)) error {
	s, err := ReadStatus(ctx, st, dataDir)
	if err != nil {
		s = Status{} // a damaged record is replaced
	}
	f(&s)
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return st.PutBoxSecret(ctx, statusName, string(data))
}
