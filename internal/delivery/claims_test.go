package delivery

import (
	"context"
	"errors"
	"testing"
	"time"

	"boxmail/internal/store"
)

// An entry another node claimed is left alone until its lease ends; then
// this node delivers it, and the other node's late result is refused.
func TestAnEntryClaimedByAnotherNodeWaitsForItsLeaseToEnd(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	f := newQueueFixture(t, portOf(r.addr),
		"friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1")
	ctx := context.Background()
	f.q.Shutdown(ctx)
	f.send(t, "me@example.net", "anna@friends.example")
	claimed, err := f.st.QueueClaim(ctx, "other-node", f.clock(), time.Minute, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %+v, %v", claimed, err)
	}
	// The loop's steps run by hand: Start, on SQLite, frees every claim
	// (the only node's, after a crash).
	f.build(f.q.o)
	f.q.runDue()
	f.q.wg.Wait()
	if got := r.messages(); len(got) != 0 {
		t.Fatalf("delivered while another node held the claim: %+v", got)
	}
	f.advance(2 * time.Minute) // the other node's lease ends
	f.q.runDue()
	f.q.wg.Wait()
	if got, q := r.messages(), f.queue(t); len(got) != 1 || len(q) != 0 {
		t.Fatalf("remote got %d messages, want 1; queue %+v", len(got), q)
	}
	f.q.Start() // for the cleanup's Shutdown
	err = f.st.QueueResult(ctx, claimed[0].ID, store.QueueOutcome{Done: claimed[0].Recipients, Owner: "other-node"})
	if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("the other node's late result: %v", err)
	}
}

// Entries claimed but not started (no connection free) are given back at
// once, not held until their lease ends.
func TestClaimsBeyondTheConnectionLimitAreReleased(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	f := newQueueFixture(t, portOf(r.addr),
		"friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1",
		"pals.example. MX 10 mx.friends.example.")
	ctx := context.Background()
	f.q.Shutdown(ctx)
	f.send(t, "me@example.net", "anna@friends.example", "bob@pals.example")
	o := f.q.o
	o.MaxConnections = 1
	f.build(o)
	f.q.runDue() // one domain gets the connection, the other is released
	f.q.wg.Wait()
	if n := len(r.messages()); n != 1 {
		t.Fatalf("remote got %d messages, want 1", n)
	}
	left, err := f.st.QueueClaim(ctx, "other-node", f.clock(), time.Minute, 10)
	if err != nil || len(left) != 1 {
		t.Fatalf("the entry not started is not free: %+v, %v", left, err)
	}
	f.q.Start() // for the cleanup's Shutdown
}
