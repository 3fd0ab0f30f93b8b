package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Box secrets (issue 23): small values every node of a box must hold the
// same, kept in the settings table (migration 1, on both engines; key,
// value as text) so that a node started on a fresh data dir takes the
// box's instead of making its own. Earlier versions kept them as files
// of one node's data dir; each is imported from its file once, the first
// time a node needs it and the store has none.
//
//   - "srs.key": the SRS secret (hex), which signs the return paths of
//     mail a Sieve redirect forwards (SRSKey). Imported from DIR/srs.key.
//   - "totp.key.check": not the TOTP sealing key, which stays a file of
//     each node by design (totp.go), but a check value of it, so a node
//     whose key is missing or different refuses to seal or open second
//     factors instead of making its own key (CheckTOTPKey).
//   - "backup.settings": the backup target, recipient and name key
//     (internal/backup: LoadSettings, Init), imported from
//     DIR/backup/settings.json; beside it "backup.status", the record of
//     the last run and verify (not a secret, but every node shows it),
//     imported from DIR/backup/status.json.
//
// A first value is written insert-if-absent (AddBoxSecret), and the value
// read back is the one used: two nodes starting at once agree on one.
// The settings table is copied by 'store copy' and goes into backups with
// the database.

// BoxSecret returns the value stored under name; ok is false when there
// is none.
func (s *Store) BoxSecret(ctx context.Context, name string) (value string, ok bool, err error) {
	err = s.rdb.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return value, err == nil, err
}

// AddBoxSecret stores value under name unless a value is there already,
// and returns the value the store holds afterwards: value, or the one
// another process wrote first.
func (s *Store) AddBoxSecret(ctx context.Context, name, value string) (string, error) {
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO NOTHING", name, value)
		return err
	})
	if err != nil {
		return "", err
	}
	stored, ok, err := s.BoxSecret(ctx, name)
	if err == nil && !ok {
		err = fmt.Errorf("box secret %s: gone right after it was written", name)
	}
	return stored, err
}

// PutBoxSecret stores value under name, replacing what was there.
func (s *Store) PutBoxSecret(ctx context.Context, name, value string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", name, value)
		return err
	})
}

// srsKeyName is the SRS secret's name in the settings table, and its
// file's name in the data dir of earlier versions.
const srsKeyName = "srs.key"

// SRSKey returns the box's SRS secret. A box without one takes that of
// DIR/srs.key when the file exists (so the SRS addresses issued before
// keep verifying; Open does this already), or a new random key; the
// file is no longer written.
func (s *Store) SRSKey(ctx context.Context) ([]byte, error) {
	v, ok, err := s.BoxSecret(ctx, srsKeyName)
	if err != nil {
		return nil, err
	}
	if !ok {
		v, _, err = s.srsKeyFile()
		if err == nil && v == "" {
			k := make([]byte, 32)
			rand.Read(k)
			v = hex.EncodeToString(k)
		}
		if err == nil {
			v, err = s.AddBoxSecret(ctx, srsKeyName, v)
		}
		if err != nil {
			return nil, fmt.Errorf("SRS key: %w", err)
		}
	}
	k, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil || len(k) < 16 {
		return nil, errors.New("the box's SRS key in the store is not a hex key of at least 16 bytes")
	}
	return k, nil
}

// importSRSKey moves DIR/srs.key into a store that has no SRS key yet
// (Open calls it: a box upgraded in place, or copied to another engine,
// keeps its key).
func (s *Store) importSRSKey(ctx context.Context) error {
	v, path, err := s.srsKeyFile()
	if err != nil || v == "" {
		return err
	}
	stored, ok, err := s.BoxSecret(ctx, srsKeyName)
	if err == nil && !ok {
		if stored, err = s.AddBoxSecret(ctx, srsKeyName, v); err == nil && stored == v {
			s.log.Info("the SRS key moved from its file into the store; the file is no longer read", "file", path)
		}
	}
	if err == nil && stored != v { // a node of an earlier version that made its own key
		s.log.Warn("this node's SRS key file is not the box's key, which every node now uses: SRS addresses this node signed before do not verify; remove the file", "file", path)
	}
	return err
}

// srsKeyFile reads DIR/srs.key, as earlier versions wrote it; "" when
// there is none.
func (s *Store) srsKeyFile() (value, path string, err error) {
	path = filepath.Join(s.dir, srsKeyName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", path, nil
	}
	if err != nil {
		return "", path, err
	}
	v := strings.ToLower(strings.TrimSpace(string(b)))
	if k, err := hex.DecodeString(v); err != nil || len(k) < 16 {
		return "", path, fmt.Errorf("%s: not a hex key of at least 16 bytes", path)
	}
	return v, path, nil
}
