package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"boxmail/internal/testutil/pgtest"
)

type copiedMessage struct {
	uid   uint32
	flags Flags
	kw    string
	data  []byte
}

// mailOf returns the INBOX of email: UIDVALIDITY, UIDNEXT, and each
// message with its flags and bytes.
func mailOf(t *testing.T, s *Store, email string) (Mailbox, []copiedMessage) {
	t.Helper()
	ctx := context.Background()
	a, err := s.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := s.MailboxByName(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []copiedMessage
	for _, m := range msgs {
		b, err := s.Body(ctx, m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, copiedMessage{uid: m.UID, flags: m.Flags, kw: strings.Join(m.Keywords, " "), data: b})
	}
	return mb, out
}

// A SQLite box copied into PostgreSQL and back serves the same mail:
// UIDs, UIDVALIDITY, flags and bytes; the large body moved from a file
// into the chunk store and back into a file; new mail after the copy
// takes the next UID and id.
func TestCopyASQLiteBoxIntoPostgreSQLAndBack(t *testing.T) {
	if !pgtest.Enabled() {
		t.Skip("PostgreSQL only (BOXMAIL_TEST_PG=1)")
	}
	ctx := context.Background()
	src, err := Open(ctx, t.TempDir(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := newAccount(t, src, "me@example.test")
	big := bigMessage(DefaultFileBodyMin + 5000)
	for _, d := range [][]byte{[]byte("Subject: one\r\n\r\nhello\r\n"), big, []byte("Subject: three\r\n\r\nbye\r\n")} {
		if err := src.Deliver(ctx, Delivery{Data: d, Local: []LocalTarget{{AccountID: a.ID}}, Sender: "me@example.test", Remote: []string{"you@elsewhere.example"}}); err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := src.MailboxByName(ctx, a.ID, "INBOX")
	if _, err := src.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{2}, FlagsAdd, FlagSeen|FlagFlagged, []string{"$Work"}); err != nil {
		t.Fatal(err)
	}
	wantMB, want := mailOf(t, src, "me@example.test")

	url, err := pgtest.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := Open(ctx, t.TempDir(), Options{URL: url, PasswordCost: testOptions.PasswordCost})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	rep, err := CopyBox(ctx, src, pg, CopyOptions{Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Large != 1 || rep.Verified != 3 || rep.Target != BodyStoreDB {
		t.Errorf("report: %+v", rep)
	}
	check := func(s *Store, where string) {
		mb, got := mailOf(t, s, "me@example.test")
		if mb.UIDValidity != wantMB.UIDValidity || mb.UIDNext != wantMB.UIDNext {
			t.Errorf("%s: UIDVALIDITY %d UIDNEXT %d, want %d %d", where, mb.UIDValidity, mb.UIDNext, wantMB.UIDValidity, wantMB.UIDNext)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages, want %d", where, len(got), len(want))
		}
		for i := range want {
			if got[i].uid != want[i].uid || got[i].flags != want[i].flags || got[i].kw != want[i].kw || !bytes.Equal(got[i].data, want[i].data) {
				t.Errorf("%s: message %d differs: uid %d flags %v kw %q, %d bytes", where, i, got[i].uid, got[i].flags, got[i].kw, len(got[i].data))
			}
		}
	}
	check(pg, "PostgreSQL")
	// The source goes on: one more message, one expunged, a flag; a
	// second copy with Again catches the target up.
	if err := src.Deliver(ctx, Delivery{Data: []byte("Subject: late\r\n\r\nlate\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1}, FlagsAdd, FlagDeleted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Expunge(ctx, a.ID, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := src.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{3}, FlagsAdd, FlagAnswered, nil); err != nil {
		t.Fatal(err)
	}
	wantMB, want = mailOf(t, src, "me@example.test")
	rep, err = CopyBox(ctx, src, pg, CopyOptions{Again: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CatchUp != 1 { // the expunged message's body stays: its queue entry holds it
		t.Errorf("catch-up: %d bodies added or removed, want 1", rep.CatchUp)
	}
	check(pg, "PostgreSQL, caught up")
	if _, err := pg.Authenticate(ctx, "me@example.test", "correct horse battery"); err != nil {
		t.Errorf("login after the copy: %v", err)
	}
	if _, err := CopyBox(ctx, src, pg, CopyOptions{}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("a second copy into the same database: %v", err)
	}

	back, err := Open(ctx, t.TempDir(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if _, err := CopyBox(ctx, pg, back, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	check(back, "SQLite again")
	if files := bodyFiles(t, back); len(files) != 1 {
		t.Errorf("body files after the copy back: %v", files)
	}
	// New mail continues the counters.
	b2, _ := back.AccountByEmail(ctx, "me@example.test")
	if err := back.Deliver(ctx, Delivery{Data: []byte("Subject: four\r\n\r\nnew\r\n"), Local: []LocalTarget{{AccountID: b2.ID}}}); err != nil {
		t.Fatal(err)
	}
	if _, got := mailOf(t, back, "me@example.test"); got[len(got)-1].uid != wantMB.UIDNext {
		t.Errorf("the next message got UID %d, want %d", got[len(got)-1].uid, wantMB.UIDNext)
	}
	pb, _ := pg.AccountByEmail(ctx, "me@example.test")
	if err := pg.Deliver(ctx, Delivery{Data: big, Local: []LocalTarget{{AccountID: pb.ID}}, Sender: "me@example.test", Remote: []string{"x@elsewhere.example"}}); err != nil {
		t.Fatalf("delivery on PostgreSQL after the copy (sequences): %v", err)
	}
}
