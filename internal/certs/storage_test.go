package certs

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"boxmail/internal/dnsrecords"
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

// sharedSQLite is a test store shared as PostgreSQL's is (two handles on
// one SQLite file stand for two nodes on one database).
type sharedSQLite struct{ *store.Store }

func (sharedSQLite) Shared() bool { return true }

// TestTwoNodesServeTheSamePairAndStagedKey: each node of a box starts
// with its own self-signed pair; once they share a store the second
// serves the first one's (one TLSA for the box), a pair staged on one is
// staged on the other, and its removal too.
func TestTwoNodesServeTheSamePairAndStagedKey(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	st := t.TempDir()
	node := func() *Manager {
		dir := t.TempDir()
		m := New(Options{CertFile: filepath.Join(dir, "tls", "cert.pem"), KeyFile: filepath.Join(dir, "tls", "key.pem"),
			NextDir: filepath.Join(dir, "tls-next"), Hostname: "box.example.net"})
		if err := m.WriteSelfSigned("box.example.net"); err != nil {
			t.Fatal(err)
		}
		if err := m.Load(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := node(), node()
	leaf := func(m *Manager) string { l, _ := m.Leaf(); return dnsrecords.TLSAValue(l) }
	if leaf(a) == leaf(b) {
		t.Fatal("two self-signed pairs with one key")
	}
	first := leaf(a)
	a.Share(sharedSQLite{testutil.StoreAt(t, st, store.Options{})})
	b.Share(sharedSQLite{testutil.StoreAt(t, st, store.Options{})})
	if leaf(a) != first || leaf(b) != first {
		t.Fatalf("after sharing: node a serves %s, node b %s; want the first node's %s", leaf(a), leaf(b), first)
	}

	c, k := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	n, err := a.Stage(ctx, c, k)
	if err != nil {
		t.Fatal(err)
	}
	a.syncShared(true)
	b.syncShared(true)
	if got := b.NextTLSA(); got != n.TLSA {
		t.Fatalf("node b's staged TLSA %q, node a staged %q", got, n.TLSA)
	}
	if err := a.Unstage(); err != nil {
		t.Fatal(err)
	}
	a.syncShared(true)
	b.syncShared(true)
	if got := b.NextTLSA(); got != "" {
		t.Fatalf("node b still stages %q after node a removed it", got)
	}
	// A pair installed on node b reaches node a.
	c2, k2 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	if _, err := b.Install(ctx, c2, k2); err != nil {
		t.Fatal(err)
	}
	b.syncShared(true)
	a.syncShared(true)
	if err := a.reload(); err != nil {
		t.Fatal(err)
	}
	if leaf(a) != leaf(b) || leaf(a) == first {
		t.Fatalf("after an install on node b: node a serves %s, node b %s", leaf(a), leaf(b))
	}
}

// A lock is exclusive between the goroutines of one process too.
func TestALockIsExclusiveWithinANode(t *testing.T) {
	ctx := context.Background()
	a := newStoreStorage(testutil.Store(t))
	a.retry = 10 * time.Millisecond
	if err := a.Lock(ctx, "register"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := a.Lock(short, "register"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second goroutine of the node took a held lock: %v", err)
	}
	if err := a.Unlock(ctx, "register"); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(ctx, "register"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "register"); err != nil {
		t.Fatal(err)
	}
}
