package test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/dnsd"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/testutil"
)

// peerZone is the authoritative DNS of a friend's provider: boxmail's
// own server (internal/dnsd) answering for one zone from the records a
// test gives, signed online with its own DNSSEC keys as the box signs
// its zones, or unsigned. A validating unbound (startUnboundWith) asks
// it, trusting its DS, and the box asks unbound.
type peerZone struct {
	t    *testing.T
	zone string        // fqdn
	keys dnsd.KeyStore // nil when unsigned
	Port int           // UDP and TCP on 127.0.0.1

	mu      sync.Mutex
	gen     int64
	records []dnsrecords.Record
}

// peerTTL is the TTL of a peer zone's records: short, so that a
// record the test changes reaches the resolver at the box's next try.
const peerTTL = 1

// startPeerZone serves zone with the records (zone-file lines; the SOA
// and NS are added) on a free loopback port, signed when signed is set.
func startPeerZone(t *testing.T, zone string, signed bool, records ...string) *peerZone {
	t.Helper()
	z := &peerZone{t: t, zone: dns.Fqdn(strings.ToLower(zone)), gen: 1}
	if signed {
		z.keys = testutil.Store(t)
	}
	apex := strings.TrimSuffix(z.zone, ".")
	// SOA minimum 1: NXDOMAIN and NODATA are not cached either.
	z.Add(fmt.Sprintf("%s SOA ns.%s hostmaster.%s 1 3600 600 86400 1", z.zone, z.zone, z.zone), "ns."+z.zone+" A 127.0.0.1", z.zone+" NS ns."+z.zone)
	z.Add(records...)
	srv := dnsd.New(dnsd.Options{
		PollInterval: 50 * time.Millisecond,
		RateLimit:    -1,
		Keys:         z.keys,
		Generation: func(context.Context) (int64, error) {
			z.mu.Lock()
			defer z.mu.Unlock()
			return z.gen, nil
		},
		Records: func(_ context.Context, gen int64) (*dnsrecords.Set, error) {
			z.mu.Lock()
			defer z.mu.Unlock()
			recs := make([]dnsrecords.Record, len(z.records))
			copy(recs, z.records)
			for i := range recs {
				if recs[i].Type == "SOA" {
					recs[i].Value = soaWithSerial(recs[i].Value, gen)
				}
			}
			return &dnsrecords.Set{Zones: []string{apex}, Records: recs}, nil
		},
	})
	udp, tcp := testutil.ListenPair(t)
	z.Port = tcp.Addr().(*net.TCPAddr).Port
	go srv.Serve(tcp)
	go srv.ServePacket(udp)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Log(err)
		}
	})
	testutil.WaitFor(t, "the peer's DNS server", 10*time.Second, func() bool {
		m := new(dns.Msg)
		m.SetQuestion(z.zone, dns.TypeSOA)
		r, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(m, "127.0.0.1:"+strconv.Itoa(z.Port))
		return err == nil && r.Rcode == dns.RcodeSuccess
	})
	return z
}

// soaWithSerial is SOA RDATA with its serial replaced.
func soaWithSerial(rdata string, serial int64) string {
	f := strings.Fields(rdata)
	f[2] = strconv.FormatInt(serial, 10)
	return strings.Join(f, " ")
}

// Add publishes records (zone-file lines, in the zone).
func (z *peerZone) Add(lines ...string) {
	z.t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			z.t.Fatalf("record %q: %v", l, err)
		}
		h := rr.Header()
		name := strings.TrimSuffix(strings.ToLower(h.Name), ".")
		typ := dns.TypeToString[h.Rrtype]
		value := strings.TrimSpace(strings.TrimPrefix(rr.String(), h.String()))
		z.records = append(z.records, dnsrecords.Record{Zone: strings.TrimSuffix(z.zone, "."), Name: name, Type: typ, TTL: peerTTL, Value: value, Why: "test"})
	}
	z.gen++
}

// Anchor is the zone's DS record as a trust anchor, as the parent zone
// would publish it.
func (z *peerZone) Anchor() string {
	z.t.Helper()
	if z.keys == nil {
		z.t.Fatal("an unsigned zone has no DS")
	}
	zk, err := dnsd.ReadKeys(context.Background(), z.keys, "", z.zone)
	if err != nil {
		z.t.Fatal(err)
	}
	return strings.Join(strings.Fields(zk.DS()[0].String()), " ")
}

// tamperer is an attacker on the path between a resolver and a zone's
// server: while on, it corrupts the signatures over the records of one
// type in the answers it relays, leaving the records themselves as the
// server sent them.
type tamperer struct {
	Port   int
	target string
	qtype  uint16
	mu     sync.Mutex
	on     bool
	hits   int
}

// startTamperer relays DNS (UDP and TCP) to the server on 127.0.0.1:port,
// corrupting the RRSIGs over qtype while on.
func startTamperer(t *testing.T, port int, qtype uint16) *tamperer {
	t.Helper()
	tp := &tamperer{target: "127.0.0.1:" + strconv.Itoa(port), qtype: qtype, on: true}
	relay := func(network string) dns.Handler {
		return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			resp, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: dns.MaxMsgSize}).Exchange(req, tp.target)
			if err != nil {
				return // the resolver asks again
			}
			tp.mu.Lock()
			if tp.on {
				for _, rr := range append(append([]dns.RR{}, resp.Answer...), resp.Ns...) {
					if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == tp.qtype {
						b := []byte(sig.Signature)
						// Base64 of the signature: another letter is another signature.
						if b[0] == 'A' {
							b[0] = 'B'
						} else {
							b[0] = 'A'
						}
						sig.Signature = string(b)
						tp.hits++
					}
				}
			}
			tp.mu.Unlock()
			if err := w.WriteMsg(resp); err != nil {
				t.Log(err)
			}
		})
	}
	addr := testutil.ServeDNS(t, relay("udp"), relay("tcp"))
	_, ps, _ := net.SplitHostPort(addr)
	tp.Port, _ = strconv.Atoi(ps)
	return tp
}

// set turns the tampering on or off; it returns how many signatures it
// has corrupted so far.
func (tp *tamperer) set(on bool) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.on = on
	return tp.hits
}
