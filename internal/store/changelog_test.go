package store

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestTheChangeLogEncodingKeepsEveryEventAndPacksRuns(t *testing.T) {
	var events []Event
	// A delivery batch: consecutive UIDs, ModSeq stepping by one.
	for i := range 1000 {
		events = append(events, Event{Kind: EventNewMessage, AccountID: 3, MailboxID: 7, UID: uint32(10 + i), ModSeq: int64(40 + i), Flags: FlagRecent})
	}
	// A STORE: one ModSeq, with keywords; then a gap in the UIDs.
	for _, u := range []uint32{5, 6, 7, 9} {
		events = append(events, Event{Kind: EventFlags, AccountID: 3, MailboxID: 7, UID: u, ModSeq: 1040, Flags: FlagSeen, Keywords: []string{"$Label1", "Ünïcode"}})
	}
	events = append(events,
		Event{Kind: EventExpunge, AccountID: 3, MailboxID: 7, UID: 5, ModSeq: 1041},
		Event{Kind: EventExpunge, AccountID: 3, MailboxID: 7, UID: 6, ModSeq: 1041},
		Event{Kind: EventMailboxes, AccountID: 3},
		Event{Kind: EventAccountRemoved, AccountID: 4},
		Event{Kind: EventNewMessage, AccountID: 3, MailboxID: 8, UID: 1, ModSeq: 2}, // ModSeq steps by 2: no run
		Event{Kind: EventNewMessage, AccountID: 3, MailboxID: 8, UID: 2, ModSeq: 4},
	)
	b := encodeEvents(nil, events)
	if len(b) > 160 {
		t.Errorf("%d events take %d bytes", len(events), len(b))
	}
	got, err := decodeEvents(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, events) {
		t.Errorf("decoded events differ:\n%+v\nwant\n%+v", got[1000:], events[1000:])
	}
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-3], append(slices.Clone(b[:1]), 0xff)} {
		if _, err := decodeEvents(bad); err == nil {
			t.Errorf("decodeEvents(%x) took a broken row", bad)
		}
	}
}

// twoProcesses opens two stores on one database, as `boxmail serve` and a
// `boxmail migrate import` beside it do; the second one watches every poll
// (a long poll leaves the merging to the writer).
func twoProcesses(t *testing.T, poll time.Duration) (cli, srv *Store, a Account) {
	t.Helper()
	dir := t.TempDir()
	open := func() *Store {
		s, err := testOpen(context.Background(), dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	cli, srv = open(), open()
	srv.chlog.every = poll
	return cli, srv, newAccount(t, cli, "family@example.test")
}

// waitEvents returns the next events of sub, failing after two seconds.
func waitEvents(t *testing.T, sub *Subscription, n int) []Event {
	t.Helper()
	var got []Event
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case <-sub.C:
			got = append(got, sub.Events()...)
		case <-deadline:
			t.Fatalf("after 2 s, %d of %d events: %+v", len(got), n, got)
		}
	}
	return got
}

func TestAChangeByAnotherProcessWakesASubscriberWithinTwoSeconds(t *testing.T) {
	cli, srv, a := twoProcesses(t, 50*time.Millisecond)
	ctx := context.Background()
	sub := srv.Subscribe(a.ID)
	defer sub.Close()
	msg := Delivery{Data: []byte("Subject: imported\r\n\r\nhello\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}
	for range 2 {
		if err := cli.Deliver(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	got := waitEvents(t, sub, 2)
	if len(got) != 2 || got[0].Kind != EventNewMessage || got[0].UID != 1 || got[1].UID != 2 || got[0].Flags != FlagRecent {
		t.Fatalf("events = %+v", got)
	}
	inbox := got[0].MailboxID
	if _, err := cli.UpdateFlags(ctx, a.ID, inbox, []uint32{1, 2}, FlagsAdd, FlagSeen|FlagDeleted, []string{"$Junk"}); err != nil {
		t.Fatal(err)
	}
	got = waitEvents(t, sub, 2)
	if got[0].Kind != EventFlags || got[1].UID != 2 || got[1].Flags != FlagSeen|FlagDeleted|FlagRecent || !slices.Equal(got[1].Keywords, []string{"$Junk"}) {
		t.Fatalf("flag events = %+v", got)
	}
	if _, err := cli.Expunge(ctx, a.ID, inbox, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	if got = waitEvents(t, sub, 1); got[0].Kind != EventExpunge || got[0].UID != 2 {
		t.Fatalf("expunge events = %+v", got)
	}

	// The server's own write comes once, not again from the log.
	if err := srv.Deliver(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if got = waitEvents(t, sub, 1); len(got) != 1 || got[0].UID != 3 {
		t.Fatalf("own delivery: %+v", got)
	}
	time.Sleep(200 * time.Millisecond)
	if got := sub.Events(); len(got) != 0 {
		t.Errorf("own delivery published again: %+v", got)
	}

	// No subscription, no watcher.
	sub.Close()
	if srv.chlog.mu.Lock(); srv.chlog.watching {
		t.Error("still watching after the last subscription closed")
	}
	srv.chlog.mu.Unlock()
}

func TestAnotherProcessesChangesComeBeforeTheNextOwnOneInCommitOrder(t *testing.T) {
	cli, srv, a := twoProcesses(t, time.Hour)
	ctx := context.Background()
	sub := srv.Subscribe(a.ID)
	defer sub.Close()
	msg := Delivery{Data: []byte("Subject: x\r\n\r\nhello\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}
	for _, s := range []*Store{cli, cli, srv} { // UIDs 1 and 2 elsewhere, then 3 here
		if err := s.Deliver(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	got := waitEvents(t, sub, 3)
	var uids []uint32
	for _, e := range got {
		uids = append(uids, e.UID)
	}
	if !slices.Equal(uids, []uint32{1, 2, 3}) {
		t.Errorf("UIDs published in the order %v", uids)
	}
}

func TestTheWriterTrimsOldChangeLogRows(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	old := time.Now().Add(-changeLogKeep - time.Minute).Unix()
	if err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "INSERT INTO change_log(writer, at, events) VALUES(1, ?, ?), (1, ?, ?)", old, []byte{1}, old, []byte{1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "me@example.test")
	for range trimEvery {
		if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nhello\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	var n, total int
	if err := s.rdb.QueryRow("SELECT count(*) FILTER (WHERE at < ?), count(*) FROM change_log", old+1).Scan(&n, &total); err != nil {
		t.Fatal(err)
	}
	if n != 0 || total == 0 {
		t.Errorf("%d old rows left of %d", n, total)
	}
}

// BenchmarkDeliverBlob with a subscriber, so that the watcher runs and the
// writer orders its publishing with it (compare with BenchmarkDeliverBlob).
func BenchmarkDeliverWhileWatching(b *testing.B) {
	s, accounts := benchAccounts(b)
	sub := s.Subscribe(newAccount(b, s, "idle@bench.test").ID)
	defer sub.Close()
	body := benchBody()
	ctx := context.Background()
	runWriters(b, s, accounts, func(_ int, account int64) error {
		return s.Deliver(ctx, Delivery{Data: body, Local: []LocalTarget{{AccountID: account}}})
	})
}
