package dnsd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/mailauth"
	"boxmail/internal/testutil"
)

var (
	keyOnce sync.Once
	keyPEM  string
)

// testServer serves example.net (box.example.net at 198.51.100.7) on
// loopback UDP and TCP; gen and custom change what it serves.
type testServer struct {
	srv    *Server
	addr   string
	mu     sync.Mutex
	gen    int64
	custom []dnsrecords.Custom
	extra  []string // more domains beside example.net
	// keys is Options.Keys, counting its writes into the generation as
	// the store's trigger does.
	keys      KeyStore
	keyWrites int64
}

// countedKeys is a KeyStore whose writes make the test server's
// generation grow, as the store's own do (a trigger).
type countedKeys struct {
	KeyStore
	ts *testServer
}

func (c countedKeys) PutZoneKeys(ctx context.Context, zone string, keys []byte, version int64) (bool, error) {
	ok, err := c.KeyStore.PutZoneKeys(ctx, zone, keys, version)
	c.ts.mu.Lock()
	c.ts.keyWrites++
	c.ts.mu.Unlock()
	return ok, err
}

// signing sets a key store (a test store: SQLite, or PostgreSQL under
// BOXMAIL_TEST_PG=1) in o, so that the zones are signed.
func signing(t testing.TB, o *Options) {
	o.RateLimit, o.Keys = -1, testutil.Store(t)
}

func (ts *testServer) set(gen int64, custom ...dnsrecords.Custom) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.gen, ts.custom = gen, custom
}

func newTestServer(t testing.TB, rateLimit int, exempt ...netip.Prefix) *testServer {
	return startTestServer(t, func(o *Options) { o.RateLimit, o.RateLimitExempt = rateLimit, exempt })
}

// startTestServer is newTestServer with options changed by opt.
func startTestServer(t testing.TB, opt func(*Options)) *testServer {
	keyOnce.Do(func() {
		k, err := mailauth.NewDKIMKey(mailauth.AlgRSA)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM = k
	})
	ts := &testServer{gen: 1}
	o := Options{
		PollInterval: 20 * time.Millisecond,
		Generation: func(context.Context) (int64, error) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			return ts.gen<<20 + ts.keyWrites, nil // the serial is ts.gen
		},
		Records: func(_ context.Context, gen int64) (*dnsrecords.Set, error) {
			gen >>= 20
			ts.mu.Lock()
			defer ts.mu.Unlock()
			domains := []dnsrecords.Domain{{Name: "example.net", DKIM: []dnsrecords.DKIMKey{{Selector: "mail", PrivatePEM: keyPEM}}}}
			for _, d := range ts.extra {
				domains = append(domains, dnsrecords.Domain{Name: d, DKIM: []dnsrecords.DKIMKey{{Selector: "mail", PrivatePEM: keyPEM}}})
			}
			return dnsrecords.Build(dnsrecords.Input{
				Hostname: "box.example.net", IPv4: []netip.Addr{netip.MustParseAddr("198.51.100.7")},
				Submission: 587, IMAPS: 993,
				Domains: domains, Custom: ts.custom, Serial: uint32(gen),
			})
		},
	}
	opt(&o)
	if o.Keys != nil {
		o.Keys = countedKeys{KeyStore: o.Keys, ts: ts}
		ts.keys = o.Keys
	}
	ts.srv = New(o)
	udp, tcp := testutil.ListenPair(t)
	ts.addr = tcp.Addr().String()
	go ts.srv.Serve(tcp)
	go ts.srv.ServePacket(udp)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
	})
	// Wait until both answer.
	for _, n := range []string{"udp", "tcp"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := ts.query(n, "example.net.", dns.TypeSOA, false); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s server did not start", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return ts
}

func (ts *testServer) query(network, name string, qtype uint16, edns bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if edns {
		m.SetEdns0(4096, false)
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, ts.addr)
	return r, err
}

