package testutil

import (
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"boxmail/internal/store"
)

// PasswordCost is the bcrypt cost of the stores tests open: the lowest
// bcrypt takes, so that adding accounts and logging in stay fast.
const PasswordCost = bcrypt.MinCost

// Store opens a store in a fresh temporary directory, with the low
// password cost, and closes it when the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	return StoreAt(t, t.TempDir(), store.Options{})
}

// StoreAt opens the store in dir with opts (PasswordCost, if 0, is the
// low cost of tests) and closes it when the test ends. Tests that reopen
// a store, or need its directory or options, use it.
func StoreAt(t testing.TB, dir string, opts store.Options) *store.Store {
	t.Helper()
	if opts.PasswordCost == 0 {
		opts.PasswordCost = PasswordCost
	}
	st, err := store.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("opening the store in %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store in %s: %v", dir, err)
		}
	})
	return st
}
