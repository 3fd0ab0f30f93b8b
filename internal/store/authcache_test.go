package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const cachedPw = "correct horse battery" // newAccount's password

// countBcrypt counts bcrypt comparisons until the test ends.
func countBcrypt(t testing.TB) *int {
	n := new(int)
	f := compareHash
	t.Cleanup(func() { compareHash = f })
	compareHash = func(h, pw []byte) error {
		*n++
		return bcrypt.CompareHashAndPassword(h, pw)
	}
	return n
}

func device(s *Store, email, pw string) error {
	_, err := s.AuthenticateDevice(context.Background(), email, pw, LoginRecord{Protocol: "imap", Addr: "192.0.2.1"})
	return err
}

// A secret verified once logs in again without a bcrypt; a wrong password
// always costs one and is never remembered, for a cached account too.
func TestTheLoginCacheSparesBcryptOnlyForAVerifiedSecret(t *testing.T) {
	s := openTemp(t)
	newAccount(t, s, "me@example.test")
	n := countBcrypt(t)
	for i, want := range []int{1, 1, 1} {
		if err := device(s, "me@example.test", cachedPw); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if *n != want {
			t.Errorf("after login %d: %d bcrypt comparisons, want %d", i, *n, want)
		}
	}
	for i := range 3 {
		before := *n
		if err := device(s, "me@example.test", "correct horse battery!"); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("wrong password %d: %v", i, err)
		}
		if *n != before+1 {
			t.Errorf("wrong password %d: %d bcrypt comparisons, want 1", i, *n-before)
		}
	}
	// The web login shares the cache (it checks TOTP after).
	before := *n
	if _, err := s.Authenticate(context.Background(), "ME@example.test", cachedPw); err != nil || *n != before {
		t.Errorf("web login of a cached secret: %v, %d bcrypt comparisons", err, *n-before)
	}
	if _, err := s.Authenticate(context.Background(), "me@example.test", "nope"); !errors.Is(err, ErrAuthFailed) || *n != before+1 {
		t.Errorf("web login, wrong password: %v, %d bcrypt comparisons", err, *n-before)
	}
	if got := s.auth.len(); got != 1 {
		t.Errorf("%d cache entries, want 1", got)
	}
}

// Every change to what a login depends on refuses a cached secret at
// once, and the guard's view is unchanged: the refusal is ErrAuthFailed.
func TestTheLoginCacheNeverLetsAChangedSecretIn(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, s *Store, app string)
		pw     func(app string) string // the secret that must now fail
	}{
		{"password changed", func(t *testing.T, s *Store, _ string) {
			if err := s.SetPassword(ctx, "me@example.test", "a new password"); err != nil {
				t.Fatal(err)
			}
		}, func(string) string { return cachedPw }},
		{"password changed, cache untouched (as by another process)", func(t *testing.T, s *Store, _ string) {
			h, err := s.hashPassword("a new password")
			if err != nil {
				t.Fatal(err)
			}
			setHash(t, s, h)
		}, func(string) string { return cachedPw }},
		{"app password revoked", func(t *testing.T, s *Store, _ string) {
			if err := s.RevokeAppPassword(ctx, "me@example.test", "phone"); err != nil {
				t.Fatal(err)
			}
		}, func(app string) string { return app }},
		{"all app passwords revoked", func(t *testing.T, s *Store, _ string) {
			if _, err := s.RevokeAppPasswords(ctx, "me@example.test"); err != nil {
				t.Fatal(err)
			}
		}, func(app string) string { return app }},
		{"account disabled", func(t *testing.T, s *Store, _ string) {
			if err := s.SetAccountDisabled(ctx, "me@example.test", true); err != nil {
				t.Fatal(err)
			}
		}, func(string) string { return cachedPw }},
		{"two-step login turned on", func(t *testing.T, s *Store, _ string) {
			if err := s.EnableTOTP(ctx, "me@example.test", NewTOTPSecret(), 0); err != nil {
				t.Fatal(err)
			}
		}, func(string) string { return cachedPw }},
		{"account removed", func(t *testing.T, s *Store, _ string) {
			if err := s.RemoveAccount(ctx, "me@example.test"); err != nil {
				t.Fatal(err)
			}
		}, func(string) string { return cachedPw }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			newAccount(t, s, "me@example.test")
			app, err := s.AddAppPassword(ctx, "me@example.test", "phone")
			if err != nil {
				t.Fatal(err)
			}
			pw := tc.pw(app)
			for range 2 { // the second one comes from the cache (main password)
				if err := device(s, "me@example.test", pw); err != nil {
					t.Fatalf("before the change: %v", err)
				}
			}
			tc.change(t, s, app)
			n := countBcrypt(t)
			if err := device(s, "me@example.test", pw); !errors.Is(err, ErrAuthFailed) {
				t.Errorf("after the change: %v, want ErrAuthFailed", err)
			}
			if *n != 1 {
				t.Errorf("after the change: %d bcrypt comparisons, want 1 (as any refusal)", *n)
			}
		})
	}
}