func TestAnswers(t *testing.T) {
	ts := newTestServer(t, -1)
	for _, c := range []struct {
		name   string
		qtype  uint16
		rcode  int
		aa     bool
		answer string // substring of the answer section
		soa    bool   // SOA in authority
	}{
		{"example.net.", dns.TypeMX, dns.RcodeSuccess, true, "10 box.example.net.", false},
		{"EXAMPLE.Net.", dns.TypeMX, dns.RcodeSuccess, true, "EXAMPLE.Net.\t3600\tIN\tMX\t10 box.example.net.", false},
		{"box.example.net.", dns.TypeA, dns.RcodeSuccess, true, "198.51.100.7", false},
		{"example.net.", dns.TypeTXT, dns.RcodeSuccess, true, "v=spf1 mx -all", false},
		{"_submission._tcp.example.net.", dns.TypeSRV, dns.RcodeSuccess, true, "0 1 587 box.example.net.", false},
		{"example.net.", dns.TypeNS, dns.RcodeSuccess, true, "box.example.net.", false},
		{"example.net.", dns.TypeSOA, dns.RcodeSuccess, true, "hostmaster.example.net. 1 ", false},
		// NODATA: the name exists without that type.
		{"box.example.net.", dns.TypeMX, dns.RcodeSuccess, true, "", true},
		// An empty non-terminal exists too.
		{"_domainkey.example.net.", dns.TypeTXT, dns.RcodeSuccess, true, "", true},
		{"_tcp.example.net.", dns.TypeA, dns.RcodeSuccess, true, "", true},
		// NXDOMAIN, with the SOA.
		{"nope.example.net.", dns.TypeA, dns.RcodeNameError, true, "", true},
		{"a.b.box.example.net.", dns.TypeA, dns.RcodeNameError, true, "", true},
		// Not ours: refused, no recursion.
		{"example.org.", dns.TypeA, dns.RcodeRefused, false, "", false},
		{"net.", dns.TypeNS, dns.RcodeRefused, false, "", false},
		{".", dns.TypeNS, dns.RcodeRefused, false, "", false},
		// ANY: RFC 8482.
		{"example.net.", dns.TypeANY, dns.RcodeSuccess, true, "RFC8482", false},
	} {
		for _, n := range []string{"udp", "tcp"} {
			r, err := ts.query(n, c.name, c.qtype, true)
			if err != nil {
				t.Errorf("%s %s %s: %v", n, c.name, dns.TypeToString[c.qtype], err)
				continue
			}
			ans := ""
			for _, rr := range r.Answer {
				ans += rr.String() + "\n"
			}
			hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
			if r.Rcode != c.rcode || r.Authoritative != c.aa || r.RecursionAvailable || !strings.Contains(ans, c.answer) ||
				(c.answer == "") != (len(r.Answer) == 0) || hasSOA != c.soa {
				t.Errorf("%s %s %s:\n%v", n, c.name, dns.TypeToString[c.qtype], r)
			}
			if hasSOA && r.Ns[0].Header().Ttl != 300 {
				t.Errorf("negative SOA TTL %d, want the minimum 300", r.Ns[0].Header().Ttl)
			}
			if r.Question[0].Name != c.name {
				t.Errorf("question echoed as %q", r.Question[0].Name)
			}
		}
	}
}

func TestLargeTXTAndTruncation(t *testing.T) {
	ts := newTestServer(t, -1)
	big := strings.Repeat("0123456789", 150) // 1500 bytes, more than any UDP answer here
	c, err := dnsrecords.ParseCustom([]string{"example.net"}, "big.example.net", "TXT", big)
	if err != nil {
		t.Fatal(err)
	}
	ts.set(2, c)
	waitSerial(t, ts, 2)
	// Without EDNS0 the answer must fit 512 bytes: truncated.
	r, err := ts.query("udp", "big.example.net.", dns.TypeTXT, false)
	if err != nil || !r.Truncated {
		t.Fatalf("UDP without EDNS: %v %v", r, err)
	}
	// With EDNS0 4096 we still cap at 1232: truncated.
	r, err = ts.query("udp", "big.example.net.", dns.TypeTXT, true)
	if err != nil || !r.Truncated || r.IsEdns0() == nil {
		t.Fatalf("UDP with EDNS: %v %v", r, err)
	}
	// TCP carries it whole.
	r, err = ts.query("tcp", "big.example.net.", dns.TypeTXT, true)
	if err != nil || r.Truncated || len(r.Answer) != 1 || strings.Join(r.Answer[0].(*dns.TXT).Txt, "") != big {
		t.Fatalf("TCP: %v %v", r, err)
	}
	// The 2048-bit DKIM key fits an EDNS0 UDP answer.
	r, err = ts.query("udp", "mail._domainkey.example.net.", dns.TypeTXT, true)
	if err != nil || r.Truncated || len(r.Answer) != 1 || !strings.HasPrefix(strings.Join(r.Answer[0].(*dns.TXT).Txt, ""), "v=DKIM1; k=rsa; p=") {
		t.Fatalf("DKIM over UDP: %v %v", r, err)
	}
}

