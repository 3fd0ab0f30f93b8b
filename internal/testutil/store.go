package testutil

import (
	"context"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"boxmail/internal/store"
	"boxmail/internal/testutil/pgtest"
)

var (
	pgMu  sync.Mutex
	pgDBs = map[string]string{} // data dir → database URL
)

// pgDatabase is the PostgreSQL database of the data dir dir, made on
// first use: with BOXMAIL_TEST_PG=1 every store a test opens through
// StoreAt is on PostgreSQL, and reopening dir reopens its database. The
// cluster goes when the test binary ends (pgtest's watcher).
func pgDatabase(t testing.TB, dir string) string {
	t.Helper()
	pgMu.Lock()
	defer pgMu.Unlock()
	if u, ok := pgDBs[dir]; ok {
		return u
	}
	u, err := pgtest.NewDatabase()
	if err != nil {
		t.Fatalf("a PostgreSQL database for the store in %s: %v", dir, err)
	}
	pgDBs[dir] = u
	return u
}

// PasswordCost is the bcrypt cost of the stores tests open: the lowest
// bcrypt takes, so that adding accounts and logging in stay fast.
const PasswordCost = bcrypt.MinCost

// Store opens a store in a fresh temporary directory, with the low
// password cost, and closes it when the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	return StoreAt(t, t.TempDir(), store.Options{})
}

// SQLiteOnly skips a test that looks at the SQLite file itself when the
// run's stores are on PostgreSQL (BOXMAIL_TEST_PG=1), saying why.
func SQLiteOnly(t testing.TB, why string) {
	t.Helper()
	if pgtest.Enabled() {
		t.Skip("SQLite only: " + why)
	}
}

// StoreAt opens the store in dir with opts (PasswordCost, if 0, is the
// low cost of tests) and closes it when the test ends. Tests that reopen
// a store, or need its directory or options, use it.
func StoreAt(t testing.TB, dir string, opts store.Options) *store.Store {
	t.Helper()
	if opts.PasswordCost == 0 {
		opts.PasswordCost = PasswordCost
	}
	if opts.URL == "" && pgtest.Enabled() {
		opts.URL = pgDatabase(t, dir)
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
