package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"boxmail/internal/store"
)

func TestWorkQueueRunsUrgentFirstAndEveryTask(t *testing.T) {
	q := newWorkQueue(context.Background(), 1)
	var mu sync.Mutex
	var order []string
	block := make(chan struct{})
	q.add(false, func(context.Context, *bufs) error { <-block; return nil }) // holds the one worker
	for _, s := range []string{"n1", "n2"} {
		q.add(false, func(context.Context, *bufs) error { mu.Lock(); order = append(order, s); mu.Unlock(); return nil })
	}
	q.add(true, func(context.Context, *bufs) error { mu.Lock(); order = append(order, "u1"); mu.Unlock(); return nil })
	close(block)
	if err := q.wait(); err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 || order[0] != "u1" {
		t.Fatalf("order %v, want u1 first of 3", order)
	}
}

func TestWorkQueueStopsAtTheFirstError(t *testing.T) {
	q := newWorkQueue(context.Background(), 2)
	bad := errors.New("bad")
	q.add(false, func(context.Context, *bufs) error { return bad })
	if err := q.wait(); !errors.Is(err, bad) {
		t.Fatalf("wait: %v, want %v", err, bad)
	}
	ran := false
	q2 := newWorkQueue(context.Background(), 1)
	q2.add(false, func(context.Context, *bufs) error { return bad })
	q2.add(false, func(context.Context, *bufs) error { ran = true; return nil })
	if err := q2.wait(); !errors.Is(err, bad) || ran {
		t.Fatalf("wait: %v (later task ran: %v)", err, ran)
	}
}

func TestWorkQueueEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	q := newWorkQueue(ctx, 2)
	cancel()
	if err := q.wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait: %v, want context.Canceled", err)
	}
}

// A body file being written when the run lists bodies/ (a delivery in
// flight, its row not committed) is read beside the database copy, but
// the snapshot names only the body files the copy references.
func TestSnapshotNamesOnlyTheBodiesOfItsDatabase(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	s, tg, ids := b.setUp(t)
	stray := filepath.Join(b.dir, store.BodiesDir, "00112233445566778899aabbccddeeff")
	if err := os.WriteFile(stray, []byte("half a message"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.run(t, s, tg)
	m, err := ReadManifest(ctx, tg, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	bodies := 0
	for _, f := range m.Files {
		if f.Path == store.BodiesDir+"/"+filepath.Base(stray) {
			t.Errorf("the snapshot names %s, which its database does not reference", f.Path)
		}
		if strings.HasPrefix(f.Path, store.BodiesDir+"/") {
			bodies++
		}
	}
	if bodies != 2 { // the 5000-byte and the 3-chunk message
		t.Errorf("%d body files in the snapshot, want 2", bodies)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(ctx, RestoreOptions{Target: tg, Identities: ids, Dir: dir}); err != nil {
		t.Fatal(err)
	}
}
