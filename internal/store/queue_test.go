package store

import (
	"context"
	"testing"
	"time"
)

func TestTheQueueKeepsOneEntryPerDomainUntilEveryRecipientIsDone(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nx\r\n"), Sender: "me@example.test",
		Remote: []string{"a@one.example", "b@two.example", "c@one.example"}})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := s.Queue(ctx)
	if len(q) != 2 || q[0].Domain != "one.example" || len(q[0].Recipients) != 2 || q[1].Domain != "two.example" {
		t.Fatalf("queue = %+v", q)
	}
	due, _ := s.DueQueue(ctx, time.Now(), 10)
	if len(due) != 2 {
		t.Fatalf("due = %d", len(due))
	}
	// a@ delivered, c@ deferred.
	later := time.Now().Add(time.Hour)
	if err := s.QueueResult(ctx, q[0].ID, QueueOutcome{Done: []string{"A@one.example"}, NextAttempt: later, LastError: "451 try later"}); err != nil {
		t.Fatal(err)
	}
	it, err := s.QueueItemByID(ctx, q[0].ID)
	if err != nil || len(it.Recipients) != 1 || it.Recipients[0] != "c@one.example" || it.Attempts != 1 || it.LastError != "451 try later" {
		t.Fatalf("after partial = %+v, %v", it, err)
	}
	if due, _ := s.DueQueue(ctx, time.Now(), 10); len(due) != 1 {
		t.Errorf("deferred entry still due")
	}
	if next, ok, _ := s.NextQueueAttempt(ctx); !ok || next.After(time.Now().Add(time.Second)) {
		t.Errorf("next attempt = %v %v", next, ok)
	}
	// b@ bounced: the entry goes and the bounce lands in the sender's inbox, atomically.
	bounce := &Delivery{Data: []byte("Subject: Undelivered\r\n\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}
	if err := s.QueueResult(ctx, q[1].ID, QueueOutcome{Done: []string{"b@two.example"}, Bounce: bounce}); err != nil {
		t.Fatal(err)
	}
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	if snap, _ := s.Snapshot(ctx, inbox.ID); len(snap) != 1 {
		t.Errorf("bounce not delivered")
	}
	if n, err := s.QueueRetry(ctx, 0); n != 1 || err != nil {
		t.Errorf("retry all = %d, %v", n, err)
	}
	if err := s.QueueRemove(ctx, q[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.Queue(ctx); len(q) != 0 {
		t.Errorf("queue not empty: %+v", q)
	}
	var bodies int
	s.rdb.QueryRow("SELECT count(*) FROM bodies").Scan(&bodies)
	if bodies != 1 {
		t.Errorf("%d bodies left; want only the bounce's", bodies)
	}
}