func waitSerial(t *testing.T, ts *testServer, serial uint32) {
	t.Helper()
	testutil.WaitFor(t, fmt.Sprintf("serial %d to be served", serial), 5*time.Second, func() bool {
		r, err := ts.query("udp", "example.net.", dns.TypeSOA, false)
		return err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.SOA).Serial == serial
	})
}

func TestChangesShowAtOnce(t *testing.T) {
	ts := newTestServer(t, -1)
	r, _ := ts.query("udp", "www.example.net.", dns.TypeA, false)
	if r.Rcode != dns.RcodeNameError {
		t.Fatalf("before: %v", r)
	}
	c, _ := dnsrecords.ParseCustom([]string{"example.net"}, "www.example.net", "A", "192.0.2.80")
	d, _ := dnsrecords.ParseCustom([]string{"example.net"}, "sub.example.net", "NS", "ns1.elsewhere.example.")
	ts.set(7, c, d)
	waitSerial(t, ts, 7)
	r, _ = ts.query("udp", "WWW.example.net.", dns.TypeA, false)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.80" {
		t.Errorf("after: %v", r)
	}
	// A delegation gives a referral, not an authoritative answer.
	r, _ = ts.query("udp", "host.sub.example.net.", dns.TypeA, false)
	if r.Authoritative || r.Rcode != dns.RcodeSuccess || len(r.Ns) != 1 || r.Ns[0].(*dns.NS).Ns != "ns1.elsewhere.example." {
		t.Errorf("referral: %v", r)
	}
}

func TestRateLimit(t *testing.T) {
	ts := newTestServer(t, 10)
	ok, truncated, lost := 0, 0, 0
	m := new(dns.Msg)
	m.SetQuestion("example.net.", dns.TypeTXT)
	c := &dns.Client{Net: "udp", Timeout: 100 * time.Millisecond}
	// 40 queries: the burst of 10 and 10/s after it are answered, the
	// rest alternately truncated and dropped.
	start := time.Now()
	for range 40 {
		r, _, err := c.Exchange(m, ts.addr)
		switch {
		case err != nil:
			lost++
		case r.Truncated && len(r.Answer) == 0:
			truncated++
		default:
			ok++
		}
	}
	budget := 10 + int(time.Since(start).Seconds()*10) + 1
	if ok < 10 || ok > budget || truncated < 5 || lost < 5 || truncated-lost > 1 || lost-truncated > 1 {
		t.Errorf("answered %d (budget %d), truncated %d, dropped %d", ok, budget, truncated, lost)
	}
	// TCP is never limited.
	for range 20 {
		if r, err := ts.query("tcp", "example.net.", dns.TypeTXT, false); err != nil || len(r.Answer) != 1 {
			t.Fatalf("TCP under rate limit: %v %v", r, err)
		}
	}
	// Exempt networks are not limited.
	ts2 := newTestServer(t, 1, netip.MustParsePrefix("127.0.0.0/8"))
	for range 20 {
		if r, err := ts2.query("udp", "example.net.", dns.TypeTXT, false); err != nil || len(r.Answer) != 1 {
			t.Fatalf("exempt client limited: %v %v", r, err)
		}
	}
}

// needTool skips (or, with CI=true, fails) when a client is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI but not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// TestDigAndKdig asks with two DNS clients nobody here wrote.
func TestDigAndKdig(t *testing.T) {
	ts := newTestServer(t, -1)
	host, port, _ := net.SplitHostPort(ts.addr)
	for _, tool := range []string{"dig", "kdig"} {
		bin := needTool(t, tool)
		for _, proto := range []string{"+notcp", "+tcp"} {
			run := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, bin, append([]string{"@" + host, "-p", port, proto, "+norecurse", "+timeout=2", "+retry=0"}, args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
				}
				return string(out)
			}
			for _, c := range []struct {
				args []string
				want []string
			}{
				{[]string{"MX", "Example.NET"}, []string{"status: NOERROR", " aa", "10 box.example.net."}},
				{[]string{"TXT", "mail._domainkey.example.net"}, []string{"status: NOERROR", " aa", "v=DKIM1; k=rsa; p="}},
				{[]string{"A", "nope.example.net"}, []string{"status: NXDOMAIN", " aa", "SOA"}},
				{[]string{"MX", "box.example.net"}, []string{"status: NOERROR", " aa", "SOA", "ANSWER: 0"}},
				{[]string{"A", "example.org"}, []string{"status: REFUSED"}},
			} {
				out := run(c.args...)
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s %s %v: no %q in\n%s", tool, proto, c.args, w, out)
					}
				}
			}
		}
	}
}
