package store

import (
	"context"
	"testing"
	"time"
)

func TestQueueStatsCountsEntriesAndTheOldest(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if n, oldest, err := s.QueueStats(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty queue: %d %v %v", n, oldest, err)
	}
	before := time.Now().Add(-time.Second)
	for range 3 {
		if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nx\r\n"), Sender: "me@example.test",
			Remote: []string{"a@one.example", "b@two.example"}}); err != nil {
			t.Fatal(err)
		}
	}
	n, oldest, err := s.QueueStats(ctx)
	if err != nil || n != 6 || oldest.Before(before) || oldest.After(time.Now()) {
		t.Errorf("queue stats: %d %v %v", n, oldest, err)
	}
}

// BenchmarkQueueStats is the store's part of a metrics scrape, with 100
// entries queued.
func BenchmarkQueueStats(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	for range 50 {
		if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nx\r\n"), Sender: "me@example.test",
			Remote: []string{"a@one.example", "b@two.example"}}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if n, _, err := s.QueueStats(ctx); err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}
