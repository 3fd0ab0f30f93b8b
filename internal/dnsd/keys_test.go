package dnsd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// TestZSKRollover runs the key state machine over 200 days, one step
// every 10 minutes, and checks what a resolver could hold at once: a
// DNSKEY RRset cached at one moment and a signature fetched within the
// TTL of it (either way round) must always match; so no validation
// fails across the pre-published rollovers.
func TestZSKRollover(t *testing.T) {
	ctx := context.Background()
	ks := testutil.Store(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	zk, err := loadOrCreateKeys(ctx, ks, "", "example.net.", start)
	if err != nil {
		t.Fatal(err)
	}
	ksk := zk.KSK().pub.KeyTag()
	type moment struct {
		at     time.Time
		keys   map[uint16]bool // the DNSKEY RRset served
		signer uint16          // the ZSK signing
	}
	var hist []moment
	const step = 10 * time.Minute
	rolls := 0
	prev := zk.ZSK().pub.KeyTag()
	for now := start; now.Before(start.Add(200 * 24 * time.Hour)); now = now.Add(step) {
		changed, err := zk.advance(now)
		if err != nil {
			t.Fatal(err)
		}
		if changed {
			if err := zk.save(ctx, ks); err != nil {
				t.Fatal(err)
			}
			if zk, err = ReadKeys(ctx, ks, "", "example.net."); err != nil { // as after a restart
				t.Fatal(err)
			}
		}
		m := moment{at: now, keys: map[uint16]bool{}, signer: zk.ZSK().pub.KeyTag()}
		for _, k := range zk.Keys {
			m.keys[k.pub.KeyTag()] = true
		}
		if !m.keys[ksk] || zk.KSK().pub.KeyTag() != ksk {
			t.Fatalf("%s: the KSK changed", now)
		}
		if len(zk.Keys) > 3 {
			t.Fatalf("%s: %d keys", now, len(zk.Keys))
		}
		if m.signer != prev {
			rolls++
			prev = m.signer
		}
		hist = append(hist, m)
	}
	if rolls != 2 {
		t.Fatalf("%d ZSK rollovers in 200 days, want 2 (every 90 days)", rolls)
	}
	ttl := keyTTL * time.Second
	for i, a := range hist {
		for j := i; j < len(hist) && hist[j].at.Sub(a.at) <= ttl; j++ {
			b := hist[j]
			if !a.keys[b.signer] {
				t.Fatalf("DNSKEY RRset cached at %s lacks the ZSK %d signing at %s", a.at, b.signer, b.at)
			}
			if !b.keys[a.signer] {
				t.Fatalf("signature made at %s by %d, DNSKEY RRset fetched at %s lacks it", a.at, a.signer, b.at)
			}
		}
	}
}

// TestServerRollsTheZSK drives the server's clock through a rollover:
// the new ZSK is published before it signs, and the old one stays
// published while its signatures may be cached.
func TestServerRollsTheZSK(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	move := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	ts := startTestServer(t, func(o *Options) { signing(t, o); o.Now = clock })
	state := func() (keys map[uint16]bool, mxSigner uint16) {
		t.Helper()
		keys = map[uint16]bool{}
		for _, rr := range ts.queryDO(t, "example.net.", dns.TypeDNSKEY).Answer {
			if k, ok := rr.(*dns.DNSKEY); ok {
				keys[k.KeyTag()] = true
			}
		}
		for _, rr := range ts.queryDO(t, "example.net.", dns.TypeMX).Answer {
			if s, ok := rr.(*dns.RRSIG); ok {
				mxSigner = s.KeyTag
			}
		}
		return keys, mxSigner
	}
	step := func(d time.Duration) (map[uint16]bool, uint16) {
		t.Helper()
		move(d)
		if err := ts.srv.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		return state()
	}
	keys0, zsk0 := state()
	if len(keys0) != 2 || !keys0[zsk0] {
		t.Fatalf("start: %v signed by %d", keys0, zsk0)
	}
	keys1, signer := step(zskLifetime + time.Minute)
	if len(keys1) != 3 || signer != zsk0 {
		t.Fatalf("after 90 days: keys %v, MX signed by %d; want a third key published, the old ZSK signing", keys1, signer)
	}
	keys2, zsk1 := step(publishWait + time.Minute)
	if zsk1 == zsk0 || len(keys2) != 3 || !keys2[zsk0] || !keys1[zsk1] {
		t.Fatalf("after the publish wait: keys %v, MX signed by %d (old %d)", keys2, zsk1, zsk0)
	}
	keys3, signer := step(retireWait + time.Minute)
	if len(keys3) != 2 || keys3[zsk0] || signer != zsk1 {
		t.Fatalf("after the retire wait: keys %v, signed by %d", keys3, signer)
	}
}

// tags are the key tags of a DNSKEY answer.
func tags(keys map[uint16]*dns.DNSKEY) []uint16 {
	out := make([]uint16, 0, len(keys))
	for tag := range keys {
		out = append(out, tag)
	}
	slices.Sort(out)
	return out
}

// TestTwoNodesSignWithTheSameKeys: two servers on one store (two nodes
// of a box on PostgreSQL) publish the same DNSKEY RRset, and a KSK
// rollover started through one is served by both.
func TestTwoNodesSignWithTheSameKeys(t *testing.T) {
	st := testutil.Store(t)
	node := func() *testServer {
		return startTestServer(t, func(o *Options) { o.RateLimit, o.Keys = -1, st })
	}
	a, b := node(), node()
	ka, kb := zoneKeys(t, a), zoneKeys(t, b)
	if !slices.Equal(tags(ka), tags(kb)) {
		t.Fatalf("node a publishes keys %v, node b %v", tags(ka), tags(kb))
	}
	if err := a.request(RequestKSKRollover, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The store's generation grows with the write (its trigger); here the
	// test servers' generations are the test's.
	a.set(2)
	b.set(2)
	waitSerial(t, a, 2)
	waitSerial(t, b, 2)
	ksksA, _, cdsA := apexKeys(t, a)
	ksksB, _, cdsB := apexKeys(t, b)
	if len(ksksA) != 2 || len(ksksB) != 2 || cdsA.KeyTag != cdsB.KeyTag {
		t.Fatalf("after the rollover started on a: KSKs %v and %v, CDS %d and %d", ksksA, ksksB, cdsA.KeyTag, cdsB.KeyTag)
	}
}

// TestNodesStartingTogetherMakeOneKSK: two nodes finding a zone without
// keys at once both generate, one stores; both use the stored keys.
func TestNodesStartingTogetherMakeOneKSK(t *testing.T) {
	dir := t.TempDir()
	stores := []KeyStore{testutil.StoreAt(t, dir, store.Options{}), testutil.StoreAt(t, dir, store.Options{})}
	var wg sync.WaitGroup
	got := make([]*ZoneKeys, 8)
	errs := make([]error, len(got))
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = loadOrCreateKeys(context.Background(), stores[i%2], "", "example.net.", time.Now())
		}()
	}
	wg.Wait()
	for i, zk := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if zk.KSK().DNSKEY != got[0].KSK().DNSKEY || zk.ZSK().DNSKEY != got[0].ZSK().DNSKEY {
			t.Fatalf("node %d uses other keys than node 0", i)
		}
	}
}

