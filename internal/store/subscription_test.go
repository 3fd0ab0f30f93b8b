package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// undoSubscriptions takes back the subscriptions migration, for tests
// that replay older migrations: the column again, from the table.
const undoSubscriptions = `ALTER TABLE mailboxes ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET subscribed = EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name);
DROP TABLE subscriptions; `

func TestSubscriptionsOutliveTheirMailboxes(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	b := newAccount(t, s, "other@example.test")
	subs := func(id int64) []string {
		t.Helper()
		names, err := s.Subscriptions(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	defaults := []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}
	if got := subs(a.ID); !slices.Equal(got, defaults) {
		t.Fatalf("a new account's subscriptions: %q, want %q", got, defaults)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// New mailboxes (and parents made for them) are subscribed.
	must(s.CreateMailbox(ctx, a.ID, "Family/Photos", ""))
	must(s.SetSubscribed(ctx, a.ID, "Family", false))
	if mb, err := s.MailboxByName(ctx, a.ID, "Family/Photos"); err != nil || !mb.Subscribed {
		t.Errorf("Family/Photos: %+v, %v; want subscribed", mb, err)
	}
	if mb, err := s.MailboxByName(ctx, a.ID, "Family"); err != nil || mb.Subscribed {
		t.Errorf("Family: %+v, %v; want unsubscribed", mb, err)
	}
	// DELETE keeps the subscription; a name that is no mailbox can be
	// subscribed; twice is no error, nor unsubscribing what is not.
	must(s.DeleteMailbox(ctx, a.ID, "Family/Photos"))
	must(s.SetSubscribed(ctx, a.ID, "Never/Made", true))
	must(s.SetSubscribed(ctx, a.ID, "Never/Made", true))
	must(s.SetSubscribed(ctx, a.ID, "Not/There", false))
	must(s.SetSubscribed(ctx, a.ID, "inbox", true))
	if err := s.SetSubscribed(ctx, a.ID, "Bad%", true); !errors.Is(err, ErrInvalid) {
		t.Errorf("subscribing Bad%%: %v, want ErrInvalid", err)
	}
	want := append(slices.Clone(defaults), "Family/Photos", "Never/Made")
	slices.Sort(want)
	if got := subs(a.ID); !slices.Equal(got, want) {
		t.Errorf("subscriptions %q, want %q", got, want)
	}
	// RENAME leaves the subscriptions with the old names (as Dovecot).
	must(s.CreateMailbox(ctx, a.ID, "Old/Kid", ""))
	must(s.RenameMailbox(ctx, a.ID, "Old", "New"))
	if mb, err := s.MailboxByName(ctx, a.ID, "New/Kid"); err != nil || mb.Subscribed {
		t.Errorf("New/Kid after the rename: %+v, %v; want unsubscribed", mb, err)
	}
	got := subs(a.ID)
	if !slices.Contains(got, "Old") || !slices.Contains(got, "Old/Kid") || slices.Contains(got, "New") {
		t.Errorf("subscriptions after RENAME Old New: %q", got)
	}
	// Another account's are its own; a removed account's go with it.
	if got := subs(b.ID); !slices.Equal(got, defaults) {
		t.Errorf("the other account's subscriptions: %q", got)
	}
	must(s.RemoveAccount(ctx, a.Email))
	if got := subs(a.ID); len(got) != 0 {
		t.Errorf("a removed account's subscriptions: %q", got)
	}
}

func TestMigration18CopiesSubscribedMailboxes(t *testing.T) {
	skipOnPG(t, "replays SQLite migrations on the SQLite file; PostgreSQL starts at schema 27")
	dir := t.TempDir()
	ctx := context.Background()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "old@example.test")
	if err := s.CreateMailbox(ctx, a.ID, "Lists", ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	// Schema 17, where Junk and Lists are unsubscribed.
	if _, err := db.Exec(undoSchemaAfter17 + "UPDATE mailboxes SET subscribed = 0 WHERE name IN ('Junk', 'Lists'); PRAGMA user_version = 17"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = testOpen(ctx, dir, testOptions); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Subscriptions(ctx, a.ID)
	if want := []string{"Archive", "Drafts", "INBOX", "Sent", "Trash"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("subscriptions after the migration: %q, %v; want %q", got, err, want)
	}
	if mb, err := s.MailboxByName(ctx, a.ID, "Lists"); err != nil || mb.Subscribed {
		t.Errorf("Lists: %+v, %v; want unsubscribed", mb, err)
	}
}
