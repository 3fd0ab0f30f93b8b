package dnsd

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestTurningDNSSECOffWaitsForTheParent: the delete signal is published
// while the zone stays signed; nothing changes while the parent has a
// DS, and the zone goes unsigned only the DS's TTL after the parent
// dropped it; turning it on again signs with the same keys.
func TestTurningDNSSECOffWaitsForTheParent(t *testing.T) {
	ts := startParentedServer(t)
	step := func(d time.Duration) { t.Helper(); ts.step(t, d) }
	signed := func() bool {
		t.Helper()
		r := ts.queryDO(t, "example.net.", dns.TypeDNSKEY)
		return len(r.Answer) > 0
	}
	_, _, cds0 := apexKeys(t, ts.testServer)
	ds := cds0.DS
	ds.Hdr.Ttl = 600
	ts.setParent([]*dns.DS{&ds})
	if err := ts.request(RequestDNSSECFinish, ts.clock()); err == nil {
		t.Fatal("finished turning off what was not being turned off")
	}
	if err := ts.request(RequestDNSSECOff, ts.clock()); err != nil {
		t.Fatal(err)
	}
	step(time.Second)
	if !signed() {
		t.Fatal("unsigned at once")
	}
	for typ, want := range map[uint16]string{dns.TypeCDS: "0 0 0 00", dns.TypeCDNSKEY: "0 3 0 AA=="} {
		r := ts.queryDO(t, "example.net.", typ)
		var got string
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == typ {
				got = rr.String()[len(rr.Header().String()):]
			}
		}
		if got != want {
			t.Errorf("%s while turning off: %q, want %q", dns.TypeToString[typ], got, want)
		}
	}
	if zk := ts.readKeys(t); zk.Unsigning() == nil {
		t.Fatalf("stored keys: %+v", zk)
	}
	// The parent keeps its DS: signed, however long.
	step(parentCheck + time.Second)
	step(30 * time.Minute)
	step(parentCheck + time.Second)
	if !signed() {
		t.Fatal("unsigned while the parent has a DS")
	}
	// The parent drops it: still signed for the DS's TTL (600 s).
	ts.setParent(nil)
	step(parentCheck + time.Second)
	step(parentCheck + time.Second)
	if !signed() {
		t.Fatal("unsigned within the DS's TTL after the parent dropped it")
	}
	step(10 * time.Minute)
	step(parentCheck + time.Second)
	if signed() {
		t.Fatal("still signed a TTL after the parent dropped the DS")
	}
	r := ts.queryDO(t, "example.net.", dns.TypeMX)
	for _, rr := range append(r.Answer, r.Ns...) {
		if _, ok := rr.(*dns.RRSIG); ok {
			t.Fatalf("a signature in an answer of the unsigned zone: %v", r)
		}
	}
	if r.Rcode != dns.RcodeSuccess {
		t.Fatalf("MX of the unsigned zone: %v", r)
	}
	if err := ts.request(RequestDNSSECOn, ts.clock()); err != nil {
		t.Fatal(err)
	}
	step(time.Second)
	if _, _, cds := apexKeys(t, ts.testServer); cds.KeyTag != cds0.KeyTag {
		t.Errorf("signed again with key %d, want the old %d", cds.KeyTag, cds0.KeyTag)
	}
}
