package dnsd

import (
	"testing"
	"time"
)

// TestZSKRollover runs the key state machine over 200 days, one step
// every 10 minutes, and checks what a resolver could hold at once: a
// DNSKEY RRset cached at one moment and a signature fetched within the
// TTL of it (either way round) must always match; so no validation
// fails across the pre-published rollovers.
func TestZSKRollover(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	zk, err := loadOrCreateKeys(dir, "example.net.", start)
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
			if err := zk.write(dir); err != nil {
				t.Fatal(err)
			}
			if zk, err = ReadKeys(dir, "example.net."); err != nil { // as after a restart
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
