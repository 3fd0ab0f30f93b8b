package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"boxmail/internal/testutil/pgtest"
)

// One message for eight targets: three copies in one INBOX, two accounts,
// a folder that exists, one that does not (INBOX instead) and one to be
// created. On PostgreSQL the targets whose mailbox exists are stored by
// one statement (deliverPG); each mailbox must still get consecutive
// UIDs and MODSEQs from its counter row, the flags and keywords of its
// target, and each copy its event, in target order.
func TestADeliveryToManyTargetsGivesEachMailboxConsecutiveUIDs(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	me := newAccount(t, s, "me@example.test")
	you := newAccount(t, s, "you@example.test")
	if err := s.CreateMailbox(ctx, me.ID, "Lists", ""); err != nil {
		t.Fatal(err)
	}
	// Something in INBOX already, so the counters do not start at 1.
	if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: first\r\n\r\nfirst\r\n"), Local: []LocalTarget{{AccountID: me.ID}}}); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.MailboxByName(ctx, me.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	sub := s.Subscribe(me.ID)
	defer sub.Close()
	targets := []LocalTarget{
		{AccountID: me.ID},
		{AccountID: me.ID, Mailbox: "inbox", Flags: FlagSeen},
		{AccountID: you.ID, Keywords: []string{"$Junk"}},
		{AccountID: me.ID, Mailbox: "Lists", Keywords: []string{"work", "later"}},
		{AccountID: me.ID, Mailbox: "Nowhere"}, // no such folder: INBOX
		{AccountID: me.ID, Mailbox: "Made", Create: true},
		{AccountID: me.ID, Flags: FlagFlagged},
		{AccountID: you.ID, Mailbox: "Lists"}, // not hers: INBOX
	}
	if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: many\r\n\r\nmany\r\n"), Received: time.Unix(1700000000, 0), Local: targets}); err != nil {
		t.Fatal(err)
	}

	type want struct {
		uids  []uint32
		flags []Flags
		kw    [][]string
	}
	check := func(acc int64, name string, w want) {
		t.Helper()
		mb, err := s.MailboxByName(ctx, acc, name)
		if err != nil {
			t.Fatalf("%s of %d: %v", name, acc, err)
		}
		msgs, err := s.Messages(ctx, mb.ID, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		var uids []uint32
		var modseqs []int64
		for _, m := range msgs {
			uids = append(uids, m.UID)
			modseqs = append(modseqs, m.ModSeq)
		}
		if !slices.Equal(uids, w.uids) {
			t.Fatalf("%s of account %d holds UIDs %v, want %v", name, acc, uids, w.uids)
		}
		if mb.UIDNext != w.uids[len(w.uids)-1]+1 {
			t.Errorf("%s: UIDNEXT %d after UIDs %v", name, mb.UIDNext, uids)
		}
		for i := 1; i < len(modseqs); i++ {
			if modseqs[i] <= modseqs[i-1] {
				t.Errorf("%s: MODSEQs %v do not rise with the UIDs", name, modseqs)
			}
		}
		if mb.ModSeq != modseqs[len(modseqs)-1] {
			t.Errorf("%s: HIGHESTMODSEQ %d, newest message's %d", name, mb.ModSeq, modseqs[len(modseqs)-1])
		}
		// Which copy takes which of the new UIDs may differ by engine.
		var gotCopies, wantCopies []string
		for _, m := range msgs[len(msgs)-len(w.flags):] {
			gotCopies = append(gotCopies, fmt.Sprint(m.Flags, m.Keywords))
			if !m.InternalDate.Equal(time.Unix(1700000000, 0)) {
				t.Errorf("%s UID %d: internal date %v", name, m.UID, m.InternalDate)
			}
		}
		for i, f := range w.flags {
			wantCopies = append(wantCopies, fmt.Sprint(f|FlagRecent, w.kw[i]))
		}
		slices.Sort(gotCopies)
		slices.Sort(wantCopies)
		if !slices.Equal(gotCopies, wantCopies) {
			t.Errorf("%s: the copies' flags and keywords are %v, want %v", name, gotCopies, wantCopies)
		}
	}
	// INBOX: the first message, then targets 0, 1, 4 (no such folder) and 6.
	check(me.ID, "INBOX", want{uids: []uint32{1, 2, 3, 4, 5}, flags: []Flags{0, FlagSeen, 0, FlagFlagged}, kw: [][]string{nil, nil, nil, nil}})
	check(me.ID, "Lists", want{uids: []uint32{1}, flags: []Flags{0}, kw: [][]string{{"work", "later"}}})
	check(me.ID, "Made", want{uids: []uint32{1}, flags: []Flags{0}, kw: [][]string{nil}})
	check(you.ID, "INBOX", want{uids: []uint32{1, 2}, flags: []Flags{0, 0}, kw: [][]string{{"$Junk"}, nil}})

	// One target alone takes another statement on PostgreSQL
	// (addToNamedPG); a missing folder is INBOX there too.
	if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: one\r\n\r\none\r\n"), Received: time.Unix(1700000000, 0), Local: []LocalTarget{{AccountID: you.ID, Mailbox: "Nope", Flags: FlagAnswered}}}); err != nil {
		t.Fatal(err)
	}
	check(you.ID, "INBOX", want{uids: []uint32{1, 2, 3}, flags: []Flags{FlagAnswered}, kw: [][]string{nil}})

	// My events: one new message per copy of mine, each with its UID.
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 6 && time.Now().Before(deadline) {
		select {
		case <-sub.C:
		case <-time.After(100 * time.Millisecond):
		}
		for _, e := range sub.Events() {
			if e.Kind == EventNewMessage {
				mb := "INBOX"
				if e.MailboxID != inbox.ID {
					mb = "other"
				}
				got = append(got, mb+":"+string(rune('0'+e.UID)))
			}
		}
	}
	slices.Sort(got)
	if w := []string{"INBOX:2", "INBOX:3", "INBOX:4", "INBOX:5", "other:1", "other:1"}; !slices.Equal(got, w) {
		t.Errorf("new-message events %v, want %v", got, w)
	}
}

