package backup

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"boxmail/internal/safefile"
)

// Status is what the box remembers of its last backup run and its last
// verify, for 'boxmail status' and the admin panel.
type Status struct {
	LastRun      time.Time `json:"last_run,omitzero"`        // when the last run started
	LastRunError string    `json:"last_run_error,omitempty"` // "" when it stored its snapshot
	LastOK       time.Time `json:"last_ok,omitzero"`         // the last run that stored a snapshot
	LastSnapshot string    `json:"last_snapshot,omitempty"`
	LastVerify   time.Time `json:"last_verify,omitzero"`
	VerifyError  string    `json:"verify_error,omitempty"`
	LastVerified time.Time `json:"last_verified,omitzero"` // the last verify that found every snapshot whole
}

const statusFile = "status.json"

// ReadStatus returns what the box remembers of its backups (the zero
// Status when nothing ran yet).
func ReadStatus(dataDir string) (Status, error) {
	var s Status
	data, err := os.ReadFile(filepath.Join(dataDir, StateDir, statusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(data, &s)
}

// RecordVerify remembers a verify that started at start and ended with
// err (nil: every snapshot whole).
func RecordVerify(dataDir string, start time.Time, err error) error {
	return updateStatus(dataDir, func(s *Status) {
		s.LastVerify, s.VerifyError = start.UTC(), errText(err)
		if err == nil {
			s.LastVerified = start.UTC()
		}
	})
}

// recordRun remembers a run that started at start and stored snapshot
// id, or failed with err.
func recordRun(dataDir string, start time.Time, id string, err error) error {
	return updateStatus(dataDir, func(s *Status) {
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

func updateStatus(dataDir string, f func(*Status)) error {
	s, err := ReadStatus(dataDir)
	if err != nil {
		s = Status{} // a damaged record is replaced
	}
	f(&s)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dataDir, StateDir), 0o700); err != nil {
		return err
	}
	return safefile.Write(filepath.Join(dataDir, StateDir, statusFile), append(data, '\n'), 0o600)
}
