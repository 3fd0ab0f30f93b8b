package dnsd

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// apexKeys queries the DNSKEY, CDS and CDNSKEY RRsets with their
// signatures and checks every signature against the DNSKEY RRset; it
// returns the key tags of the KSKs, of the KSKs signing the DNSKEY
// RRset, and the CDS.
func apexKeys(t *testing.T, ts *testServer) (ksks, signers map[uint16]bool, cds *dns.CDS) {
	t.Helper()
	r := ts.queryDO(t, "example.net.", dns.TypeDNSKEY)
	keys := map[uint16]*dns.DNSKEY{}
	ksks, signers = map[uint16]bool{}, map[uint16]bool{}
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.DNSKEY:
			keys[rr.KeyTag()] = rr
			if rr.Flags&dns.SEP != 0 {
				ksks[rr.KeyTag()] = true
			}
		case *dns.RRSIG:
			signers[rr.KeyTag] = true
		}
	}
	verifySections(t, r, keys)
	c := ts.queryDO(t, "example.net.", dns.TypeCDS)
	verifySections(t, c, keys)
	for _, rr := range c.Answer {
		if d, ok := rr.(*dns.CDS); ok {
			if cds != nil {
				t.Fatalf("two CDS: %v", c)
			}
			cds = d
		}
	}
	k := ts.queryDO(t, "example.net.", dns.TypeCDNSKEY)
	verifySections(t, k, keys)
	for _, rr := range k.Answer {
		if ck, ok := rr.(*dns.CDNSKEY); ok && cds != nil && ck.KeyTag() != cds.KeyTag {
			t.Errorf("CDNSKEY %d, CDS %d", ck.KeyTag(), cds.KeyTag)
		}
	}
	if cds == nil {
		t.Fatalf("no CDS: %v", c)
	}
	if want := keys[cds.KeyTag].ToDS(dns.SHA256); want == nil || !strings.EqualFold(want.Digest, cds.Digest) {
		t.Fatalf("CDS %v does not name a published key", cds)
	}
	return ksks, signers, cds
}

// parentedServer is a test server with a movable clock and a parent zone
// whose DS the test sets: the DNSSEC state changes that wait for the
// parent (KSK rollover, turning DNSSEC off) step through days with it.
type parentedServer struct {
	*testServer
	mu     sync.Mutex
	now    time.Time
	parent []*dns.DS
}

func startParentedServer(t *testing.T) *parentedServer {
	t.Helper()
	p := &parentedServer{now: time.Now()}
	p.testServer = startTestServer(t, func(o *Options) {
		signing(t, o)
		o.Now = p.clock
		o.ParentDS = func(context.Context, string) ([]*dns.DS, error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.parent, nil
		}
	})
	return p
}

func (p *parentedServer) clock() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now
}

// request applies a DNSSEC request as 'boxmail dns' does.
func (ts *testServer) request(what string, now time.Time) error {
	_, err := Request(context.Background(), ts.keys, "", "example.net", what, now)
	return err
}

// readKeys reads example.net's keys from the store.
func (ts *testServer) readKeys(t *testing.T) *ZoneKeys {
	t.Helper()
	zk, err := ReadKeys(context.Background(), ts.keys, "", "example.net")
	if err != nil {
		t.Fatal(err)
	}
	return zk
}

// setParent sets the DS records the parent zone shows.
func (p *parentedServer) setParent(ds []*dns.DS) {
	p.mu.Lock()
	p.parent = ds
	p.mu.Unlock()
}

