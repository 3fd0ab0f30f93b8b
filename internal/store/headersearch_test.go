package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
)

func TestHeaderSearchRowsAreWrittenAtDeliveryAndBackfilledByMigration12(t *testing.T) {
	skipOnPG(t, "replays SQLite migrations on the SQLite file; PostgreSQL starts at schema 27")
	dir := t.TempDir()
	ctx := context.Background()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "me@example.test")
	msgs := []string{
		"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.test>\r\nSubject: =?UTF-8?Q?K=C3=B6ln?= TOPIC\r\nTo: a@example.test\r\nTo: B@example.test\r\n\r\nx\r\n",
		"From: x@example.test\nSubject: bare LF\n\nx\n",
		"Subject: no blank line",
	}
	for _, m := range msgs {
		if err := s.Deliver(ctx, Delivery{Data: []byte(m), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	rows := func(s *Store) []string {
		t.Helper()
		r, err := s.rdb.QueryContext(ctx, "SELECT subject || '|' || hfrom || '|' || hto || '|' || cc || '|' || bcc FROM header_search ORDER BY body_id")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var v string
			r.Scan(&v)
			out = append(out, v)
		}
		return out
	}
	want := []string{
		"köln topic|jürgen <j@example.test>|a@example.test\nb@example.test||",
		"bare lf|x@example.test|||",
		"no blank line||||",
	}
	if got := rows(s); !slices.Equal(got, want) {
		t.Errorf("rows written at delivery:\n%q\nwant\n%q", got, want)
	}
	candidates := func(s *Store, field, value string) []uint32 {
		t.Helper()
		u, ok, err := s.HeaderCandidates(ctx, inbox.ID, field, value)
		if err != nil || !ok {
			t.Fatalf("HeaderCandidates(%s, %s): %v, %v", field, value, ok, err)
		}
		return u
	}
	if got := candidates(s, "subject", "KÖLN"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("candidates for SUBJECT KÖLN: %v", got)
	}
	if got := candidates(s, "TO", "b@"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("candidates for TO b@: %v", got)
	}
	if _, ok, _ := s.HeaderCandidates(ctx, inbox.ID, "X-Other", "x"); ok {
		t.Error("X-Other is not kept, but HeaderCandidates answered")
	}
	s.Close()

	// The same database as version 11 left it: migration 12 backfills.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(undoSchema17 + "DROP TABLE header_search; DROP TABLE change_log; DROP TABLE web_sessions; DROP TABLE spam_tokens; DROP TABLE spam_models; DROP TABLE spam_trained; DROP TABLE spam_train_queue; " +
		"ALTER TABLE import_messages DROP COLUMN box_mailbox; ALTER TABLE import_messages DROP COLUMN box_uid; PRAGMA user_version = 11"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := rows(s); !slices.Equal(got, want) {
		t.Errorf("rows after the backfill:\n%q\nwant\n%q", got, want)
	}
	// A body without a row is always a candidate.
	if err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM header_search WHERE body_id = (SELECT body_id FROM messages WHERE uid = 2)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := candidates(s, "Subject", "köln"); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("candidates with a row missing: %v", got)
	}
}
