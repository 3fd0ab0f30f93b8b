package dnsd

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestChallengeRecords: an ACME DNS-01 TXT record is served while added
// (two values at one name both), inside the zones only, and gone after.
func TestChallengeRecords(t *testing.T) {
	ts := newTestServer(t, -1)
	txt := func(name string) (int, []string) {
		t.Helper()
		r, err := ts.query("udp", name, dns.TypeTXT, true)
		if err != nil {
			t.Fatal(err)
		}
		var vs []string
		for _, rr := range r.Answer {
			vs = append(vs, rr.(*dns.TXT).Txt...)
		}
		return r.Rcode, vs
	}
	name := "_acme-challenge.autoconfig.example.net"
	if rc, vs := txt(name + "."); rc != dns.RcodeNameError || len(vs) != 0 {
		t.Fatalf("before: rcode %d, %q", rc, vs)
	}
	ts.srv.AddChallenge(name, "token-1")
	ts.srv.AddChallenge("_ACME-challenge.autoconfig.example.net.", "token-2")
	ts.srv.AddChallenge("_acme-challenge.example.org", "elsewhere")
	if rc, vs := txt("_acme-challenge.AUTOCONFIG.example.net."); rc != dns.RcodeSuccess || len(vs) != 2 || vs[0] != "token-1" || vs[1] != "token-2" {
		t.Fatalf("during: rcode %d, %q", rc, vs)
	}
	if rc, _ := txt("_acme-challenge.example.org."); rc != dns.RcodeRefused {
		t.Errorf("a challenge outside the zones: rcode %d, want REFUSED", rc)
	}
	ts.srv.RemoveChallenge(name, "token-1")
	if _, vs := txt(name + "."); len(vs) != 1 || vs[0] != "token-2" {
		t.Fatalf("after removing one: %q", vs)
	}
	ts.srv.RemoveChallenge(name, "token-2")
	if rc, vs := txt(name + "."); rc != dns.RcodeNameError || len(vs) != 0 {
		t.Fatalf("after: rcode %d, %q", rc, vs)
	}
}

// A challenge for a domain added since the zones were last loaded is
// served at once: AddChallenge reloads them rather than leave the CA a
// REFUSED until the next poll (here an hour away).
func TestChallengeForADomainJustAdded(t *testing.T) {
	ts := startTestServer(t, func(o *Options) { o.PollInterval = time.Hour })
	ts.mu.Lock()
	ts.gen, ts.extra = 2, []string{"family.test"}
	ts.mu.Unlock()
	ts.srv.AddChallenge("_acme-challenge.autoconfig.family.test", "token")
	r, err := ts.query("udp", "_acme-challenge.autoconfig.family.test.", dns.TypeTXT, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("rcode %d, answer %v", r.Rcode, r.Answer)
	}
}

// TestSharedChallengeRecords: the DNS-01 records another node of the box
// added (Options.SharedChallenges, the store's) are served from the next
// build of the zones, beside this node's own and once each, in the NSEC
// chain of a signed zone, and gone once the store drops them.
func TestSharedChallengeRecords(t *testing.T) {
	var mu sync.Mutex
	shared := map[string][]string{}
	ts := startTestServer(t, func(o *Options) {
		signing(t, o)
		o.SharedChallenges = func(context.Context) (map[string][]string, error) {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(shared), nil
		}
	})
	keys := zoneKeys(t, ts)
	name := "_acme-challenge.autoconfig.example.net."
	setShared := func(gen int64, vs ...string) {
		mu.Lock()
		shared = map[string][]string{name: vs}
		mu.Unlock()
		ts.set(gen) // the store's generation grows with the change
		waitSerial(t, ts, uint32(gen))
	}
	setShared(2, "from-the-other-node")
	ts.srv.AddChallenge(name, "own")
	ts.srv.AddChallenge(name, "from-the-other-node")
	r := ts.queryDO(t, name, dns.TypeTXT)
	var vs []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			vs = append(vs, txt.Txt...)
		}
	}
	slices.Sort(vs)
	if !slices.Equal(vs, []string{"from-the-other-node", "own"}) {
		t.Fatalf("TXT %q, want the other node's and this node's, once each", vs)
	}
	ts.srv.RemoveChallenge(name, "own")
	ts.srv.RemoveChallenge(name, "from-the-other-node")
	if r := ts.queryDO(t, name, dns.TypeA); len(nsecs(r)) != 1 || nsecs(r)[0].Hdr.Name != name || verifySections(t, r, keys) == 0 {
		t.Fatalf("no signed NSEC of the shared challenge name: %v", r)
	}
	setShared(3)
	if r := ts.queryDO(t, name, dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after the store dropped it: %v", r)
	}
}
