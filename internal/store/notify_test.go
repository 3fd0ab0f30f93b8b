package store

import (
	"context"
	"testing"
	"time"

	"boxmail/internal/testutil/pgtest"
)

func TestNotifyNamesEachAccountOnce(t *testing.T) {
	got := notifyAccounts([]Event{{AccountID: 7}, {AccountID: 3}, {AccountID: 7}, {AccountID: 12}})
	if got != "7,3,12" {
		t.Errorf("notifyAccounts = %q", got)
	}
}

func TestTheListenerWakesOnlyForWatchedAccounts(t *testing.T) {
	l := newListener()
	watched := func(a int64) bool { return a == 2 }
	l.wake(1)
	if l.take(watched) {
		t.Error("woken for an account nobody watches")
	}
	l.wake(1)
	l.wake(2)
	if !l.take(watched) || l.take(watched) {
		t.Error("a watched account's note was not taken exactly once")
	}
	l.wake(0)
	if !l.take(watched) {
		t.Error("wake-everyone was not taken")
	}
}

// The SQLite store never listens: its watcher polls as before.
func TestSQLiteHasNoListener(t *testing.T) {
	if pgtest.Enabled() {
		t.Skip("SQLite only")
	}
	s := openTemp(t)
	if l := s.startListener(context.Background()); l != nil || s.chlog.every != changePollEvery {
		t.Errorf("listener %v, poll every %v", l, s.chlog.every)
	}
}

// twoNodes is twoProcesses on PostgreSQL only, with the watcher's poll
// off: whatever reaches srv's subscribers came through LISTEN/NOTIFY.
func twoPGNodes(t *testing.T) (cli, srv *Store, a Account) {
	t.Helper()
	if !pgtest.Enabled() {
		t.Skip("LISTEN/NOTIFY: PostgreSQL only (BOXMAIL_TEST_PG=1)")
	}
	return twoProcesses(t, time.Hour)
}

// listening waits until srv's listener is up.
func listening(t *testing.T, srv *Store) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.chlog.mu.Lock()
		up := srv.chlog.listener != nil && srv.chlog.listener.up.Load()
		srv.chlog.mu.Unlock()
		if up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener did not connect within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestANotificationWakesTheOtherNodesSubscriberAtOnce(t *testing.T) {
	cli, srv, a := twoPGNodes(t)
	ctx := context.Background()
	sub := srv.Subscribe(a.ID)
	defer sub.Close()
	listening(t, srv)
	msg := Delivery{Data: []byte("Subject: x\r\n\r\nhello\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}
	start := time.Now()
	if err := cli.Deliver(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if got := waitEvents(t, sub, 1); got[0].UID != 1 {
		t.Fatalf("events = %+v", got)
	}
	// The other node polls once an hour here: an event at all is the
	// notification's doing. How fast is a measurement, not a test.
	t.Logf("delivery on one node to event on the other: %v", time.Since(start))
}

func TestAfterALostListenerConnectionEverySubscriberResyncs(t *testing.T) {
	cli, srv, a := twoPGNodes(t)
	ctx := context.Background()
	sub := srv.Subscribe(a.ID)
	defer sub.Close()
	listening(t, srv)
	// Cut the listener's connection, and deliver before it is back.
	if _, err := cli.wdb.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN "+notifyChannel+"'"); err != nil {
		t.Fatal(err)
	}
	msg := Delivery{Data: []byte("Subject: x\r\n\r\nhello\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}
	for range 3 {
		if err := cli.Deliver(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if got := waitEvents(t, sub, 3); got[0].UID != 1 || got[2].UID != 3 {
		t.Fatalf("events = %+v", got)
	}
	listening(t, srv)
}
