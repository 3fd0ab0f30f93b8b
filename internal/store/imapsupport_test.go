package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSelectMailboxSeesUIDsRecentAndFirstUnseenTogether(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	other := newAccount(t, s, "other@example.test")
	for i := range 3 {
		d := Delivery{Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i), Local: []LocalTarget{{AccountID: a.ID}}}
		if i == 0 {
			d.Local[0].Flags = FlagSeen
			d.Local[0].Keywords = []string{"$Work"}
		}
		if err := s.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.SelectMailbox(ctx, a.ID, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.UIDs, []uint32{1, 2, 3}) || st.Recent != 3 || st.FirstUnseen != 2 || !slices.Equal(st.Keywords, []string{"$Work"}) {
		t.Errorf("select state = %+v", st)
	}
	if st.Mailbox.UIDNext != 4 {
		t.Errorf("uidnext = %d, want 4", st.Mailbox.UIDNext)
	}
	if _, err := s.SelectMailbox(ctx, other.ID, "Nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing mailbox: %v", err)
	}
	empty, err := s.SelectMailbox(ctx, other.ID, "INBOX")
	if err != nil || len(empty.UIDs) != 0 || empty.FirstUnseen != 0 {
		t.Errorf("empty mailbox: %+v, %v", empty, err)
	}
}

func TestLoadMessagesReturnsHeadersOrWholeBodiesOfTheAskedUIDs(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	var want [][]byte
	for i := range 40 {
		data := fmt.Appendf(nil, "Subject: %d\r\nX: y\r\n\r\nbody %d\r\n", i, i)
		want = append(want, data)
		if err := s.Deliver(ctx, Delivery{Data: data, Local: []LocalTarget{{AccountID: a.ID}}, Received: time.Unix(1000, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	mb, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	got, err := s.LoadMessages(ctx, mb.ID, []uint32{40, 1, 2, 39, 99}, BodyFull)
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, m := range got {
		uids = append(uids, m.UID)
		if string(m.Data) != string(want[m.UID-1]) {
			t.Errorf("uid %d: body %q", m.UID, m.Data)
		}
		if m.Size != int64(len(want[m.UID-1])) || m.InternalDate.Unix() != 1000 {
			t.Errorf("uid %d: meta %+v", m.UID, m.Message)
		}
	}
	if !slices.Equal(uids, []uint32{1, 2, 39, 40}) {
		t.Errorf("uids = %v", uids)
	}
	hdr, err := s.LoadMessages(ctx, mb.ID, []uint32{5}, BodyHeader)
	if err != nil || len(hdr) != 1 || string(hdr[0].Data) != "Subject: 4\r\nX: y\r\n\r\n" {
		t.Errorf("header = %+v, %v", hdr, err)
	}
	meta, err := s.LoadMessages(ctx, mb.ID, []uint32{5}, BodyNone)
	if err != nil || len(meta) != 1 || meta[0].Data != nil {
		t.Errorf("metadata only = %+v, %v", meta, err)
	}
}

// fillMailbox adds n small messages to the account's INBOX in one
// transaction, the fast way to build a big mailbox for benchmarks.
func fillMailbox(tb testing.TB, s *Store, accountID int64, n int) {
	tb.Helper()
	ctx := context.Background()
	mb, err := s.MailboxByName(ctx, accountID, "INBOX")
	if err != nil {
		tb.Fatal(err)
	}
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		for i := range n {
			data := fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i)
			bid, err := insertBody(ctx, tx, inline(data))
			if err != nil {
				return err
			}
			f := FlagSeen
			if i%10 == 0 {
				f = 0
			}
			if _, err := addMessage(ctx, tx, accountID, mb.ID, bid, int64(len(data)), f, nil, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkSelectMailbox(b *testing.B) {
	s := openTemp(b)
	a := newAccount(b, s, "me@example.test")
	fillMailbox(b, s, a.ID, 100_000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		st, err := s.SelectMailbox(ctx, a.ID, "INBOX")
		if err != nil || len(st.UIDs) != 100_000 {
			b.Fatal(len(st.UIDs), err)
		}
	}
}

func BenchmarkSnapshot(b *testing.B) {
	s := openTemp(b)
	a := newAccount(b, s, "me@example.test")
	fillMailbox(b, s, a.ID, 100_000)
	ctx := context.Background()
	mb, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	b.ResetTimer()
	for b.Loop() {
		l, err := s.Snapshot(ctx, mb.ID)
		if err != nil || len(l) != 100_000 {
			b.Fatal(len(l), err)
		}
	}
}