// step moves the clock by d and lets the server refresh its zones.
func (p *parentedServer) step(t *testing.T, d time.Duration) {
	t.Helper()
	p.mu.Lock()
	p.now = p.now.Add(d)
	p.mu.Unlock()
	if err := p.srv.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestKSKRollover: the admin starts a rollover, the new KSK signs the
// DNSKEY RRset beside the old one and the CDS names it; the parent
// shows the new DS, and one TTL later the old KSK is gone.
func TestKSKRollover(t *testing.T) {
	ts := startParentedServer(t)
	step := func(d time.Duration) { t.Helper(); ts.step(t, d) }
	ksks0, signers0, cds0 := apexKeys(t, ts.testServer)
	if len(ksks0) != 1 || !ksks0[cds0.KeyTag] || !signers0[cds0.KeyTag] {
		t.Fatalf("start: KSKs %v, CDS %d", ksks0, cds0.KeyTag)
	}
	if err := ts.request(RequestKSKFinish, ts.clock()); err == nil {
		t.Fatal("finished a rollover that was not started")
	}
	if err := ts.request(RequestKSKRollover, ts.clock()); err != nil {
		t.Fatal(err)
	}
	step(time.Second)
	ksks1, signers1, cds1 := apexKeys(t, ts.testServer)
	if len(ksks1) != 2 || !ksks1[cds0.KeyTag] || cds1.KeyTag == cds0.KeyTag || !signers1[cds0.KeyTag] || !signers1[cds1.KeyTag] {
		t.Fatalf("rolling: KSKs %v signing %v, CDS %d (old %d)", ksks1, signers1, cds1.KeyTag, cds0.KeyTag)
	}
	zk := ts.readKeys(t)
	if r := zk.KSKRollover(); r == nil || r.New.KeyTag != cds1.KeyTag || r.Old.KeyTag != cds0.KeyTag {
		t.Fatalf("rollover in the stored keys: %+v", r)
	}
	if err := ts.request(RequestKSKRollover, ts.clock()); err == nil {
		t.Fatal("a second rollover started")
	}

	// The parent still has the old DS: nothing moves, however long.
	step(parentCheck + time.Second)
	step(30 * time.Minute) // (the signatures made now must be valid by the real clock: under an hour)
	if ksks, _, _ := apexKeys(t, ts.testServer); len(ksks) != 2 {
		t.Fatalf("the old KSK went before the parent had the new DS: %v", ksks)
	}
	// The parent has the new DS (TTL 60): the old KSK stays its TTL.
	ds := &cds1.DS
	ds.Hdr.Ttl = 60
	ts.setParent([]*dns.DS{ds})
	step(parentCheck + time.Second)
	if ksks, _, _ := apexKeys(t, ts.testServer); len(ksks) != 2 {
		t.Fatalf("the old KSK went as soon as the parent had the new DS: %v", ksks)
	}
	step(30 * time.Second) // within the TTL, and too soon to ask again
	step(parentCheck + time.Second)
	ksks2, signers2, cds2 := apexKeys(t, ts.testServer)
	if len(ksks2) != 1 || !ksks2[cds1.KeyTag] || cds2.KeyTag != cds1.KeyTag || signers2[cds0.KeyTag] {
		t.Fatalf("after: KSKs %v signing %v, CDS %d", ksks2, signers2, cds2.KeyTag)
	}
	if zk := ts.readKeys(t); zk.KSKRollover() != nil || zk.KSK().Public().KeyTag() != cds1.KeyTag {
		t.Fatalf("stored keys after: %v", zk)
	}
}

// TestKSKRolloverFinishedByTheAdmin: the finish request removes the old
// KSK without the parent.
func TestKSKRolloverFinishedByTheAdmin(t *testing.T) {
	ts := startTestServer(t, func(o *Options) { signing(t, o) })
	_, _, cds0 := apexKeys(t, ts)
	if err := ts.request(RequestKSKRollover, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitKSKs := func(n int) *dns.CDS {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			ksks, _, cds := apexKeys(t, ts)
			if len(ksks) == n {
				return cds
			}
			if time.Now().After(deadline) {
				t.Fatalf("KSKs %v, want %d", ksks, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cds1 := waitKSKs(2)
	if err := ts.request(RequestKSKFinish, time.Now()); err != nil {
		t.Fatal(err)
	}
	if cds := waitKSKs(1); cds.KeyTag != cds1.KeyTag || cds.KeyTag == cds0.KeyTag {
		t.Fatalf("CDS %d after the rollover (old %d, new %d)", cds.KeyTag, cds0.KeyTag, cds1.KeyTag)
	}
}