// TestKeyFilesOfAnEarlierVersionAreImported: a box upgraded in place
// (its keys in DATADIR/dnssec/ZONE.json) serves the same keys, so the
// DS at the registrar stays right, and they are in the store from then
// on.
func TestKeyFilesOfAnEarlierVersionAreImported(t *testing.T) {
	dir := t.TempDir()
	old := &ZoneKeys{Zone: "example.net."}
	for _, role := range []string{roleKSK, roleZSK} {
		k, err := newKey(old.Zone, role, time.Now().Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		old.Keys = append(old.Keys, k)
	}
	data, err := json.MarshalIndent(old, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.net.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startTestServer(t, func(o *Options) { signing(t, o); o.KeyDir = dir })
	want := []uint16{old.KSK().Public().KeyTag(), old.ZSK().Public().KeyTag()}
	slices.Sort(want)
	if got := tags(zoneKeys(t, ts)); !slices.Equal(got, want) {
		t.Fatalf("served keys %v, the file's %v", got, want)
	}
	zk := ts.readKeys(t) // from the store alone
	if ds, wantDS := zk.DS()[0], DSOf(old.KSK()); ds.KeyTag != wantDS.KeyTag || !strings.EqualFold(ds.Digest, wantDS.Digest) {
		t.Fatalf("DS %v after the import, %v before", ds, wantDS)
	}
}
