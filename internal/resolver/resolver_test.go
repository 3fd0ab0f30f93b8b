package resolver

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/testutil"
)

var zone = []string{
	"example.net. 300 IN MX 10 mx1.example.net.",
	"example.net. 300 IN MX 20 MX2.example.net.",
	`example.net. 300 IN TXT "v=spf1 " "mx -all"`,
	"mx1.example.net. 300 IN A 192.0.2.1",
	"mx1.example.net. 300 IN AAAA 2001:db8::1",
	"www.example.net. 300 IN CNAME mx1.example.net.",
	"1.2.0.192.in-addr.arpa. 300 IN PTR mx1.example.net.",
	"_25._tcp.mx1.example.net. 300 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
}

func checkResolver(t *testing.T, r Resolver) {
	t.Helper()
	ctx := context.Background()
	mx, err := LookupMX(ctx, r, "Example.NET")
	if err != nil || len(mx) != 2 {
		t.Fatalf("MX = %v, %v", mx, err)
	}
	hosts := []string{mx[0].Host, mx[1].Host}
	slices.Sort(hosts)
	if !slices.Equal(hosts, []string{"mx1.example.net", "mx2.example.net"}) {
		t.Errorf("MX hosts = %v", hosts)
	}
	if txt, err := LookupTXT(ctx, r, "example.net"); err != nil || len(txt) != 1 || txt[0] != "v=spf1 mx -all" {
		t.Errorf("TXT = %q, %v", txt, err)
	}
	ips, err := LookupIP(ctx, r, "www.example.net")
	if err != nil || len(ips) != 2 || ips[0] != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("IP via CNAME = %v, %v", ips, err)
	}
	if ptr, err := LookupPTR(ctx, r, netip.MustParseAddr("192.0.2.1")); err != nil || ptr[0] != "mx1.example.net" {
		t.Errorf("PTR = %v, %v", ptr, err)
	}
	if tlsa, _, err := LookupTLSA(ctx, r, 25, "tcp", "mx1.example.net"); err != nil || len(tlsa) != 1 || tlsa[0].Usage != 3 {
		t.Errorf("TLSA = %v, %v", tlsa, err)
	}
	// NODATA and NXDOMAIN are both "not found", and not temporary.
	if _, err := LookupMX(ctx, r, "mx1.example.net"); !IsNotFound(err) || IsTemporary(err) {
		t.Errorf("NODATA: %v", err)
	}
	if _, err := LookupTXT(ctx, r, "nope.example.net"); !IsNotFound(err) || IsTemporary(err) {
		t.Errorf("NXDOMAIN: %v", err)
	}
}

func TestFake(t *testing.T) {
	f := NewFake(zone...)
	checkResolver(t, f)
	f.Fail("example.net", dns.TypeMX)
	if _, err := LookupMX(context.Background(), f, "example.net"); !IsTemporary(err) || IsNotFound(err) {
		t.Errorf("failure: %v", err)
	}
}

// serve runs a tiny authoritative server over the zone on loopback UDP and
// TCP, answering with TC set for UDP when asked to.
func serve(t *testing.T, f *Fake, truncateUDP bool) string {
	t.Helper()
	udp := dns.Handler(f)
	if truncateUDP {
		udp = dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Truncated = true
			w.WriteMsg(m)
		})
	}
	return testutil.ServeDNS(t, udp, f)
}

func TestNetAgainstARealServer(t *testing.T) {
	f := NewFake(zone...)
	checkResolver(t, &Net{Servers: []string{serve(t, f, false)}, Timeout: time.Second})
	// Truncated UDP answers are retried over TCP.
	checkResolver(t, &Net{Servers: []string{serve(t, f, true)}, Timeout: time.Second})
	// SERVFAIL and a dead server are temporary.
	f.Fail("example.net", dns.TypeMX)
	if _, err := LookupMX(context.Background(), &Net{Servers: []string{serve(t, f, false)}, Timeout: time.Second}, "example.net"); !IsTemporary(err) {
		t.Errorf("SERVFAIL: %v", err)
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	defer pc.Close()
	if _, err := LookupMX(context.Background(), &Net{Servers: []string{pc.LocalAddr().String()}, Timeout: 200 * time.Millisecond}, "example.net"); !IsTemporary(err) {
		t.Errorf("timeout: %v", err)
	}
}
