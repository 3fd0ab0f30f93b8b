package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"boxmail/internal/testutil/pgtest"
)

func TestBodyTextIndexFollowsBodiesAndIsBackfilled(t *testing.T) {
	skipOnPG(t, "reads the FTS5 index and replays SQLite migration 21; PostgreSQL has the ILIKE table")
	dir := t.TempDir()
	ctx := context.Background()
	opts := testOptions
	opts.FileBodyMin = 4 << 10
	s, err := testOpen(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "text@example.test")
	msgs := []string{
		"Subject: plain\r\n\r\nThe Zebra crossing is closed.\r\n",
		"Subject: qp\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=F6ln ist sch=F6n\r\n",
		"Subject: html\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>a <b>giraffe</b> \"quoted\"</p>\r\n--b--\r\n",
		"Subject: big\r\n\r\n" + strings.Repeat("file body ", 1000) + "\r\n",
	}
	for _, m := range msgs {
		if _, _, err := s.Append(ctx, a.ID, "INBOX", []byte(m), 0, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	check := func(s *Store, value string, want []uint32, wantOK bool) {
		t.Helper()
		got, ok, err := s.BodyTextCandidates(ctx, inbox.ID, value)
		if err != nil || ok != wantOK || !slices.Equal(got, want) {
			t.Errorf("candidates for %q: %v %v %v, want %v", value, got, ok, err, want)
		}
	}
	run := func(s *Store) {
		t.Helper()
		check(s, "ZEBRA cross", []uint32{1, 4}, true) // 4: in a file, always a candidate
		check(s, "köln", []uint32{2, 4}, true)
		check(s, "giraffe", []uint32{3, 4}, true)
		check(s, "<b>", []uint32{4}, true) // tags are not text
		check(s, `"quoted"`, []uint32{3, 4}, true)
		check(s, "no such words", []uint32{4}, true)
		check(s, "ze", nil, false)
	}
	run(s)
	// Expunge removes the body and its row.
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1}, FlagsAdd, FlagDeleted, nil)
	if _, err := s.Expunge(ctx, a.ID, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM body_text WHERE body_text MATCH '\"zeb\"'").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows for zebra after expunge: %d %v", n, err)
	}
	if _, _, err := s.Append(ctx, a.ID, "INBOX", []byte(msgs[0]), 0, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The database as it was before the index: the migration backfills.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(undoSchemaAfter17 + "DROP TRIGGER bodies_text_del; DROP INDEX bodies_in_files; DROP TABLE body_text; PRAGMA user_version = 17"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = testOpen(ctx, dir, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "zebra", []uint32{4, 5}, true)
	check(s, "giraffe", []uint32{3, 4}, true)
}

func TestTrigramQuery(t *testing.T) {
	for in, want := range map[string]string{
		"ab":    "",
		"Abc":   `"abc"`,
		`a"bc`:  `"a""b" AND """bc"`,
		"aaaa":  `"aaa"`,
		"Köln":  `"köl" AND "öln"`,
		"x y z": `"x y" AND " y " AND "y z"`,
		"日本語です": `"日本語" AND "本語で" AND "語です"`,
	} {
		if got := trigramQuery(in); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

func FuzzBodyTextCandidates(f *testing.F) {
	s := openTemp(f)
	ctx := context.Background()
	a := newAccount(f, s, "fuzz@example.test")
	if _, _, err := s.Append(ctx, a.ID, "INBOX", []byte("Subject: x\r\n\r\nsome text\r\n"), 0, nil, time.Now()); err != nil {
		f.Fatal(err)
	}
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	f.Add(`"quoted" AND OR NOT * ^ ( ) :`)
	f.Add("some")
	f.Fuzz(func(t *testing.T, v string) {
		if _, _, err := s.BodyTextCandidates(ctx, inbox.ID, v); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
	})
}

// migrationSteps names the body text backfill by version: that version
// must be the one whose SQL creates the index.
func TestBodyTextBackfillFollowsItsSchema(t *testing.T) {
	for v, step := range migrationSteps {
		if fmt.Sprintf("%p", step) == fmt.Sprintf("%p", backfillBodyText) && migrations[v-1] != bodyTextSchema {
			t.Errorf("backfillBodyText runs after migration %d, which is not bodyTextSchema", v)
		}
	}
}

// deliverTexts delivers one small message per text to a new account's
// INBOX, eight at a time, and returns the INBOX.
func deliverTexts(t *testing.T, s *Store, texts []string) Mailbox {
	t.Helper()
	ctx := context.Background()
	a := newAccount(t, s, "reader@example.test")
	var wg sync.WaitGroup
	errs := make(chan error, len(texts))
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				msg := fmt.Sprintf("Subject: note %d\r\nMessage-ID: <n%d@example.test>\r\n\r\n%s\r\n", i, i, texts[i])
				if err := s.Deliver(ctx, Delivery{Data: []byte(msg), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range texts {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mb, err := s.MailboxByName(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// searchTexts are n bodies of everyday words, those whose index is in
// with also saying "zanzibar".
func searchTexts(n int, with map[int]bool) []string {
	words := strings.Fields("the school trip leaves at eight bring a packed lunch and warm clothes parents may join " +
		"the choir practice moves to thursday football training is cancelled because of the rain library books are due")
	texts := make([]string, n)
	for i := range texts {
		var b strings.Builder
		for j := range 150 { // ~1.5 KB: kept in the row, not TOASTed

			b.WriteString(words[(i*7+j*13)%len(words)])
			fmt.Fprintf(&b, " %d ", (i*31+j)%997)
		}
		if with[i] {
			b.WriteString("the ferry to Zanzibar is booked")
		}
		texts[i] = b.String()
	}
	return texts
}

// On PostgreSQL, SEARCH BODY's candidates come through the trigram index
// of migration 32: over 2,000 bodies, once vacuumed, EXPLAIN shows the
// index in the plan, and the three bodies that say the word are the
// candidates.
func TestBodySearchOnPostgreSQLUsesTheTrigramIndex(t *testing.T) {
	s := openShared(t, BodyStoreDB)
	ctx := context.Background()
	with := map[int]bool{17: true, 1000: true, 1999: true}
	mb := deliverTexts(t, s, searchTexts(2000, with))
	// What autovacuum does in time: the statistics, and the GIN index's
	// pending list (fastupdate keeps deliveries cheap) merged in.
	if _, err := s.bdb.ExecContext(ctx, "VACUUM ANALYZE body_text, bodies, messages"); err != nil {
		t.Fatal(err)
	}
	rows, err := s.rdb.QueryContext(ctx, "EXPLAIN "+pgBodyTextCandidates, mb.ID, likePattern("zanzibar"))
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, l)
	}
	rows.Close()
	if !strings.Contains(strings.Join(plan, "\n"), pgTextIndex) {
		t.Errorf("the search does not use %s:\n%s", pgTextIndex, strings.Join(plan, "\n"))
	}
	uids, ok, err := s.BodyTextCandidates(ctx, mb.ID, "ZANZIBAR")
	if err != nil || !ok || len(uids) != 3 {
		t.Errorf("candidates for ZANZIBAR: %v %v %v, want the 3 bodies that say it", uids, ok, err)
	}
}

// Without pg_trgm (here: a role that may not create extensions in its
// database) migration 32 still succeeds, Open warns once, and body
// search works, without the index.
func TestBodySearchOnPostgreSQLWorksWithoutPgTrgm(t *testing.T) {
	if !pgtest.Enabled() {
		t.Skip("PostgreSQL only (BOXMAIL_TEST_PG=1)")
	}
	ctx := context.Background()
	admin, err := pgtest.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	role := "weak_" + strings.TrimPrefix(u.Path, "/")
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE ROLE " + role + " LOGIN", "GRANT ALL ON SCHEMA public TO " + role} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u.User = url.User(role)
	var logs bytes.Buffer
	opts := testOptions
	opts.URL = u.String()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Open(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatalf("opening as a role that may not create pg_trgm: %v", err)
	}
	defer s.Close()
	var ext int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").Scan(&ext); err != nil || ext != 0 {
		t.Fatalf("pg_trgm is there (%d, %v): the test's role could create it", ext, err)
	}
	if n := strings.Count(logs.String(), "no trigram index"); n != 1 {
		t.Errorf("%d warnings about the missing index, want 1:\n%s", n, logs.String())
	}
	with := map[int]bool{3: true, 40: true}
	mb := deliverTexts(t, s, searchTexts(50, with))
	uids, ok, err := s.BodyTextCandidates(ctx, mb.ID, "zanzibar")
	if err != nil || !ok || len(uids) != 2 {
		t.Errorf("candidates for zanzibar without the index: %v %v %v, want 2", uids, ok, err)
	}
}
