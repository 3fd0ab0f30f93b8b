package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// twoNodes opens two stores on one database (one SQLite file, or one
// PostgreSQL database under BOXMAIL_TEST_PG=1): two nodes of a box.
func twoNodes(t *testing.T) (*Store, *Store) {
	t.Helper()
	dir := t.TempDir()
	var out [2]*Store
	for i := range out {
		s, err := testOpen(context.Background(), dir, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out[0], out[1]
}

func queueSome(t *testing.T, s *Store, rcpts ...string) {
	t.Helper()
	newAccount(t, s, "me@example.test")
	if err := s.Deliver(context.Background(), Delivery{Data: []byte("Subject: x\r\n\r\nx\r\n"), Sender: "me@example.test", Remote: rcpts}); err != nil {
		t.Fatal(err)
	}
}

func TestAQueueClaimIsTakenOnceUntilItsLeaseEnds(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	queueSome(t, a, "x@one.example", "y@two.example", "z@three.example")
	now := time.Now()
	if ok, err := b.QueueClaimable(ctx, now, "one.example", "two.example", "three.example"); ok || err != nil {
		t.Fatalf("claimable, every domain left out: %v %v", ok, err)
	}
	got, err := a.QueueClaim(ctx, "node-a", now, time.Minute, 10, "three.example")
	if err != nil || len(got) != 2 || got[0].Domain != "one.example" || got[1].Domain != "two.example" {
		t.Fatalf("claim a = %+v, %v", got, err)
	}
	// Node b sees only the entry a left out.
	other, err := b.QueueClaim(ctx, "node-b", now, time.Minute, 10)
	if err != nil || len(other) != 1 || other[0].Domain != "three.example" {
		t.Fatalf("claim b = %+v, %v", other, err)
	}
	if again, err := b.QueueClaim(ctx, "node-b", now, time.Minute, 10); err != nil || len(again) != 0 {
		t.Fatalf("claimed twice: %+v, %v", again, err)
	}
	if ok, err := b.QueueClaimable(ctx, now); ok || err != nil {
		t.Fatalf("claimable with every entry claimed: %v %v", ok, err)
	}
	if next, ok, err := b.NextQueueAttempt(ctx); !ok || err != nil || next.Before(now.Add(50*time.Second)) {
		t.Errorf("next attempt with every entry claimed for a minute: %v %v %v", next, ok, err)
	}
	// a renews one entry; after the leases end b takes a's other one (and
	// its own again).
	if lost, err := a.QueueExtend(ctx, "node-a", []int64{got[0].ID}, now.Add(time.Hour)); err != nil || len(lost) != 0 {
		t.Fatalf("extend = %v, %v", lost, err)
	}
	later := now.Add(2 * time.Minute)
	taken, err := b.QueueClaim(ctx, "node-b", later, time.Minute, 10)
	if err != nil || len(taken) != 2 || taken[0].ID != got[1].ID || taken[1].ID != other[0].ID {
		t.Fatalf("claim after expiry = %+v, %v", taken, err)
	}
	// a's result for the entry it lost is refused; b's is applied.
	if err := a.QueueResult(ctx, got[1].ID, QueueOutcome{Done: got[1].Recipients, Owner: "node-a"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("result of a lost lease: %v", err)
	}
	if lost, _ := a.QueueExtend(ctx, "node-a", []int64{got[1].ID}, later.Add(time.Hour)); len(lost) != 1 {
		t.Errorf("extending a lost claim: lost = %v", lost)
	}
	if err := b.QueueResult(ctx, got[1].ID, QueueOutcome{Done: got[1].Recipients, Owner: "node-b"}); err != nil {
		t.Fatal(err)
	}
	// A deferral ends the claim: the entry is free when next due.
	if err := a.QueueResult(ctx, got[0].ID, QueueOutcome{NextAttempt: now, LastError: "451", Owner: "node-a"}); err != nil {
		t.Fatal(err)
	}
	if free, _ := b.QueueClaim(ctx, "node-b", now, time.Minute, 10); len(free) != 1 || free[0].ID != got[0].ID {
		t.Errorf("deferred entry not free: %+v", free)
	}
	// Released claims are free at once.
	if err := b.QueueRelease(ctx, "node-b", []int64{got[0].ID, other[0].ID}); err != nil {
		t.Fatal(err)
	}
	if free, _ := a.QueueClaim(ctx, "node-a", now, time.Minute, 10); len(free) != 2 {
		t.Errorf("released entries: %+v", free)
	}
	if err := a.QueueReleaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	if free, _ := b.QueueClaim(ctx, "node-b", now, time.Minute, 10); len(free) != 2 {
		t.Errorf("after release all: %+v", free)
	}
}

func TestConcurrentClaimsNeverShareAnEntry(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	var rcpts []string
	for i := range 40 {
		rcpts = append(rcpts, "r@d"+string(rune('a'+i%26))+string(rune('a'+i/26))+".example")
	}
	queueSome(t, a, rcpts...)
	seen := map[int64]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := "node-" + string(rune('0'+i))
			for range 10 {
				got, err := s.QueueClaim(ctx, owner, time.Now(), time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, it := range got {
					if o, ok := seen[it.ID]; ok {
						t.Errorf("entry %d claimed by %s and %s", it.ID, o, owner)
					}
					seen[it.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Errorf("claimed %d of 40", len(seen))
	}
}

func TestALeaseHasOneOwnerUntilItEnds(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	if ok, err := a.TryLease(ctx, "reports", "a", time.Minute); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, err := b.TryLease(ctx, "reports", "b", time.Minute); ok || err != nil {
		t.Fatalf("b took a's lease: %v %v", ok, err)
	}
	if ok, err := a.TryLease(ctx, "reports", "a", time.Minute); !ok || err != nil {
		t.Fatalf("a renewing by TryLease: %v %v", ok, err)
	}
	if ok, err := b.RenewLease(ctx, "reports", "b", time.Minute); ok || err != nil {
		t.Fatalf("b renewed a's lease: %v %v", ok, err)
	}
	if err := b.ReleaseLease(ctx, "reports", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.TryLease(ctx, "reports", "b", time.Minute); ok {
		t.Fatal("b's release freed a's lease")
	}
	// An ended lease goes to the next taker.
	if ok, _ := a.TryLease(ctx, "short", "a", 50*time.Millisecond); !ok {
		t.Fatal("a: short")
	}
	time.Sleep(60 * time.Millisecond)
	if ok, _ := b.TryLease(ctx, "short", "b", time.Minute); !ok {
		t.Fatal("b could not take an ended lease")
	}
	if ok, _ := a.RenewLease(ctx, "short", "a", time.Minute); ok {
		t.Fatal("a renewed a lease it lost")
	}
	if err := a.ReleaseLease(ctx, "reports", "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.TryLease(ctx, "reports", "b", time.Minute); !ok {
		t.Fatal("b could not take a released lease")
	}
	if id := NewOwnerID(); id == NewOwnerID() || len(id) < 10 {
		t.Errorf("owner ids %q not unique", id)
	}
}

// A node that starts again after a crash frees its dead process's claims
// at once; another node's claims wait for their lease.
func TestARestartedNodeFreesItsOwnOldClaimsOnly(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	queueSome(t, a, "x@one.example", "y@two.example")
	now := time.Now()
	nodeA, nodeB := NodeID("/srv/a"), NodeID("/srv/b")
	if nodeA == nodeB || NodeID("/srv/a") != nodeA {
		t.Fatalf("node ids %q %q", nodeA, nodeB)
	}
	deadA, liveB := NewOwnerIDOf(nodeA), NewOwnerIDOf(nodeB)
	if got, err := a.QueueClaim(ctx, deadA, now, time.Hour, 1); err != nil || len(got) != 1 {
		t.Fatalf("claim by a: %+v %v", got, err)
	}
	if got, err := b.QueueClaim(ctx, liveB, now, time.Hour, 1); err != nil || len(got) != 1 {
		t.Fatalf("claim by b: %+v %v", got, err)
	}
	newA := NewOwnerIDOf(nodeA)
	if err := a.QueueReleaseNode(ctx, nodeA, newA); err != nil {
		t.Fatal(err)
	}
	got, err := a.QueueClaim(ctx, newA, now, time.Hour, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("after the restart node a claims %+v (%v), want its old entry only", got, err)
	}
}

// The sweep of shared body blobs runs on one node of several: a second
// node finds the lease held and does not sweep (on SQLite, one serving
// process, every call sweeps).
func TestTwoNodesNeverSweepTheBlobsAtOnce(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	if ran, err := a.SweepBodyBlobsAlone(ctx, "node-a", time.Minute); !ran || err != nil {
		t.Fatalf("a's sweep: ran=%v %v", ran, err)
	}
	ran, err := b.SweepBodyBlobsAlone(ctx, "node-b", time.Minute)
	if err != nil || ran != !a.Shared() {
		t.Fatalf("b's sweep while a holds the lease: ran=%v %v (shared store: %v)", ran, err, a.Shared())
	}
	if ran, err := a.SweepBodyBlobsAlone(ctx, "node-a", time.Minute); !ran || err != nil {
		t.Fatalf("a's next sweep: ran=%v %v", ran, err)
	}
}
