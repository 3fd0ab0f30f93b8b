package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
