package dnsd

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/dnsrecords"
)

// signedServer is a test server of example.net with DNSSEC keys in a
// test store, and a delegation (sub.example.net NS) among its records.
func signedServer(t *testing.T) *testServer {
	ts := startTestServer(t, func(o *Options) { signing(t, o) })
	ts.set(2, dnsrecords.Custom{Name: "sub.example.net", Type: "NS", Value: "ns.sub.example.net."},
		dnsrecords.Custom{Name: "ns.sub.example.net", Type: "A", Value: "192.0.2.53"})
	waitSerial(t, ts, 2)
	return ts
}

func (ts *testServer) queryDO(t *testing.T, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	m.SetEdns0(4096, true)
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, ts.addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// zoneKeys asks the server for the DNSKEY RRset and checks its
// signature by the KSK.
func zoneKeys(t *testing.T, ts *testServer) map[uint16]*dns.DNSKEY {
	t.Helper()
	r := ts.queryDO(t, "example.net.", dns.TypeDNSKEY)
	keys := map[uint16]*dns.DNSKEY{}
	var set []dns.RR
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			keys[k.KeyTag()] = k
			set = append(set, rr)
		}
	}
	if len(keys) != 2 {
		t.Fatalf("DNSKEY answer %v, want a KSK and a ZSK", r)
	}
	if n := verifySections(t, r, keys); n != 1 {
		t.Fatalf("DNSKEY RRset has %d good signatures, want 1 (the KSK's)", n)
	}
	return keys
}

// verifySections checks that every RRset of the answer and authority
// sections has a valid RRSIG by one of keys; it returns how many
// signatures it verified.
func verifySections(t *testing.T, r *dns.Msg, keys map[uint16]*dns.DNSKEY) int {
	t.Helper()
	n := 0
	for _, sec := range [][]dns.RR{r.Answer, r.Ns} {
		sets := map[string][]dns.RR{}
		var sigs []*dns.RRSIG
		for _, rr := range sec {
			if s, ok := rr.(*dns.RRSIG); ok {
				sigs = append(sigs, s)
				continue
			}
			k := strings.ToLower(rr.Header().Name) + "/" + dns.TypeToString[rr.Header().Rrtype]
			sets[k] = append(sets[k], rr)
		}
		for k, set := range sets {
			if r.Authoritative == false && strings.HasSuffix(k, "/NS") {
				continue // a referral's NS is the child's, unsigned
			}
			ok := false
			for _, s := range sigs {
				if strings.ToLower(s.Hdr.Name)+"/"+dns.TypeToString[s.TypeCovered] != k {
					continue
				}
				key := keys[s.KeyTag]
				if key == nil {
					t.Errorf("%s: signed by unknown key %d", k, s.KeyTag)
					continue
				}
				if err := s.Verify(key, set); err != nil {
					t.Errorf("%s: signature does not verify: %v", k, err)
					continue
				}
				if !s.ValidityPeriod(time.Now()) {
					t.Errorf("%s: signature outside its validity", k)
				}
				ok = true
				n++
			}
			if !ok {
				t.Errorf("%s: no valid RRSIG in %v", k, r)
			}
		}
	}
	return n
}

func nsecs(r *dns.Msg) []*dns.NSEC {
	var out []*dns.NSEC
	for _, rr := range r.Ns {
		if n, ok := rr.(*dns.NSEC); ok {
			out = append(out, n)
		}
	}
	return out
}

// covers tells whether the NSEC's range holds name.
func covers(n *dns.NSEC, name string) bool {
	name = strings.ToLower(name)
	a, b := canonicalCompare(n.Hdr.Name, name), canonicalCompare(name, n.NextDomain)
	wraps := canonicalCompare(n.NextDomain, n.Hdr.Name) <= 0
	return a < 0 && (b < 0 || wraps)
}

