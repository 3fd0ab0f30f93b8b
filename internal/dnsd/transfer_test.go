package dnsd

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// axfr transfers zone from the server, dialling from local.
func axfr(t *testing.T, ts *testServer, local string, zone string) ([]dns.RR, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Log(err)
		}
	}()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: c}}
	ch, err := tr.In(m, ts.addr)
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for env := range ch {
		if env.Error != nil {
			return out, env.Error
		}
		out = append(out, env.RR...)
	}
	return out, nil
}

func TestZoneTransferAndNotify(t *testing.T) {
	notified := make(chan string, 10)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sec := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Opcode == dns.OpcodeNotify {
			notified <- r.Question[0].Name
		}
		m := new(dns.Msg)
		m.SetReply(r)
		if err := w.WriteMsg(m); err != nil {
			t.Log(err)
		}
	})}
	go func() {
		if err := sec.ActivateAndServe(); err != nil {
			t.Log(err)
		}
	}()
	t.Cleanup(func() {
		if err := sec.Shutdown(); err != nil {
			t.Log(err)
		}
	})
	secAddr := netip.MustParseAddrPort(pc.LocalAddr().String())
	ts := startTestServer(t, func(o *Options) {
		signing(t, o)
		o.Secondaries = []netip.AddrPort{secAddr}
	})
	waitNotify := func() {
		t.Helper()
		select {
		case z := <-notified:
			if z != "example.net." {
				t.Errorf("NOTIFY for %s", z)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no NOTIFY")
		}
	}
	waitNotify() // at the first load

	rrs, err := axfr(t, ts, "127.0.0.1", "example.net.")
	if err != nil {
		t.Fatal(err)
	}
	if len(rrs) < 10 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("AXFR: %d records, not SOA ... SOA: %v", len(rrs), rrs)
	}
	count := map[uint16]int{}
	for _, rr := range rrs {
		count[rr.Header().Rrtype]++
	}
	for _, typ := range []uint16{dns.TypeMX, dns.TypeDNSKEY, dns.TypeRRSIG, dns.TypeNSEC} {
		if count[typ] == 0 {
			t.Errorf("AXFR has no %s", dns.TypeToString[typ])
		}
	}

	// Anyone else is refused.
	if _, err := axfr(t, ts, "127.0.0.2", "example.net."); err == nil {
		t.Error("a transfer to a stranger (127.0.0.2) was allowed")
	}
	if _, err := axfr(t, ts, "127.0.0.1", "example.com."); err == nil {
		t.Error("a transfer of a zone not served was allowed")
	}
	// Over UDP, never.
	m := new(dns.Msg)
	m.SetAxfr("example.net.")
	if r, _, err := (&dns.Client{Net: "udp"}).Exchange(m, ts.addr); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("AXFR over UDP: %v %v", r, err)
	}

	// A change: a NOTIFY.
	ts.set(2)
	waitNotify()
}
