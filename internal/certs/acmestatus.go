package certs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// statusFileName is the key, in ACME's storage (the file in the ACME
// directory, or the store several nodes share), where the running box
// records how each name's certificate was last obtained or why its last
// attempt failed, for 'boxmail status' (another process, perhaps on
// another node).
const statusFileName = "boxmail-status.json"

// nameStatus is what the status file holds for one name.
type nameStatus struct {
	Challenge string    `json:"challenge,omitempty"` // dns-01, http-01 or tls-alpn-01
	Obtained  time.Time `json:"obtained,omitzero"`
	Error     string    `json:"error,omitempty"` // the last attempt's, empty after a success
	FailedAt  time.Time `json:"failed_at,omitzero"`
	Renewal   bool      `json:"renewal,omitempty"`  // the failed attempt was a renewal
	Notified  bool      `json:"notified,omitempty"` // the admins were told of this failure
}

// statusFile records certmagic's events for one box.
type statusFile struct {
	storage certmagic.Storage // nil: none (tests)
	log     *slog.Logger
	notify  func(name, msg string) // a renewal failed (once until the next success)

	mu      sync.Mutex        // one writer of the file
	pending map[string]string // identifier → challenge presented for it
}

// presented notes the challenge type answered for a name.
func (f *statusFile) presented(name, challenge string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[string]string{}
	}
	f.pending[strings.ToLower(name)] = challenge
}

// event is certmagic's OnEvent: it records obtained and failed
// certificates. It never stops what certmagic does.
func (f *statusFile) event(_ context.Context, event string, data map[string]any) error {
	if event != "cert_obtained" && event != "cert_failed" {
		return nil
	}
	id, _ := data["identifier"].(string)
	id = strings.ToLower(id)
	if id == "" {
		return nil
	}
	if f.storage == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, _ := readStatus(ctx, f.storage) // a missing or damaged record starts afresh
	if all == nil {
		all = map[string]nameStatus{}
	}
	s := all[id]
	now := time.Now().UTC()
	if event == "cert_obtained" {
		s = nameStatus{Challenge: f.pending[id], Obtained: now}
		if _, shared := f.storage.(*storeStorage); s.Challenge == "" && !shared {
			s.Challenge = "tls-alpn-01" // the only challenge not seen here first (on a node of several: another node may have answered)
		}
	} else {
		renewal, _ := data["renewal"].(bool)
		msg := "unknown error"
		if err, ok := data["error"].(error); ok {
			msg = err.Error()
		}
		s.Error, s.FailedAt, s.Renewal = oneLine(msg), now, renewal
		if renewal && !s.Notified && f.notify != nil {
			s.Notified = true
			go f.notify(id, s.Error) // not under f.mu: it delivers mail
		}
	}
	all[id] = s
	b, err := json.MarshalIndent(all, "", "  ")
	if err == nil {
		err = f.storage.Store(ctx, statusFileName, b)
	}
	if err != nil && f.log != nil {
		f.log.Warn("writing the ACME status file", "err", err) // advice only: the certificate itself is stored
	}
	return nil
}

// oneLine shortens an error for one line of 'boxmail status'.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// readStatus reads the status record (nil, nil: none yet).
func readStatus(ctx context.Context, storage certmagic.Storage) (map[string]nameStatus, error) {
	b, err := storage.Load(ctx, statusFileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var all map[string]nameStatus
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", statusFileName, err)
	}
	return all, nil
}
