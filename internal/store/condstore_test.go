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

// undoSchema17 turns a database back into what schema 16 made, for tests
// that replay older migrations.
const undoSchema17 = undoSchemaAfter17 + "DROP TABLE expunged; DROP INDEX messages_modseq; ALTER TABLE mailboxes DROP COLUMN vanished_floor; "

// condstoreBox is an account with n messages in its INBOX (\Recent cleared).
func condstoreBox(t *testing.T, n int) (*Store, Account, Mailbox) {
	t.Helper()
	s := openTemp(t)
	a := newAccount(t, s, "phone@example.test")
	ctx := context.Background()
	for i := range n {
		if _, _, err := s.Append(ctx, a.ID, "INBOX", fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i), 0, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	inbox, err := s.MailboxByName(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClearRecent(ctx, inbox.ID); err != nil {
		t.Fatal(err)
	}
	return s, a, inbox
}

func highestModSeq(t *testing.T, s *Store, a Account, name string) int64 {
	t.Helper()
	st, err := s.SelectMailbox(context.Background(), a.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Counts(context.Background(), st.Mailbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.HighestModSeq != st.HighestModSeq {
		t.Fatalf("STATUS HIGHESTMODSEQ %d, SELECT %d", c.HighestModSeq, st.HighestModSeq)
	}
	return st.HighestModSeq
}

func uidsOf(ms []ChangedMeta) []uint32 {
	var out []uint32
	for _, m := range ms {
		out = append(out, m.UID)
	}
	return out
}

// A phone synced the INBOX at HIGHESTMODSEQ N and went offline. Meanwhile
// the laptop made 13 flag changes in 8 STOREs (message 1 changed twice,
// one STORE changing nothing), and 3 of the changed messages left: an
// EXPUNGE, a MOVE to Archive and a POP3 delete. Back online, the phone
// asks what changed since N and learns exactly the 9 messages still there
// with their flags and the 3 UIDs that went, and nothing when it asks
// again from the new HIGHESTMODSEQ.
func TestAPhoneThatSyncedAtModSeqNSeesExactlyWhatChangedSince(t *testing.T) {
	s, a, inbox := condstoreBox(t, 40)
	ctx := context.Background()
	n := highestModSeq(t, s, a, "INBOX")

	steps := []struct {
		uids []uint32
		op   FlagOp
		f    Flags
		kw   []string
	}{
		{[]uint32{1, 2, 3}, FlagsAdd, FlagSeen, nil},
		{[]uint32{4}, FlagsAdd, FlagFlagged, []string{"$Important"}},
		{[]uint32{5, 6}, FlagsSet, FlagAnswered, nil},
		{[]uint32{7, 8}, FlagsAdd, 0, []string{"Work"}},
		{[]uint32{1}, FlagsAdd, FlagFlagged, nil},          // a second change of 1
		{[]uint32{9, 10}, FlagsRemove, FlagSeen, nil},      // nothing to remove: no change
		{[]uint32{20, 21, 22}, FlagsAdd, FlagDeleted, nil}, // 20..22 leave below
		{[]uint32{23}, FlagsAdd, FlagSeen, nil},
	}
	for _, st := range steps {
		if _, err := s.UpdateFlags(ctx, a.ID, inbox.ID, st.uids, st.op, st.f, st.kw); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Expunge(ctx, a.ID, inbox.ID, []uint32{20}); err != nil || !slices.Equal(got, []uint32{20}) {
		t.Fatalf("EXPUNGE: %v %v", got, err)
	}
	if _, err := s.Copy(ctx, a.ID, inbox.ID, []uint32{21}, "Archive", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.POP3Update(ctx, a.ID, inbox.ID, nil, []uint32{22}); err != nil {
		t.Fatal(err)
	}

	changed, err := s.ChangedSince(ctx, inbox.ID, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{1, 2, 3, 4, 5, 6, 7, 8, 23}; !slices.Equal(uidsOf(changed), want) {
		t.Errorf("changed since %d: %v, want %v", n, uidsOf(changed), want)
	}
	vanished, err := s.VanishedSince(ctx, inbox.ID, n)
	if err != nil || !slices.Equal(vanished, []uint32{20, 21, 22}) {
		t.Errorf("vanished since %d: %v %v, want [20 21 22]", n, vanished, err)
	}
	byUID := map[uint32]ChangedMeta{}
	for _, m := range changed {
		byUID[m.UID] = m
	}
	if m := byUID[1]; m.Flags&^FlagRecent != FlagSeen|FlagFlagged || m.ModSeq <= byUID[2].ModSeq {
		t.Errorf("message 1 (changed twice): %+v, message 2 at %d", m, byUID[2].ModSeq)
	}
	if m := byUID[4]; !slices.Equal(m.Keywords, []string{"$Important"}) {
		t.Errorf("message 4 keywords %v", m.Keywords)
	}
	if m := byUID[5]; m.Flags != FlagAnswered {
		t.Errorf("message 5 flags %v", m.Flags)
	}
	now := highestModSeq(t, s, a, "INBOX")
	for _, m := range changed {
		if m.ModSeq <= n || m.ModSeq > now {
			t.Errorf("message %d has MODSEQ %d, outside (%d, %d]", m.UID, m.ModSeq, n, now)
		}
	}
	// The 7 STOREs that changed something and the 3 removals each took
	// one step.
	if now != n+7+3 {
		t.Errorf("HIGHESTMODSEQ went from %d to %d, want +10", n, now)
	}
	// Only the UIDs the phone asks about, and nothing new from now on.
	if got, _ := s.ChangedSince(ctx, inbox.ID, n, []uint32{2, 9, 23, 999}); !slices.Equal(uidsOf(got), []uint32{2, 23}) {
		t.Errorf("changed among 2,9,23,999: %v", uidsOf(got))
	}
	all := make([]uint32, 0, 1000)
	for u := range uint32(1000) {
		all = append(all, 1000-u) // a long, unsorted list: matched in Go
	}
	if got, _ := s.ChangedSince(ctx, inbox.ID, n, all); !slices.Equal(uidsOf(got), uidsOf(changed)) {
		t.Errorf("changed among 1:1000: %v", uidsOf(got))
	}
	if got, _ := s.ChangedSince(ctx, inbox.ID, now, nil); len(got) != 0 {
		t.Errorf("changed since the new HIGHESTMODSEQ: %v", uidsOf(got))
	}
	if got, _ := s.VanishedSince(ctx, inbox.ID, now); len(got) != 0 {
		t.Errorf("vanished since the new HIGHESTMODSEQ: %v", got)
	}
	if got, _ := s.ChangedSince(ctx, inbox.ID, 0, nil); len(got) != 37 {
		t.Errorf("changed since 0: %d messages, want all 37", len(got))
	}
	// The moved copy is new in Archive, above Archive's earlier MODSEQ.
	archive, _ := s.MailboxByName(ctx, a.ID, "Archive")
	if got, _ := s.ChangedSince(ctx, archive.ID, 1, nil); len(got) != 1 || got[0].ModSeq != archive.ModSeq {
		t.Errorf("Archive changes %+v, its MODSEQ %d", got, archive.ModSeq)
	}
}

// Every write that changes a mailbox takes it one MODSEQ up, gives that
// MODSEQ to the messages it added or changed and to its events; a write
// that changes nothing leaves HIGHESTMODSEQ alone.
func TestEveryChangeTakesTheMailboxOneModSeqUp(t *testing.T) {
	s, a, inbox := condstoreBox(t, 5)
	ctx := context.Background()
	sub := s.Subscribe(a.ID)
	defer sub.Close()
	steps := []struct {
		name  string
		do    func() error
		steps int64     // MODSEQ steps of INBOX
		kind  EventKind // of the events, 0: none
	}{
		{"APPEND", func() error {
			_, _, err := s.Append(ctx, a.ID, "INBOX", []byte("Subject: x\r\n\r\nx\r\n"), 0, nil, time.Now())
			return err
		}, 1, EventNewMessage},
		{"STORE +FLAGS on two", func() error {
			_, err := s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1, 2}, FlagsAdd, FlagSeen, nil)
			return err
		}, 1, EventFlags},
		{"the same STORE again", func() error {
			_, err := s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1, 2}, FlagsAdd, FlagSeen, nil)
			return err
		}, 0, 0},
		{"STORE on no message", func() error {
			_, err := s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{99}, FlagsAdd, FlagSeen, nil)
			return err
		}, 0, 0},
		{"COPY into INBOX", func() error {
			_, err := s.Copy(ctx, a.ID, inbox.ID, []uint32{3}, "INBOX", false)
			return err
		}, 1, EventNewMessage},
		{"MOVE away", func() error {
			_, err := s.Copy(ctx, a.ID, inbox.ID, []uint32{4}, "Archive", true)
			return err
		}, 1, EventExpunge},
		{"EXPUNGE of nothing deleted", func() error {
			_, err := s.Expunge(ctx, a.ID, inbox.ID, nil)
			return err
		}, 0, 0},
		{"EXPUNGE", func() error {
			if _, err := s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{5}, FlagsAdd, FlagDeleted, nil); err != nil {
				return err
			}
			_, err := s.Expunge(ctx, a.ID, inbox.ID, nil)
			return err
		}, 2, EventExpunge},
	}
	before := highestModSeq(t, s, a, "INBOX")
	sub.Events()
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := highestModSeq(t, s, a, "INBOX")
		if after != before+st.steps {
			t.Errorf("%s: HIGHESTMODSEQ %d -> %d, want +%d", st.name, before, after, st.steps)
		}
		var last *Event
		for _, e := range sub.Events() {
			if e.MailboxID != inbox.ID {
				continue
			}
			if e.ModSeq <= before || e.ModSeq > after {
				t.Errorf("%s: event %+v outside (%d, %d]", st.name, e, before, after)
			}
			last = &e
		}
		switch {
		case st.kind == 0 && last != nil:
			t.Errorf("%s: unexpected event %+v", st.name, *last)
		case st.kind != 0 && (last == nil || last.Kind != st.kind || last.ModSeq != after):
			t.Errorf("%s: last event %+v, want kind %d at MODSEQ %d", st.name, last, st.kind, after)
		}
		before = after
	}
	// Each message's MODSEQ is at most HIGHESTMODSEQ; the tombstones of
	// the move and the expunge carry their events' MODSEQ.
	all, _ := s.ChangedSince(ctx, inbox.ID, 0, nil)
	for _, m := range all {
		if m.ModSeq > before {
			t.Errorf("message %d at MODSEQ %d above HIGHESTMODSEQ %d", m.UID, m.ModSeq, before)
		}
	}
	if got, _ := s.VanishedSince(ctx, inbox.ID, before-1); !slices.Equal(got, []uint32{5}) {
		t.Errorf("vanished at the last MODSEQ: %v, want [5]", got)
	}
}