func TestDNSSECSignedAnswers(t *testing.T) {
	ts := signedServer(t)
	keys := zoneKeys(t, ts)
	for _, c := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"example.net.", dns.TypeMX, dns.RcodeSuccess},
		{"EXAMPLE.Net.", dns.TypeTXT, dns.RcodeSuccess},
		{"mail._domainkey.example.net.", dns.TypeTXT, dns.RcodeSuccess},
		{"box.example.net.", dns.TypeA, dns.RcodeSuccess},
		{"example.net.", dns.TypeSOA, dns.RcodeSuccess},
		{"example.net.", dns.TypeNS, dns.RcodeSuccess},
		{"example.net.", dns.TypeANY, dns.RcodeSuccess},
		{"box.example.net.", dns.TypeMX, dns.RcodeSuccess},          // NODATA
		{"_domainkey.example.net.", dns.TypeTXT, dns.RcodeSuccess},  // empty non-terminal
		{"nothing.example.net.", dns.TypeA, dns.RcodeNameError},     // NXDOMAIN
		{"a.b.nothing.example.net.", dns.TypeA, dns.RcodeNameError}, // deeper
		{"zzz.example.net.", dns.TypeA, dns.RcodeNameError},         // past the last name
		{"www.sub.example.net.", dns.TypeA, dns.RcodeSuccess},       // referral
		{"sub.example.net.", dns.TypeDS, dns.RcodeSuccess},          // no DS: insecure delegation
	} {
		r := ts.queryDO(t, c.name, c.qtype)
		if r.Rcode != c.rcode {
			t.Errorf("%s %s: rcode %s, want %s", c.name, dns.TypeToString[c.qtype], dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
		}
		if opt := r.IsEdns0(); opt == nil || !opt.Do() {
			t.Errorf("%s: the DO bit is not echoed", c.name)
		}
		if verifySections(t, r, keys) == 0 {
			t.Errorf("%s %s: nothing signed: %v", c.name, dns.TypeToString[c.qtype], r)
		}
		name := strings.ToLower(c.name)
		switch {
		case c.rcode == dns.RcodeNameError:
			ok := false
			for _, n := range nsecs(r) {
				ok = ok || covers(n, name)
			}
			if !ok {
				t.Errorf("%s: no NSEC covers it: %v", c.name, r)
			}
		case len(r.Answer) == 0 && r.Authoritative:
			ns := nsecs(r)
			if len(ns) != 1 {
				t.Fatalf("%s NODATA: want one NSEC: %v", c.name, r)
			}
			if ns[0].Hdr.Name == name {
				for _, typ := range ns[0].TypeBitMap {
					if typ == c.qtype {
						t.Errorf("%s NODATA: the NSEC lists %s", c.name, dns.TypeToString[typ])
					}
				}
			} else if !covers(ns[0], name) || !dns.IsSubDomain(name, ns[0].NextDomain) {
				t.Errorf("%s: the NSEC does not prove an empty non-terminal: %v", c.name, ns[0])
			}
		case !r.Authoritative: // referral: the delegation's NSEC has NS, no DS
			ns := nsecs(r)
			if len(ns) != 1 || ns[0].Hdr.Name != "sub.example.net." {
				t.Fatalf("referral: %v", r)
			}
		}
	}
	// Without the DO bit: no DNSSEC records.
	r, err := ts.query("tcp", "example.net.", dns.TypeMX, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range append(r.Answer, r.Ns...) {
		if typ := rr.Header().Rrtype; typ == dns.TypeRRSIG || typ == dns.TypeNSEC {
			t.Errorf("DNSSEC record without DO: %v", rr)
		}
	}
}

func TestDNSSECTamperingIsDetected(t *testing.T) {
	ts := signedServer(t)
	keys := zoneKeys(t, ts)
	r := ts.queryDO(t, "box.example.net.", dns.TypeA)
	var a *dns.A
	var sig *dns.RRSIG
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			a = rr
		case *dns.RRSIG:
			sig = rr
		}
	}
	if a == nil || sig == nil {
		t.Fatalf("no signed A: %v", r)
	}
	if err := sig.Verify(keys[sig.KeyTag], []dns.RR{a}); err != nil {
		t.Fatalf("genuine answer: %v", err)
	}
	forged := dns.Copy(a).(*dns.A)
	forged.A = forged.A.To4()
	forged.A[3]++
	if err := sig.Verify(keys[sig.KeyTag], []dns.RR{forged}); err == nil {
		t.Error("a changed address verifies")
	}
	// A key of another zone does not verify it either.
	other, err := newKey("example.net.", roleZSK, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := sig.Verify(other.pub, []dns.RR{a}); err == nil {
		t.Error("another key verifies the signature")
	}
}

func TestDNSSECKeysPersistAndSignaturesAreCached(t *testing.T) {
	ts := signedServer(t)
	keys := zoneKeys(t, ts)
	ds := ts.readKeys(t).DS()
	if len(ds) != 1 || keys[ds[0].KeyTag] == nil || keys[ds[0].KeyTag].Flags != 257 || ds[0].DigestType != dns.SHA256 {
		t.Fatalf("DS %v does not name the served KSK", ds)
	}
	mxSig := func() string {
		for _, rr := range ts.queryDO(t, "example.net.", dns.TypeMX).Answer {
			if s, ok := rr.(*dns.RRSIG); ok {
				return s.Signature
			}
		}
		t.Fatal("no RRSIG")
		return ""
	}
	before := mxSig()
	if again := mxSig(); again != before {
		t.Error("the MX RRset was signed twice") // ECDSA signatures differ each time
	}
	// A reload (new serial) re-signs the SOA, not the unchanged MX.
	ts.set(3)
	waitSerial(t, ts, 3)
	if after := mxSig(); after != before {
		t.Error("a reload re-signed an unchanged RRset")
	}
	if len(zoneKeys(t, ts)) != 2 {
		t.Error("keys changed across a reload")
	}
}

func TestDNSSECChallengeIsInTheChain(t *testing.T) {
	ts := signedServer(t)
	keys := zoneKeys(t, ts)
	ts.srv.AddChallenge("_acme-challenge.example.net", "token-1")
	r := ts.queryDO(t, "_acme-challenge.example.net.", dns.TypeTXT)
	if len(r.Answer) != 2 || verifySections(t, r, keys) != 1 {
		t.Fatalf("challenge answer: %v", r)
	}
	// Its NSEC exists while it does.
	r = ts.queryDO(t, "_acme-challenge.example.net.", dns.TypeA)
	if ns := nsecs(r); len(ns) != 1 || ns[0].Hdr.Name != "_acme-challenge.example.net." {
		t.Fatalf("no NSEC of the challenge name: %v", r)
	}
	ts.srv.RemoveChallenge("_acme-challenge.example.net", "token-1")
	if r = ts.queryDO(t, "_acme-challenge.example.net.", dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Fatalf("removed challenge: %v", r)
	}
}

func TestCanonicalOrder(t *testing.T) {
	// RFC 4034 6.1's example, in order.
	names := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	for i := 1; i < len(names); i++ {
		if canonicalCompare(names[i-1], names[i]) >= 0 {
			t.Errorf("%s should sort before %s", names[i-1], names[i])
		}
	}
}
