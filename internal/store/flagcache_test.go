package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// LoadFlags answers big requests from memory; what it returns must always
// be what the rows say: after deliveries, flag changes, expunges, a
// change by another process and a mailbox rename.
func TestTheFlagCacheFollowsEveryChange(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAccount(t, s, "me@example.test")
	deliver := func(s *Store, n int) {
		t.Helper()
		for range n {
			if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nx\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliver(s, flagCacheMin+10)
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	all := func() []uint32 {
		var l []uint32
		for u := uint32(1); u <= flagCacheMin+100; u++ {
			l = append(l, u)
		}
		return l
	}
	check := func(what string) {
		t.Helper()
		var got []string
		err := s.LoadFlags(ctx, inbox.ID, all(), func(b []MessageFlags) error {
			for _, m := range b {
				got = append(got, fmt.Sprint(m.UID, m.Flags.Names(), m.Keywords))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.LoadMessages(ctx, inbox.ID, all(), FlagsOnly)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, m := range msgs {
			want = append(want, fmt.Sprint(m.UID, m.Flags.Names(), m.Keywords))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: LoadFlags gave %d messages, the rows %d", what, len(got), len(want))
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("first difference: %s, want %s", got[i], want[i])
					break
				}
			}
		}
	}
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{10, 11}, FlagsAdd, FlagFlagged, []string{"$A", "$B"})
	if _, err := s.SelectMailbox(ctx, a.ID, "INBOX"); err != nil {
		t.Fatal(err)
	}
	if s.flags.m[inbox.ID] == nil {
		t.Fatal("SELECT of a 1,010-message mailbox did not fill the cache")
	}
	check("after SELECT")
	clear(s.flags.m)
	s.flags.msgs = 0
	check("first")
	if s.flags.m[inbox.ID] == nil {
		t.Fatal("a 1,010-message mailbox was not cached")
	}
	check("cached")
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1, 2, 3}, FlagsAdd, FlagSeen, []string{"$Junk"})
	check("after STORE")
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{2}, FlagsRemove, 0, []string{"$Junk"})
	check("after STORE -FLAGS")
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1, 5}, FlagsAdd, FlagDeleted, nil)
	s.Expunge(ctx, a.ID, inbox.ID, nil)
	check("after EXPUNGE")
	deliver(s, 3)
	check("after a delivery")
	if e := s.flags.m[inbox.ID]; e == nil || e.modSeq != mustModSeq(t, s, inbox.ID) {
		t.Error("the writer's own changes did not keep the entry current")
	}
	// Another process delivers and flags (a second Store on the same database).
	other, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	deliver(other, 1)
	other.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{7}, FlagsAdd, FlagFlagged, nil)
	other.Close()
	check("after another process's changes")
	// Then this one changes something: the entry must not skip the
	// other's changes by taking this MODSEQ.
	other, _ = testOpen(ctx, dir, testOptions)
	other.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{8}, FlagsAdd, FlagAnswered, nil)
	other.Close()
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{9}, FlagsAdd, FlagDraft, nil)
	check("after both")
	// Renaming INBOX moves its messages away.
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	check("after RENAME INBOX")
}

func mustModSeq(t *testing.T, s *Store, mailboxID int64) int64 {
	t.Helper()
	var m int64
	if err := s.rdb.QueryRow("SELECT modseq FROM mailboxes WHERE id = ?", mailboxID).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The cache stays within its bound of messages.
func TestTheFlagCacheIsBounded(t *testing.T) {
	var c flagCache
	for id := range int64(5) {
		c.put(&flagEntry{mailboxID: id, uids: make([]uint32, flagCacheMaxMsgs/3), flags: make([]Flags, flagCacheMaxMsgs/3)})
		if c.msgs > flagCacheMaxMsgs {
			t.Fatalf("after %d entries: %d messages kept", id+1, c.msgs)
		}
	}
	if len(c.m) != 3 || c.m[4] == nil || c.m[0] != nil {
		t.Errorf("kept %d entries; want the 3 most recent", len(c.m))
	}
}
