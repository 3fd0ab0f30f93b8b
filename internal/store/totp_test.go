package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// storedSecret reads an account's totp_secret column as it is on disk.
func storedSecret(t *testing.T, s *Store, email string) string {
	t.Helper()
	var v string
	if err := s.rdb.QueryRow("SELECT totp_secret FROM accounts WHERE email = ?", email).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTOTPSecretsAreSealedAtRest(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	newAccount(t, s, "me@example.test")
	if _, err := os.Stat(s.totpKeyPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file before any TOTP: %v", err)
	}
	sec := NewTOTPSecret()
	if err := s.EnableTOTP(ctx, "me@example.test", sec, 0); err != nil {
		t.Fatal(err)
	}
	v := storedSecret(t, s, "me@example.test")
	if !strings.HasPrefix(v, sealedPrefix) || strings.Contains(v, sec) {
		t.Fatalf("stored secret %q", v)
	}
	fi, err := os.Stat(s.totpKeyPath())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if di, _ := os.Stat(filepath.Dir(s.totpKeyPath())); di.Mode().Perm() != 0o700 {
		t.Errorf("keys dir mode %v", di.Mode().Perm())
	}
	db, _ := os.ReadFile(s.path)
	wal, _ := os.ReadFile(s.path + "-wal")
	if bytes.Contains(db, []byte(sec)) || bytes.Contains(wal, []byte(sec)) {
		t.Error("the secret is in clear in the database files")
	}
	now := time.Now()
	code, _ := TOTPCode(sec, now)
	if err := s.CheckTOTP(ctx, "me@example.test", code, now); err != nil {
		t.Fatalf("code of the sealed secret: %v", err)
	}
	if on, err := s.TOTPEnabled(ctx, "me@example.test"); !on || err != nil {
		t.Errorf("TOTPEnabled %v %v", on, err)
	}

	// A sealed secret moved to another account does not open there.
	newAccount(t, s, "kid@example.test")
	if err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "UPDATE accounts SET totp_secret = ? WHERE email = 'kid@example.test'", v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTOTP(ctx, "kid@example.test", code, now); err == nil || errors.Is(err, ErrAuthFailed) {
		t.Errorf("a secret copied to another account: %v, want an internal error", err)
	}
}

func TestClearTOTPSecretsOfOlderVersionsKeepWorkingAndGetSealed(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	newAccount(t, s, "me@example.test")
	newAccount(t, s, "kid@example.test")
	a, b := NewTOTPSecret(), NewTOTPSecret()
	if err := s.write(ctx, func(ctx context.Context, tx *Tx) error { // as an older version wrote them
		if _, err := tx.exec(ctx, "UPDATE accounts SET totp_secret = ? WHERE email = 'me@example.test'", a); err != nil {
			return err
		}
		_, err := tx.exec(ctx, "UPDATE accounts SET totp_secret = ? WHERE email = 'kid@example.test'", b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// On its next use a clear secret works and is sealed.
	now := time.Now()
	code, _ := TOTPCode(a, now)
	if err := s.CheckTOTP(ctx, "me@example.test", code, now); err != nil {
		t.Fatalf("clear secret: %v", err)
	}
	if v := storedSecret(t, s, "me@example.test"); !strings.HasPrefix(v, sealedPrefix) {
		t.Errorf("not sealed on use: %q", v)
	}
	if v := storedSecret(t, s, "kid@example.test"); v != b {
		t.Fatalf("kid's: %q", v)
	}
	s.Close()
	// At the next Open the rest is sealed.
	s, err = testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := storedSecret(t, s, "kid@example.test"); !strings.HasPrefix(v, sealedPrefix) {
		t.Errorf("not sealed at Open: %q", v)
	}
	code, _ = TOTPCode(b, now)
	if err := s.CheckTOTP(ctx, "kid@example.test", code, now); err != nil {
		t.Errorf("kid's sealed secret: %v", err)
	}
	if n, err := s.EncryptTOTPSecrets(ctx); n != 0 || err != nil {
		t.Errorf("second sealing: %d %v", n, err)
	}
}

func TestASessionStampChangesWithEveryPasswordSet(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	st1, off, err := s.SessionStamp(ctx, a.ID)
	if err != nil || off || st1 == "" {
		t.Fatal(st1, off, err)
	}
	if st, _, _ := s.SessionStamp(ctx, a.ID); st != st1 {
		t.Error("the stamp changed by itself")
	}
	if err := s.SetPassword(ctx, "me@example.test", "correct horse battery"); err != nil { // the same password
		t.Fatal(err)
	}
	if st, _, _ := s.SessionStamp(ctx, a.ID); st == st1 {
		t.Error("setting the password kept the stamp")
	}
	if _, _, err := s.SessionStamp(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}

func TestRevokeAppPasswordsRemovesThemAll(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	newAccount(t, s, "me@example.test")
	newAccount(t, s, "kid@example.test")
	p1, _ := s.AddAppPassword(ctx, "me@example.test", "phone")
	s.AddAppPassword(ctx, "me@example.test", "laptop")
	kid, _ := s.AddAppPassword(ctx, "kid@example.test", "tablet")
	if n, err := s.RevokeAppPasswords(ctx, "ME@example.test"); n != 2 || err != nil {
		t.Fatalf("revoked %d, %v", n, err)
	}
	if _, err := s.AuthenticateDevice(ctx, "me@example.test", p1, LoginRecord{}); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("a revoked app password: %v", err)
	}
	if _, err := s.AuthenticateDevice(ctx, "kid@example.test", kid, LoginRecord{}); err != nil {
		t.Errorf("another account's app password: %v", err)
	}
	if _, err := s.RevokeAppPasswords(ctx, "ghost@example.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}
