package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"boxmail/internal/testutil/pgtest"
)

// The store's tests run on SQLite, and on PostgreSQL when BOXMAIL_TEST_PG=1
// (make test-pg): testOpen gives each data directory a database of its
// own in a private cluster (pgtest), so a test that reopens its directory
// reopens its database.

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pgtest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test PostgreSQL:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

var (
	pgDBsMu sync.Mutex
	pgDBs   = map[string]string{} // data dir → database URL
)

// testOpen is Open for tests: on PostgreSQL runs, with the database of dir.
func testOpen(ctx context.Context, dir string, opts Options) (*Store, error) {
	if !pgtest.Enabled() {
		return Open(ctx, dir, opts)
	}
	pgDBsMu.Lock()
	url, ok := pgDBs[dir]
	if !ok {
		var err error
		if url, err = pgtest.NewDatabase(); err != nil {
			pgDBsMu.Unlock()
			return nil, err
		}
		pgDBs[dir] = url
	}
	pgDBsMu.Unlock()
	opts.URL = url
	return Open(ctx, dir, opts)
}

// skipOnPG skips a test on PostgreSQL runs only, saying what is missing
// there for it.
func skipOnPG(t testing.TB, why string) {
	t.Helper()
	if pgtest.Enabled() {
		t.Skip("PostgreSQL: " + why)
	}
}

func TestPGRewrite(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"VALUES(?1, max(?2, 0), ?2)", "VALUES($1, max($2, 0), $2)"},
		{"SELECT '?', \"?\" FROM t WHERE x = ? -- what?\n AND y = ?", "SELECT '?', \"?\" FROM t WHERE x = $1 -- what?\n AND y = $2"},
		{"SELECT 'it''s ?' WHERE a = ?", "SELECT 'it''s ?' WHERE a = $1"},
		{"SELECT group_concat(uid, ','), count(*) FROM m", "SELECT string_agg((uid)::text, ','), count(*) FROM m"},
		{"SELECT group_concat(m.uid, ',') FILTER (WHERE h.x IS NULL)", "SELECT string_agg((m.uid)::text, ',') FILTER (WHERE h.x IS NULL)"},
		{"SELECT group_concat(coalesce(a, b))", "SELECT string_agg((coalesce(a, b))::text, ',')"},
		{"SELECT json_group_array(DISTINCT k) FILTER (WHERE k IS NOT NULL)", "SELECT json_agg(DISTINCT k) FILTER (WHERE k IS NOT NULL)"},
		{"SELECT a FROM m INDEXED BY messages_modseq WHERE b = ?", "SELECT a FROM m WHERE b = $1"},
		{"SELECT my_group_concat(a, ',')", "SELECT my_group_concat(a, ',')"},
		{"INSERT INTO t(a) VALUES(?) ON CONFLICT (a) DO UPDATE SET a = excluded.a", "INSERT INTO t(a) VALUES($1) ON CONFLICT (a) DO UPDATE SET a = excluded.a"},
	} {
		if got := pgRewrite(c.in); got != c.want {
			t.Errorf("pgRewrite(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestEveryMigrationHasAPostgreSQLForm(t *testing.T) {
	if got := pgBaseVersion + len(pgMigrations); got != SchemaVersion() {
		t.Errorf("PostgreSQL knows schema %d, SQLite %d: append the PostgreSQL form of each new migration to pgMigrations (pgschema.go)", got, SchemaVersion())
	}
}

func TestStoreURLChecks(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"", true},
		{"postgres://u:p@127.0.0.1:5432/box", true},
		{"postgresql://u@db.example/box?sslmode=require", true},
		{"mysql://u:p@h/db", false},
		{"postgres://u:p@h:5432/", false},
		{"postgres:///db", false},
	} {
		if err := CheckURL(c.url); (err == nil) != c.ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
	}
	if r := RedactURL("postgres://u:s3cret@h/db"); r != "postgres://u:xxxxx@h/db" {
		t.Errorf("RedactURL = %q", r)
	}
	if err := CheckURL("mysql://u:s3cret@h/db"); err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestPGRefusesANewerSchema(t *testing.T) {
	if !pgtest.Enabled() {
		t.Skip("PostgreSQL only (BOXMAIL_TEST_PG=1)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(ctx, "UPDATE schema_version SET version = ?", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var newer *NewerSchemaError
	if _, err := testOpen(ctx, dir, testOptions); !errors.As(err, &newer) {
		t.Fatalf("open of a newer schema: %v, want a NewerSchemaError", err)
	}
}

// Two stores on one database, as two nodes: concurrent deliveries into
// one mailbox take distinct, gapless UIDs and distinct MODSEQs from the
// mailbox's counter row (on SQLite: two processes on one file).
func TestTwoStoresDeliveringToOneMailboxTakeDistinctUIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	acc := newAccount(t, a, "me@example.test")
	const each = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, s := range []*Store{a, b} {
		for i := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.Deliver(ctx, Delivery{Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nhello\r\n", i), Local: []LocalTarget{{AccountID: acc.ID}}})
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mb, err := b.MailboxByName(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := a.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2*each {
		t.Fatalf("%d messages, want %d", len(msgs), 2*each)
	}
	modseqs := map[int64]bool{}
	for i, m := range msgs {
		if m.UID != uint32(i+1) {
			t.Fatalf("message %d has UID %d: UIDs not 1..%d", i, m.UID, 2*each)
		}
		if modseqs[m.ModSeq] {
			t.Fatalf("MODSEQ %d given twice", m.ModSeq)
		}
		modseqs[m.ModSeq] = true
	}
	if mb.UIDNext != uint32(2*each+1) {
		t.Errorf("UIDNEXT %d, want %d", mb.UIDNext, 2*each+1)
	}
}

// A write that meets a deadlock or a serialization failure on PostgreSQL
// is run again; any other error, or the same on SQLite, is not.
func TestAWriteIsRetriedAfterASerializationFailure(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	for _, code := range []string{"40P01", "40001", "23505"} {
		tries := 0
		err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
			tries++
			if tries < 3 {
				return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})
			}
			return nil
		})
		retried := s.pg && code != "23505"
		if retried && (err != nil || tries != 3) {
			t.Errorf("SQLSTATE %s: %d tries, %v; want 3 tries and success", code, tries, err)
		}
		if !retried && (err == nil || tries != 1) {
			t.Errorf("SQLSTATE %s (pg=%v): %d tries, %v; want 1 try and the error", code, s.pg, tries, err)
		}
	}
}
