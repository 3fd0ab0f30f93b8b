package resolver

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"boxmail/internal/testutil"
)

// The AD bit is believed from loopback and from configured servers
// only: DANE must not rest on a bit anyone on the path could set.
func TestTheADBitIsTrustedOnlyFromLoopbackOrConfiguredServers(t *testing.T) {
	n := &Net{TrustedAD: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}
	for srv, want := range map[string]bool{"127.0.0.1:53": true, "[::1]:5353": true, "192.0.2.53:53": true, "198.51.100.1:53": false, "[2001:db8::1]:53": false, "bogus": false} {
		if got := n.trustsAD(srv); got != want {
			t.Errorf("trustsAD(%s) = %v, want %v", srv, got, want)
		}
	}
	f := NewFake("_25._tcp.mx.signed.example. TLSA 3 1 1 abcd", "_25._tcp.mx.plain.example. TLSA 3 1 1 abcd")
	f.Secure("signed.example")
	addr := testutil.ServeDNS(t, f, f)
	r := &Net{Servers: []string{addr}}
	for host, want := range map[string]bool{"mx.signed.example": true, "mx.plain.example": false} {
		rrs, secure, err := LookupTLSA(context.Background(), r, 25, "tcp", host)
		if err != nil || len(rrs) != 1 || rrs[0].Usage != 3 || secure != want {
			t.Errorf("%s: %v secure=%v err=%v", host, rrs, secure, err)
		}
	}
	if a, err := f.Lookup(context.Background(), "_25._tcp.mx.signed.example", dns.TypeTLSA); err != nil || !a.Authentic {
		t.Errorf("fake: %+v, %v", a, err)
	}
}
