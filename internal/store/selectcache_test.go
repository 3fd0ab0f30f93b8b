package store

import (
	"context"
	"slices"
	"testing"
)

// A cached SELECT state must never be stale: not after a delivery, a flag
// change, an expunge, nor a change made by another process.
func TestTheSelectCacheFollowsEveryChange(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAccount(t, s, "me@example.test")
	for range selectCacheMin + 10 {
		if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nx\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	s.ClearRecent(ctx, inbox.ID)
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1, 2, 3}, FlagsAdd, FlagSeen, nil)
	check := func(what string, wantN int, wantFirstUnseen uint32) {
		t.Helper()
		st, err := s.SelectMailbox(ctx, a.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.UIDs) != wantN || st.FirstUnseen != wantFirstUnseen || !slices.IsSorted(st.UIDs) {
			t.Errorf("%s: %d UIDs, first unseen %d; want %d and %d", what, len(st.UIDs), st.FirstUnseen, wantN, wantFirstUnseen)
		}
		st.UIDs = append(st.UIDs[:0], 999999) // a session scribbling on its copy
	}
	n := selectCacheMin + 10
	check("first", n, 4)
	check("cached", n, 4)
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{4}, FlagsAdd, FlagSeen, nil)
	check("after STORE", n, 5)
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1}, FlagsAdd, FlagDeleted, nil)
	s.Expunge(ctx, a.ID, inbox.ID, nil)
	check("after EXPUNGE", n-1, 4)
	// Another process delivers (a second Store on the same database).
	other, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Deliver(ctx, Delivery{Data: []byte("Subject: y\r\n\r\ny\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
		t.Fatal(err)
	}
	other.Close()
	check("after another process delivered", n, 4)
}

func BenchmarkSelectMailboxCached(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	a := newAccount(b, s, "me@example.test")
	for range 20 {
		for range 500 {
			s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nx\r\n"), Local: []LocalTarget{{AccountID: a.ID}}})
		}
	}
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	s.ClearRecent(ctx, inbox.ID)
	b.ResetTimer()
	for range b.N {
		if _, err := s.SelectMailbox(ctx, a.ID, "INBOX"); err != nil {
			b.Fatal(err)
		}
	}
}