// The round trips to PostgreSQL of the hot writes and reads, counted by
// the pools' tracer: a delivery to eight accounts (the SMTP benchmark's
// message) and the IMAP mixed session's SELECT, STORE, APPEND and
// EXPUNGE. Each bound is the count this branch measured; a change that
// adds a round trip to these paths has to raise it here, knowingly.
func TestTheHotPathsTakeFewRoundTripsOnPostgreSQL(t *testing.T) {
	if !pgtest.Enabled() {
		t.Skip("counts PostgreSQL's round trips: run with " + pgtest.EnvVar + "=1")
	}
	ctx := context.Background()
	opts := testOptions
	opts.count = &statementCount{}
	s, err := testOpen(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var local []LocalTarget
	var accs []Account
	for _, u := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		a := newAccount(t, s, u+"@example.test")
		accs = append(accs, a)
		local = append(local, LocalTarget{AccountID: a.ID})
	}
	me := accs[0]
	msg := []byte("From: x@example.org\r\nSubject: hello\r\n\r\nhello\r\n")
	// The second round is counted: pgx prepares each statement text once
	// per connection, in a round trip of its own, on first use.
	for round := range 2 {
		count := func(what string, max int64, f func() error) {
			t.Helper()
			before := opts.count.n.Load()
			if err := f(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if round == 0 {
				return
			}
			n := opts.count.n.Load() - before
			t.Logf("%s: %d round trips", what, n)
			if n > max {
				t.Errorf("%s took %d round trips to PostgreSQL, at most %d expected", what, n, max)
			}
		}
		// What delivery reads of a recipient at RCPT: one statement.
		count("a recipient's lookup", 1, func() error {
			l, err := s.LookupRecipient(ctx, "a+tag@example.test", "a@example.test")
			if err == nil && (l.BaseAccount == nil || l.BaseAccount.ID != accs[0].ID) {
				t.Errorf("lookup of a+tag: %+v", l)
			}
			return err
		})
		count("a recipient account by id", 1, func() error { _, err := s.RecipientAccountByID(ctx, accs[1].ID); return err })
		// BEGIN with the body and its rows; the messages; the change log
		// with COMMIT. No savepoint: the write is alone in its batch.
		count("a delivery to 8 accounts", 3, func() error { return s.Deliver(ctx, Delivery{Data: msg, Local: local}) })
		// BEGIN with the body, its rows and the message; change log with COMMIT.
		count("a delivery to 1 account", 2, func() error { return s.Deliver(ctx, Delivery{Data: msg, Local: local[:1]}) })
		inbox, err := s.MailboxByName(ctx, me.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		count("SELECT", 1, func() error { _, err := s.SelectMailbox(ctx, me.ID, "INBOX"); return err })
		// BEGIN with the rows' update (UPDATE ... RETURNING); change log with COMMIT.
		op := FlagsAdd // \Flagged on, then off: a change both times
		if round == 1 {
			op = FlagsRemove
		}
		count("STORE of one message", 2, func() error {
			_, err := s.UpdateFlags(ctx, me.ID, inbox.ID, []uint32{1}, op, FlagFlagged, nil)
			return err
		})
		// BEGIN with the mailbox and quota; body and message; change log with COMMIT.
		var uid uint32
		count("APPEND", 3, func() (err error) {
			uid, _, err = s.Append(ctx, me.ID, "INBOX", msg, 0, nil, time.Now())
			return err
		})
		if _, err := s.UpdateFlags(ctx, me.ID, inbox.ID, []uint32{uid}, FlagsAdd, FlagDeleted, nil); err != nil {
			t.Fatal(err)
		}
		// BEGIN with the expunge; change log with COMMIT.
		count("EXPUNGE of one message", 2, func() error {
			gone, err := s.Expunge(ctx, me.ID, inbox.ID, nil)
			if err == nil && !slices.Equal(gone, []uint32{uid}) {
				t.Errorf("expunged %v, want [%d]", gone, uid)
			}
			return err
		})
	}
}
