package store

import (
	"context"
	"testing"
)

// TestZoneKeysAreWrittenOverTheVersionRead: two nodes on one database;
// a write names the version it read, so of two writes from one version
// only the first lands, and each write bumps the generation (every
// node's DNS server re-signs).
func TestZoneKeysAreWrittenOverTheVersionRead(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	if data, v, err := a.ZoneKeys(ctx, "Example.NET"); data != nil || v != 0 || err != nil {
		t.Fatalf("keys of a new zone: %q %d %v", data, v, err)
	}
	gen0, err := b.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := a.PutZoneKeys(ctx, "example.net.", []byte(`{"a":1}`), 0); !ok || err != nil {
		t.Fatalf("first keys: %v %v", ok, err)
	}
	if ok, err := b.PutZoneKeys(ctx, "example.net", []byte(`{"b":1}`), 0); ok || err != nil {
		t.Fatalf("a second node's first keys were written too: %v %v", ok, err)
	}
	data, v, err := b.ZoneKeys(ctx, "example.net")
	if string(data) != `{"a":1}` || v != 1 || err != nil {
		t.Fatalf("keys read on b: %q %d %v", data, v, err)
	}
	if ok, err := b.PutZoneKeys(ctx, "example.net", []byte(`{"b":2}`), v); !ok || err != nil {
		t.Fatalf("b's step: %v %v", ok, err)
	}
	if ok, err := a.PutZoneKeys(ctx, "example.net", []byte(`{"a":2}`), v); ok || err != nil {
		t.Fatalf("a's step from the same version was written too: %v %v", ok, err)
	}
	if data, v, _ := a.ZoneKeys(ctx, "example.net."); string(data) != `{"b":2}` || v != 2 {
		t.Fatalf("keys after the steps: %q %d", data, v)
	}
	if gen, err := a.Generation(ctx); err != nil || gen < gen0+2 {
		t.Errorf("generation %d after two writes, %d before (%v)", gen, gen0, err)
	}
	if err := a.DeleteZoneKeys(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	if data, _, _ := b.ZoneKeys(ctx, "example.net"); data != nil {
		t.Errorf("keys after their deletion: %q", data)
	}
}
