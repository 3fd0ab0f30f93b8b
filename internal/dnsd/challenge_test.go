package dnsd

import (
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
