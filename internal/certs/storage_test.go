package certs

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// TestTwoNodesShareACMEStorageAndItsLocks: two store handles on one
// database (two nodes; PostgreSQL under BOXMAIL_TEST_PG=1) see each
// other's certificates, and a lock one holds keeps the other waiting
// until it is unlocked.
func TestTwoNodesShareACMEStorageAndItsLocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := newStoreStorage(testutil.StoreAt(t, dir, store.Options{}))
	b := newStoreStorage(testutil.StoreAt(t, dir, store.Options{}))
	a.retry, b.retry = 20*time.Millisecond, 20*time.Millisecond

	const crt = "certificates/ca/box.example.net/box.example.net.crt"
	if _, err := b.Load(ctx, crt); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("loading a missing key: %v, want fs.ErrNotExist", err)
	}
	for _, k := range []string{crt, "certificates/ca/box.example.net/box.example.net.key", "certificates/ca/other.example.net/other.example.net.crt", "acme/ca/users/me/me.json"} {
		if err := a.Store(ctx, k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := b.Load(ctx, crt); err != nil || string(v) != "value of "+crt {
		t.Fatalf("node b loads %q, %v", v, err)
	}
	if !b.Exists(ctx, crt) || !b.Exists(ctx, "certificates/ca") || b.Exists(ctx, "certificates/c") {
		t.Error("Exists: a key, a directory, a name cut short")
	}
	if ki, err := b.Stat(ctx, crt); err != nil || !ki.IsTerminal || ki.Size != int64(len("value of "+crt)) || time.Since(ki.Modified) > time.Hour {
		t.Errorf("Stat of a key: %+v %v", ki, err)
	}
	if ki, err := b.Stat(ctx, "certificates/ca"); err != nil || ki.IsTerminal {
		t.Errorf("Stat of a directory: %+v %v", ki, err)
	}
	if l, err := b.List(ctx, "certificates/ca", false); err != nil || !slices.Equal(l, []string{"certificates/ca/box.example.net", "certificates/ca/other.example.net"}) {
		t.Errorf("List: %q %v", l, err)
	}
	if l, err := b.List(ctx, "certificates", true); err != nil || len(l) != 3 {
		t.Errorf("List recursive: %q %v", l, err)
	}
	if err := b.Delete(ctx, "certificates/ca/box.example.net"); err != nil {
		t.Fatal(err)
	}
	if a.Exists(ctx, crt) || !a.Exists(ctx, "certificates/ca/other.example.net/other.example.net.crt") {
		t.Error("Delete of a directory: its keys stay, or another's went")
	}

	// Locks are exclusive across nodes.
	if err := a.Lock(ctx, "issue_cert_box.example.net"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := b.Lock(short, "issue_cert_box.example.net")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("node b took a lock node a holds: %v", err)
	}
	if err := b.Lock(ctx, "issue_cert_other.example.net"); err != nil {
		t.Fatalf("another name's lock: %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_box.example.net") }()
	if err := a.Unlock(ctx, "issue_cert_box.example.net"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("node b did not get the lock node a released")
	}
	for _, n := range []string{"issue_cert_box.example.net", "issue_cert_other.example.net"} {
		if err := b.Unlock(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
}

var _ SharedStore = (*store.Store)(nil)
