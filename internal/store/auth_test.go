package store

import (
	"context"
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows: the key is the ASCII
// "12345678901234567890", 8 digits.
func TestTOTPMatchesRFC6238Vectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		if got := hotp(key, uint64(totpStep(time.Unix(v.unix, 0))), 8); got != v.code {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.code)
		}
	}
	// The 6-digit form an app shows is the last six digits.
	secret := base32.StdEncoding.EncodeToString(key)
	if c, err := TOTPCode(secret, time.Unix(59, 0)); err != nil || c != "287082" {
		t.Errorf("TOTPCode at 59: %q %v, want 287082", c, err)
	}
}

func TestTOTPWindowAndReplay(t *testing.T) {
	secret := NewTOTPSecret()
	now := time.Unix(1_800_000_000, 0)
	code := func(d time.Duration) string {
		c, err := TOTPCode(secret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name  string
		code  string
		after int64
		ok    bool
	}{
		{"now", code(0), 0, true},
		{"one step late", code(-30 * time.Second), 0, true},
		{"one step early", code(30 * time.Second), 0, true},
		{"two steps late", code(-60 * time.Second), 0, false},
		{"two steps early", code(60 * time.Second), 0, false},
		{"already used", code(0), totpStep(now), false},
		{"with a space", code(0)[:3] + " " + code(0)[3:], 0, true},
		{"too short", code(0)[:5], 0, false},
		{"letters", "abcdef", 0, false},
	} {
		if _, ok := MatchTOTP(secret, tc.code, now, tc.after); ok != tc.ok {
			t.Errorf("%s: %v, want %v", tc.name, ok, tc.ok)
		}
	}
	u := TOTPURI("box.example.test", "me@example.test", secret)
	if !strings.HasPrefix(u, "otpauth://totp/box.example.test:me@example.test?") || !strings.Contains(u, "secret="+secret) {
		t.Errorf("URI %s", u)
	}
}

func TestAuthenticateDeviceRules(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	newAccount(t, s, "plain@example.test")
	newAccount(t, s, "totp@example.test")
	const main = "correct horse battery"
	plainApp, err := s.AddAppPassword(ctx, "plain@example.test", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	totpApp, err := s.AddAppPassword(ctx, "totp@example.test", "Mum's iPhone")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.AddAppPassword(ctx, "totp@example.test", "tablet")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnableTOTP(ctx, "totp@example.test", NewTOTPSecret(), 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, email, pw string
		ok              bool
	}{
		{"no TOTP: main password", "plain@example.test", main, true},
		{"no TOTP: app password", "plain@example.test", plainApp, true},
		{"no TOTP: app password without dashes, upper case", "plain@example.test", strings.ToUpper(strings.ReplaceAll(plainApp, "-", "")), true},
		{"no TOTP: wrong password", "plain@example.test", "wrong", false},
		{"no TOTP: another account's app password", "plain@example.test", totpApp, false},
		{"TOTP: main password refused", "totp@example.test", main, false},
		{"TOTP: app password", "totp@example.test", totpApp, true},
		{"TOTP: second app password", "totp@example.test", other, true},
		{"TOTP: wrong password", "totp@example.test", "abcd-efgh-jkmn-pqrs", false},
		{"unknown account", "nobody@example.test", main, false},
	} {
		_, err := s.AuthenticateDevice(ctx, tc.email, tc.pw, LoginRecord{Protocol: "imap", Addr: "192.0.2.1"})
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// The web's password check is not affected by TOTP.
	if _, err := s.Authenticate(ctx, "totp@example.test", main); err != nil {
		t.Errorf("Authenticate with TOTP on: %v", err)
	}

	// Revoking one leaves the other working.
	if err := s.RevokeAppPassword(ctx, "totp@example.test", "Mum's iPhone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateDevice(ctx, "totp@example.test", totpApp, LoginRecord{}); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("revoked app password: %v", err)
	}
	if _, err := s.AuthenticateDevice(ctx, "totp@example.test", other, LoginRecord{}); err != nil {
		t.Errorf("the other app password after a revoke: %v", err)
	}
	if err := s.RevokeAppPassword(ctx, "totp@example.test", "Mum's iPhone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := s.AddAppPassword(ctx, "totp@example.test", "tablet"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := s.AddAppPassword(ctx, "totp@example.test", " "); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}

	// Turning TOTP off lets the main password in again.
	if err := s.DisableTOTP(ctx, "totp@example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateDevice(ctx, "totp@example.test", main, LoginRecord{}); err != nil {
		t.Errorf("main password after TOTP off: %v", err)
	}
}

func TestLoginsAndAppPasswordUseAreRecorded(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	if _, err := s.FirstLogin(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FirstLogin before any: %v", err)
	}
	pw, err := s.AddAppPassword(ctx, a.Email, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateDevice(ctx, a.Email, "wrong", LoginRecord{}); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := s.FirstLogin(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed login was recorded: %v", err)
	}
	if _, err := s.AuthenticateDevice(ctx, a.Email, "correct horse battery", LoginRecord{Protocol: "pop3", Addr: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateDevice(ctx, a.Email, pw, LoginRecord{Protocol: "imap", Addr: "192.0.2.8"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.LoginsOf(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if l.First.Protocol != "pop3" || l.First.Addr != "192.0.2.7" || l.Last.Protocol != "imap" || l.Last.Addr != "192.0.2.8" || l.First.At.IsZero() {
		t.Errorf("logins %+v", l)
	}
	ps, err := s.AppPasswords(ctx, a.Email)
	if err != nil || len(ps) != 1 {
		t.Fatalf("AppPasswords: %v %v", ps, err)
	}
	if ps[0].Name != "phone" || ps[0].LastUsed.At.IsZero() || ps[0].LastUsed.Protocol != "imap" {
		t.Errorf("app password %+v", ps[0])
	}
	if err := s.RecordLogin(ctx, a.ID, "web", "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	all, err := s.AllLogins(ctx)
	if err != nil || all[a.ID].Last.Protocol != "web" || all[a.ID].First.Protocol != "pop3" {
		t.Errorf("AllLogins %+v %v", all, err)
	}

	// CheckTOTP: a code works once.
	secret := NewTOTPSecret()
	if err := s.EnableTOTP(ctx, a.Email, secret, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableTOTP(ctx, a.Email, secret, 0); !errors.Is(err, ErrExists) {
		t.Errorf("enabling twice: %v", err)
	}
	now := time.Now()
	code, _ := TOTPCode(secret, now)
	if err := s.CheckTOTP(ctx, a.Email, code, now); err != nil {
		t.Errorf("CheckTOTP: %v", err)
	}
	if err := s.CheckTOTP(ctx, a.Email, code, now); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("the same code again: %v", err)
	}

	// Removing the account removes its app passwords and logins.
	if err := s.RemoveAccount(ctx, a.Email); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FirstLogin(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("logins of a removed account: %v", err)
	}
}

// A device that logs in again from the same address over the same
// protocol within a few minutes costs no write: the record stays as it
// was. Another address or protocol is recorded at once.
func TestRepeatedLoginsAreRecordedOncePerFewMinutes(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	from := LoginRecord{Protocol: "imap", Addr: "192.0.2.7"}
	if _, err := s.AuthenticateDevice(ctx, a.Email, "correct horse battery", from); err != nil {
		t.Fatal(err)
	}
	mark := func() {
		t.Helper()
		if err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
			_, err := tx.exec(ctx, "UPDATE logins SET last_at = 1 WHERE account_id = ?", a.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	last := func() int64 {
		t.Helper()
		l, err := s.LoginsOf(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return l.Last.At.Unix()
	}
	mark()
	if _, err := s.AuthenticateDevice(ctx, a.Email, "correct horse battery", from); err != nil {
		t.Fatal(err)
	}
	if got := last(); got != 1 {
		t.Errorf("the same login again was written (last_at %d)", got)
	}
	if _, err := s.AuthenticateDevice(ctx, a.Email, "correct horse battery", LoginRecord{Protocol: "imap", Addr: "192.0.2.8"}); err != nil {
		t.Fatal(err)
	}
	if got := last(); got == 1 {
		t.Error("a login from another address was not written")
	}
	// Back to the first address: it is no longer the last login, so it
	// is written, then again not.
	mark()
	if _, err := s.AuthenticateDevice(ctx, a.Email, "correct horse battery", from); err != nil {
		t.Fatal(err)
	}
	if got := last(); got == 1 {
		t.Error("a login that differs from the last one was not written")
	}
	n := loginNote{0, "pop3", "x", time.Now()}
	if s.logins.fresh(a.ID, n) {
		t.Error("a new login reads as fresh")
	}
	n.at = n.at.Add(loginNoteEvery + time.Second)
	if s.logins.fresh(a.ID, n) {
		t.Error("a note older than loginNoteEvery still counts")
	}
}
