package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestAuthBlocksAndGreylistArePersistentAndPrunable(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	b := AuthBlock{Net: "192.0.2.7/32", Level: 1, Since: now, Until: now.Add(15 * time.Minute), Reason: "10 failed logins"}
	if err := s.SaveAuthBlock(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Level, b.Until = 2, now.Add(time.Hour)
	if err := s.SaveAuthBlock(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s.AuthBlockByNet(ctx, "192.0.2.7/32")
	if err != nil || got.Level != 2 || !got.Until.Equal(now.Add(time.Hour)) || got.Reason != b.Reason {
		t.Fatalf("AuthBlockByNet = %+v, %v", got, err)
	}
	if all, _ := s.AuthBlocks(ctx); len(all) != 1 {
		t.Errorf("AuthBlocks = %v", all)
	}
	if err := s.RemoveAuthBlock(ctx, "192.0.2.7/32"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAuthBlock(ctx, "192.0.2.7/32"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	if _, err := s.AuthBlockByNet(ctx, "192.0.2.7/32"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after remove: %v", err)
	}

	e := GreylistEntry{Net: "192.0.2.0/24", Sender: "a@b.example", Rcpt: "me@example.test", First: now, Last: now}
	if err := s.SaveGreylist(ctx, e); err != nil {
		t.Fatal(err)
	}
	e.Passed, e.Last = true, now.Add(10*time.Minute)
	if err := s.SaveGreylist(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveGreylistDomain(ctx, "b.example", now); err != nil {
		t.Fatal(err)
	}
	l, err := s.Greylist(ctx, now.Add(-time.Hour))
	if err != nil || len(l) != 1 || !l[0].Passed || !l[0].Last.Equal(e.Last) || !l[0].First.Equal(now) {
		t.Fatalf("Greylist = %+v, %v", l, err)
	}
	if d, _ := s.GreylistDomains(ctx, now); !d["b.example"].Equal(now) {
		t.Errorf("GreylistDomains = %v", d)
	}
	if err := s.PruneGreylist(ctx, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Greylist(ctx, time.Time{}); len(l) != 0 {
		t.Errorf("after prune: %v", l)
	}
}

func TestPOP3UpdateMarksSeenAndRemovesAtomically(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "pop@example.test")
	for range 3 {
		if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nbody\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	mb, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	sub := s.Subscribe(a.ID)
	defer sub.Close()
	removed, err := s.POP3Update(ctx, a.ID, mb.ID, []uint32{1, 2}, []uint32{2, 3, 99})
	if err != nil || !slices.Equal(removed, []uint32{2, 3}) {
		t.Fatalf("POP3Update = %v, %v", removed, err)
	}
	msgs, _ := s.Messages(ctx, mb.ID, 1, 0)
	if len(msgs) != 1 || msgs[0].UID != 1 || msgs[0].Flags&FlagSeen == 0 {
		t.Fatalf("left %+v", msgs)
	}
	<-sub.C
	var kinds []EventKind
	for _, e := range sub.Events() {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []EventKind{EventFlags, EventExpunge, EventExpunge}) {
		t.Errorf("events %v", kinds)
	}
	other := newAccount(t, s, "other@example.test")
	if _, err := s.POP3Update(ctx, other.ID, mb.ID, nil, []uint32{1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("other account's mailbox: %v", err)
	}
}
