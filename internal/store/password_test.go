package store

import (
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The hash a login without an account is compared with costs what real
// hashes cost: the store's PasswordCost.
func TestDummyHashHasTheCostOfRealHashes(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, bcrypt.MinCost + 1} {
		s, err := testOpen(context.Background(), t.TempDir(), Options{PasswordCost: cost})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		real, err := s.hashPassword("correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := bcrypt.Cost([]byte(real))
		dc, err := bcrypt.Cost(s.dummyHash())
		if err != nil || dc != rc || dc != cost {
			t.Errorf("PasswordCost %d: dummy hash cost %d (%v), a real hash %d", cost, dc, err, rc)
		}
	}
}

// A password cost bcrypt cannot use is refused when the store opens, and
// 0 means the production cost.
func TestPasswordCostIsChecked(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost - 1, bcrypt.MaxCost + 1} {
		if s, err := testOpen(context.Background(), t.TempDir(), Options{PasswordCost: cost}); err == nil {
			s.Close()
			t.Errorf("PasswordCost %d: opened", cost)
		}
	}
	s, err := testOpen(context.Background(), t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.pwCost != DefaultPasswordCost {
		t.Errorf("PasswordCost 0: cost %d, want %d", s.pwCost, DefaultPasswordCost)
	}
}

// Every way a login is refused, on the web (Authenticate) and on the
// mail protocols (AuthenticateDevice), costs exactly one bcrypt at
// the store's password cost: nothing is answered sooner for an account that does not
// exist, is disabled, has a broken hash or has two-step login on.
func TestEveryRefusedLoginCostsOneBcryptAtThePasswordCost(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const main = "correct horse battery"
	newAccount(t, s, "me@example.test")
	newAccount(t, s, "off@example.test")
	newAccount(t, s, "totp@example.test")
	newAccount(t, s, "broken@example.test")
	if err := s.SetAccountDisabled(ctx, "off@example.test", true); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableTOTP(ctx, "totp@example.test", NewTOTPSecret(), 0); err != nil {
		t.Fatal(err)
	}
	app, err := s.AddAppPassword(ctx, "me@example.test", "phone")
	if err != nil {
		t.Fatal(err)
	}
	// A hash bcrypt cannot read (a hand-edited row, an old import).
	if err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "UPDATE accounts SET pwhash = '' WHERE email = 'broken@example.test'")
		return err
	}); err != nil {
		t.Fatal(err)
	}

	var costs []int
	defer func(f func([]byte, []byte) error) { compareHash = f }(compareHash)
	compareHash = func(h, pw []byte) error {
		c, _ := bcrypt.Cost(h)
		costs = append(costs, c)
		return bcrypt.CompareHashAndPassword(h, pw)
	}
	type login func(ctx context.Context, email, pw string) (Account, error)
	for _, tc := range []struct {
		name, email, pw string
		device          bool // AuthenticateDevice, else Authenticate
	}{
		{"web: wrong password", "me@example.test", "wrong", false},
		{"web: no such account", "nobody@example.test", main, false},
		{"web: disabled account", "off@example.test", main, false},
		{"web: unreadable stored hash", "broken@example.test", main, false},
		{"mail: wrong password", "me@example.test", "wrong", true},
		{"mail: wrong app password", "me@example.test", "abcd-efgh-jkmn-pqrs", true},
		{"mail: no such account", "nobody@example.test", main, true},
		{"mail: no such account, app password shape", "nobody@example.test", app, true},
		{"mail: disabled account", "off@example.test", main, true},
		{"mail: two-step on, main password", "totp@example.test", main, true},
		{"mail: unreadable stored hash", "broken@example.test", main, true},
	} {
		costs = nil
		var fn login = s.Authenticate
		if tc.device {
			fn = func(ctx context.Context, email, pw string) (Account, error) {
				return s.AuthenticateDevice(ctx, email, pw, LoginRecord{})
			}
		}
		if _, err := fn(ctx, tc.email, tc.pw); err != ErrAuthFailed {
			t.Errorf("%s: err %v, want ErrAuthFailed", tc.name, err)
		}
		if len(costs) != 1 || costs[0] != s.pwCost {
			t.Errorf("%s: bcrypt comparisons at costs %v, want exactly one at %d", tc.name, costs, s.pwCost)
		}
	}
}