// Two devices store flags on the same messages. The phone's conditional
// STORE (UNCHANGEDSINCE its last MODSEQ) must not overwrite what the
// laptop changed in between: that message comes back as modified, the
// others are changed and get a new MODSEQ.
func TestAConditionalStoreLeavesWhatChangedMeanwhile(t *testing.T) {
	s, a, inbox := condstoreBox(t, 4)
	ctx := context.Background()
	synced := highestModSeq(t, s, a, "INBOX")
	// The laptop flags message 2 and reads message 4.
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{2}, FlagsAdd, FlagFlagged, nil)
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{4}, FlagsAdd, FlagSeen, nil)
	laptop := highestModSeq(t, s, a, "INBOX")

	tests := []struct {
		name           string
		uids           []uint32
		op             FlagOp
		f              Flags
		unchangedSince int64
		changed        []uint32
		modified       []uint32
		newModSeq      bool
	}{
		{"the phone marks 1:4 seen", []uint32{4, 3, 2, 1, 1}, FlagsAdd, FlagSeen, synced, []uint32{1, 3}, []uint32{2, 4}, true},
		{"the phone, told, stores again from the laptop's MODSEQ", []uint32{2}, FlagsAdd, FlagSeen, laptop, []uint32{2}, nil, true},
		{"a STORE that changes nothing passes and keeps the MODSEQ", []uint32{4}, FlagsAdd, FlagSeen, laptop, []uint32{4}, nil, false},
		{"no condition (0)", []uint32{1, 2}, FlagsRemove, FlagSeen, 0, []uint32{1, 2}, nil, true},
		{"missing UIDs are in neither list", []uint32{77}, FlagsAdd, FlagSeen, 1, nil, nil, false},
	}
	for _, tt := range tests {
		before := highestModSeq(t, s, a, "INBOX")
		changed, modified, err := s.UpdateFlagsUnchangedSince(ctx, a.ID, inbox.ID, tt.uids, tt.op, tt.f, nil, tt.unchangedSince)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		after := highestModSeq(t, s, a, "INBOX")
		if !slices.Equal(uidsOf(changed), tt.changed) || !slices.Equal(modified, tt.modified) {
			t.Errorf("%s: changed %v modified %v, want %v and %v", tt.name, uidsOf(changed), modified, tt.changed, tt.modified)
		}
		if got := after > before; got != tt.newModSeq {
			t.Errorf("%s: HIGHESTMODSEQ %d -> %d", tt.name, before, after)
		}
		for _, m := range changed {
			now, _ := s.ChangedSince(ctx, inbox.ID, 0, []uint32{m.UID})
			if len(now) != 1 || now[0].ModSeq != m.ModSeq || now[0].Flags != m.Flags {
				t.Errorf("%s: returned %+v, stored %+v", tt.name, m, now)
			}
			if tt.newModSeq && m.ModSeq != after { // every one here changed
				t.Errorf("%s: message %d at %d, HIGHESTMODSEQ %d", tt.name, m.UID, m.ModSeq, after)
			}
		}
	}
	// The laptop's \Flagged on 2 survived the phone's STOREs.
	if got, _ := s.ChangedSince(ctx, inbox.ID, 0, []uint32{2}); len(got) != 1 || got[0].Flags&FlagFlagged == 0 {
		t.Errorf("message 2: %+v", got)
	}
	// Another account's mailbox is not found.
	other := newAccount(t, s, "someone@example.test")
	if _, _, err := s.UpdateFlagsUnchangedSince(ctx, other.ID, inbox.ID, []uint32{1}, FlagsAdd, FlagSeen, nil, 0); err != ErrNotFound {
		t.Errorf("another account's STORE: %v", err)
	}
}