func setHash(t *testing.T, s *Store, h string) {
	t.Helper()
	if err := s.write(context.Background(), func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "UPDATE accounts SET pwhash = ? WHERE email = 'me@example.test'", h)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// `boxmail user passwd` beside `boxmail serve`: a second Store on the same
// database changes the password; the first one's cache, warm with the old
// password, refuses it at once (well within a second) and takes the new.
func TestAPasswordChangedByAnotherProcessStopsTheCachedOneAtOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Store {
		s, err := testOpen(ctx, dir, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	srv, cli := open(), open()
	newAccount(t, cli, "me@example.test")
	for range 2 {
		if err := device(srv, "me@example.test", cachedPw); err != nil {
			t.Fatal(err)
		}
	}
	if srv.auth.len() != 1 {
		t.Fatalf("server cache: %d entries, want 1", srv.auth.len())
	}
	if err := cli.SetPassword(ctx, "me@example.test", "a new password"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		err := device(srv, "me@example.test", cachedPw)
		if errors.Is(err, ErrAuthFailed) {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("the old password still logs in %v after the change: %v", time.Since(start), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("the old password was refused only after %v", d)
	}
	if err := device(srv, "me@example.test", "a new password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

// The cache holds at most max entries, the least recently used going
// first, and none past its TTL; it never holds the password.
func TestTheLoginCacheIsBoundedInSizeAndTime(t *testing.T) {
	clock := time.Unix(1e9, 0)
	c := &authCache{now: func() time.Time { return clock }, ttl: time.Minute, max: 3}
	for i := range int64(4) {
		c.add(i, "$2a$hash", "pw")
	}
	if c.len() != 3 || c.hit(0, "$2a$hash", "pw") {
		t.Errorf("4 added with room for 3: %d entries, the oldest hit %v", c.len(), c.hit(0, "$2a$hash", "pw"))
	}
	c.hit(1, "$2a$hash", "pw") // 1 is now the most recent
	c.add(9, "$2a$hash", "pw")
	if !c.hit(1, "$2a$hash", "pw") || c.hit(2, "$2a$hash", "pw") {
		t.Error("the least recently used entry was not the one dropped")
	}
	if c.hit(1, "$2a$other", "pw") || c.hit(1, "$2a$hash", "pW") {
		t.Error("a hit for another stored hash or another password")
	}
	clock = clock.Add(time.Minute)
	if c.hit(1, "$2a$hash", "pw") {
		t.Error("a hit at the TTL")
	}
	for el := c.lru.Front(); el != nil; el = el.Next() {
		if k := el.Value.(*authEntry).key; strings.Contains(string(k[:]), "pw") {
			t.Error("an entry holds the password")
		}
	}
	c.forget()
	if c.len() != 0 {
		t.Errorf("after forget: %d entries", c.len())
	}
}

// A stored hash costlier than the store's PasswordCost (an earlier cost,
// an import) makes the dummy hash as costly, so an unknown account is not
// refused sooner than that account.
func TestTheDummyHashFollowsACostlierStoredHash(t *testing.T) {
	s := openTemp(t)
	newAccount(t, s, "me@example.test")
	h, err := bcrypt.GenerateFromPassword([]byte("x"), s.pwCost+2)
	if err != nil {
		t.Fatal(err)
	}
	setHash(t, s, string(h))
	if c, err := bcrypt.Cost(s.dummyHash()); err != nil || c != s.pwCost+2 {
		t.Errorf("dummy hash cost %d (%v), want %d", c, err, s.pwCost+2)
	}
}

// go test -run '^$' -bench Authenticate ./internal/store/
//
// A device login at the production bcrypt cost, with the secret verified
// a moment ago (cached) and with an empty cache (uncached: what every
// login cost before the cache, and what a wrong password costs).
func BenchmarkAuthenticateCached(b *testing.B)   { benchAuthenticate(b, true) }
func BenchmarkAuthenticateUncached(b *testing.B) { benchAuthenticate(b, false) }

func benchAuthenticate(b *testing.B, cached bool) {
	s, err := testOpen(context.Background(), b.TempDir(), Options{PasswordCost: DefaultPasswordCost})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	newAccount(b, s, "me@example.test")
	if err := device(s, "me@example.test", cachedPw); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if !cached {
			s.auth.forget()
		}
		if err := device(s, "me@example.test", cachedPw); err != nil {
			b.Fatal(err)
		}
	}
}