// A big mailbox's in-memory flags (flagcache.go) follow conditional
// STOREs as they follow plain ones.
func TestTheFlagCacheFollowsAConditionalStore(t *testing.T) {
	s := openTemp(t)
	a := newAccount(t, s, "me@example.test")
	fillMailbox(t, s, a.ID, flagCacheMin+10)
	ctx := context.Background()
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	all := make([]uint32, flagCacheMin+10)
	for i := range all {
		all[i] = uint32(i + 1)
	}
	load := func() map[uint32]Flags {
		m := map[uint32]Flags{}
		if err := s.LoadFlags(ctx, inbox.ID, all, func(fs []MessageFlags) error {
			for _, f := range fs {
				m[f.UID] = f.Flags
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	load() // builds the cache entry
	changed, modified, err := s.UpdateFlagsUnchangedSince(ctx, a.ID, inbox.ID, []uint32{1, 2}, FlagsAdd, FlagFlagged, nil, inbox.ModSeq)
	if err != nil || len(changed) != 2 || len(modified) != 0 {
		t.Fatalf("%v %v %v", changed, modified, err)
	}
	if f := load(); f[1]&FlagFlagged == 0 || f[2]&FlagFlagged == 0 || f[3]&FlagFlagged != 0 {
		t.Errorf("cached flags after the STORE: 1=%v 2=%v 3=%v", f[1], f[2], f[3])
	}
}

// More changes than changedSinceByIndex come from a walk of the mailbox,
// in UID order like the few read by the MODSEQ index.
func TestManyChangesSinceAnOldModSeq(t *testing.T) {
	s := openTemp(t)
	a := newAccount(t, s, "me@example.test")
	n := changedSinceByIndex + 100
	fillMailbox(t, s, a.ID, n)
	ctx := context.Background()
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{7, 3}, FlagsAdd, FlagFlagged, nil)
	for _, tt := range []struct {
		since int64
		uids  []uint32
		want  int
	}{
		{1, nil, n},
		{2, nil, n - 1},
		{inbox.ModSeq, nil, 2},
		{1, []uint32{uint32(n), 1, 7, 1}, 3},
	} {
		got, err := s.ChangedSince(ctx, inbox.ID, tt.since, tt.uids)
		if err != nil || len(got) != tt.want || !slices.IsSortedFunc(got, cmpChangedUID) {
			t.Errorf("since %d: %d messages (%v), want %d in UID order", tt.since, len(got), err, tt.want)
		}
	}
}

// Tombstones older than vanishedKeep are compacted away; a client that
// synced before then is told every UID that is not there (a superset),
// one that synced after gets the exact list.
func TestOldTombstonesAreCompactedBelowAFloor(t *testing.T) {
	s, a, inbox := condstoreBox(t, 10)
	ctx := context.Background()
	start := highestModSeq(t, s, a, "INBOX")
	expunge := func(uids ...uint32) {
		t.Helper()
		if _, err := s.UpdateFlags(ctx, a.ID, inbox.ID, uids, FlagsAdd, FlagDeleted, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Expunge(ctx, a.ID, inbox.ID, uids); err != nil {
			t.Fatal(err)
		}
	}
	expunge(2, 3)
	mid := highestModSeq(t, s, a, "INBOX")
	// Those two were expunged long ago.
	old := time.Now().Add(-vanishedKeep - vanishedSlack - time.Hour).Unix()
	if err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "UPDATE expunged SET at = ? WHERE mailbox_id = ?", old, inbox.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.VanishedSince(ctx, inbox.ID, start); !slices.Equal(got, []uint32{2, 3}) {
		t.Fatalf("before compaction: %v", got)
	}
	expunge(7) // the next removal compacts
	floor, err := s.VanishedFloor(ctx, inbox.ID)
	if err != nil || floor != mid {
		t.Errorf("floor %d (%v), want %d", floor, err, mid)
	}
	if got, _ := s.VanishedSince(ctx, inbox.ID, mid); !slices.Equal(got, []uint32{7}) {
		t.Errorf("since the floor: %v, want [7]", got)
	}
	// Below the floor: every UID under UIDNEXT (11) not in the mailbox.
	if got, _ := s.VanishedSince(ctx, inbox.ID, start); !slices.Equal(got, []uint32{2, 3, 7}) {
		t.Errorf("below the floor: %v, want [2 3 7]", got)
	}
	s.Append(ctx, a.ID, "INBOX", []byte("Subject: new\r\n\r\nx\r\n"), 0, nil, time.Now())
	expunge(1, 10)
	if got, _ := s.VanishedSince(ctx, inbox.ID, 0); !slices.Equal(got, []uint32{1, 2, 3, 7, 10}) {
		t.Errorf("since 0, below the floor: %v", got)
	}
	if _, err := s.VanishedSince(ctx, 12345, 0); err != ErrNotFound {
		t.Errorf("no such mailbox: %v", err)
	}
}

// Tombstones go with their mailbox, and with INBOX's UIDVALIDITY when
// INBOX is renamed; the renamed mailbox's HIGHESTMODSEQ covers the
// MODSEQs its messages brought along.
func TestTombstonesGoWithTheirMailbox(t *testing.T) {
	s, a, inbox := condstoreBox(t, 3)
	ctx := context.Background()
	count := func() int {
		var n int
		if err := s.rdb.QueryRow("SELECT count(*) FROM expunged").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := s.Copy(ctx, a.ID, inbox.ID, []uint32{1}, "Archive", true); err != nil {
		t.Fatal(err)
	}
	archive, _ := s.MailboxByName(ctx, a.ID, "Archive")
	if _, err := s.Copy(ctx, a.ID, archive.ID, []uint32{1}, "Trash", true); err != nil {
		t.Fatal(err)
	}
	if count() != 2 {
		t.Fatalf("%d tombstones, want 2", count())
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	if count() != 1 {
		t.Errorf("%d tombstones after deleting Archive, want INBOX's 1", count())
	}
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{2}, FlagsAdd, FlagSeen, nil)
	top := highestModSeq(t, s, a, "INBOX")
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Errorf("%d tombstones after renaming INBOX, want 0", count())
	}
	if got := highestModSeq(t, s, a, "Old"); got < top {
		t.Errorf("Old's HIGHESTMODSEQ %d below its messages' %d", got, top)
	}
	if err := s.RemoveAccount(ctx, a.Email); err != nil {
		t.Fatal(err)
	}
}

// A database made before schema 17 gets an index and tombstone table, and
// each mailbox's floor at its MODSEQ: nothing is known of earlier removals.
func TestMigration17SetsTheFloorOfExistingMailboxes(t *testing.T) {
	skipOnPG(t, "replays SQLite migrations on the SQLite file; PostgreSQL starts at schema 27")
	dir := t.TempDir()
	ctx := context.Background()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "old@example.test")
	s.Append(ctx, a.ID, "INBOX", []byte("Subject: x\r\n\r\nx\r\n"), 0, nil, time.Now())
	s.Append(ctx, a.ID, "INBOX", []byte("Subject: y\r\n\r\ny\r\n"), 0, nil, time.Now())
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1}, FlagsAdd, FlagDeleted, nil)
	s.Expunge(ctx, a.ID, inbox.ID, nil)
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(undoSchema17 + "PRAGMA user_version = 16"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = testOpen(ctx, dir, testOptions); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inbox, _ = s.MailboxByName(ctx, a.ID, "INBOX")
	if floor, err := s.VanishedFloor(ctx, inbox.ID); err != nil || floor != inbox.ModSeq {
		t.Errorf("floor %d (%v), want the MODSEQ %d", floor, err, inbox.ModSeq)
	}
	if got, _ := s.VanishedSince(ctx, inbox.ID, 1); !slices.Equal(got, []uint32{1}) {
		t.Errorf("vanished since 1: %v, want the superset [1]", got)
	}
}

// BenchmarkChangedSince100k: CHANGEDSINCE on a 100,000-message INBOX.
//
//	go test -run '^$' -bench ChangedSince100k ./internal/store/
func BenchmarkChangedSince100k(b *testing.B) {
	s := openTemp(b)
	a := newAccount(b, s, "me@example.test")
	const n = 100_000
	fillMailbox(b, s, a.ID, n)
	ctx := context.Background()
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	since := inbox.ModSeq
	for i := range 10 {
		if _, err := s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{uint32(i*9000 + 1)}, FlagsAdd, FlagFlagged, nil); err != nil {
			b.Fatal(err)
		}
	}
	all := make([]uint32, n)
	for i := range all {
		all[i] = uint32(i + 1)
	}
	for _, bc := range []struct {
		name  string
		since int64
		uids  []uint32
		want  int
	}{
		{"10changes", since, nil, 10},
		{"10changes-uids1:*", since, all, 10},
		{"10changes-uids100", since, all[:100], 1},
		{"all", 0, nil, n},
		{"since1", 1, nil, n}, // past changedSinceByIndex: walks the mailbox
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				got, err := s.ChangedSince(ctx, inbox.ID, bc.since, bc.uids)
				if err != nil || len(got) != bc.want {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}

// The MODSEQ index is partial so that SQLite takes it only for a query
// that compares modseq: the scans of a whole mailbox that rely on UID
// order (SELECT, the flag cache, STATUS) keep the (mailbox_id, uid) one.
func TestTheModSeqIndexServesOnlyModSeqQueries(t *testing.T) {
	skipOnPG(t, "reads SQLite's EXPLAIN QUERY PLAN")
	s := openTemp(t)
	a := newAccount(t, s, "me@example.test")
	fillMailbox(t, s, a.ID, 100)
	inbox, _ := s.MailboxByName(context.Background(), a.ID, "INBOX")
	plan := func(q string, args ...any) string {
		rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			out += detail + "; "
		}
		return out
	}
	for _, q := range []string{
		"SELECT group_concat(uid, ','), " + flagAggregates + " FROM messages WHERE mailbox_id = ?",
		"SELECT count(*), coalesce(sum(flags & 1 = 0), 0), coalesce(sum(size), 0) FROM messages WHERE mailbox_id = ?",
		"SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox_id = ? ORDER BY uid",
	} {
		if p := plan(q, inbox.ID); !strings.Contains(p, "sqlite_autoindex_messages_1") {
			t.Errorf("%s\nplan: %s", q, p)
		}
	}
	if p := plan("SELECT uid FROM messages INDEXED BY messages_modseq WHERE mailbox_id = ? AND modseq > ?", inbox.ID, 5); !strings.Contains(p, "messages_modseq") {
		t.Errorf("CHANGEDSINCE plan: %s", p)
	}
}
