package dnsd

// Zone transfers to secondary name servers: AXFR (RFC 5936) over TCP to
// the addresses of Options.Secondaries, refused to everyone else; an
// IXFR (RFC 1995) is answered with the whole zone, as RFC 1995 4 allows.
// When the zones are reloaded the secondaries are sent a NOTIFY (RFC
// 1996) for each zone, so they transfer at once. ACME challenge records
// are in memory and do not change the serial: a secondary does not get
// them, so with secondaries listed as NS, use HTTP-01 or keep the box
// the only name server asked.

import (
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// transferChunk is how many records go in one message of a transfer.
const transferChunk = 200

// isTransfer tells whether req asks for a zone transfer.
func isTransfer(req *dns.Msg) bool {
	return !req.Response && req.Opcode == dns.OpcodeQuery && len(req.Question) == 1 &&
		(req.Question[0].Qtype == dns.TypeAXFR || req.Question[0].Qtype == dns.TypeIXFR)
}

// allowedSecondary tells whether a transfer may go to addr.
func (s *Server) allowedSecondary(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return false // never over UDP
	}
	ip := tcp.AddrPort().Addr().Unmap()
	for _, sec := range s.opts.Secondaries {
		if sec.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}

// transfer answers an AXFR or IXFR: the whole zone, SOA first and last,
// or REFUSED.
func (s *Server) transfer(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	zs := s.zones.Load()
	var z *zone
	if zs != nil {
		z = zs.apexes[strings.ToLower(q.Name)]
	}
	if z == nil || !s.allowedSecondary(w.RemoteAddr()) {
		s.log.Info("zone transfer refused", "zone", q.Name, "remote", w.RemoteAddr().String())
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		if err := w.WriteMsg(m); err != nil {
			s.log.Debug("answering a refused transfer", "remote", w.RemoteAddr().String(), "err", err)
		}
		return
	}
	rrs := append(zs.zoneRRs(z), z.soa)
	for i := 0; i < len(rrs); i += transferChunk {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative, m.Compress = true, true
		m.Answer = rrs[i:min(i+transferChunk, len(rrs))]
		if err := w.WriteMsg(m); err != nil {
			s.log.Warn("zone transfer cut short", "zone", q.Name, "remote", w.RemoteAddr().String(), "err", err)
			return
		}
	}
	s.log.Info("zone transferred", "zone", q.Name, "remote", w.RemoteAddr().String(), "records", len(rrs))
}

// notify tells every secondary that the zones changed, in the
// background: three tries each, two seconds apart.
func (s *Server) notify(zs *zoneSet) {
	for _, sec := range s.opts.Secondaries {
		for apex := range zs.apexes {
			go s.notifyOne(sec, apex)
		}
	}
}

func (s *Server) notifyOne(sec netip.AddrPort, apex string) {
	m := new(dns.Msg)
	m.SetNotify(apex)
	m.Authoritative = true
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	var err error
	for range 3 {
		var r *dns.Msg
		if r, _, err = c.Exchange(m, sec.String()); err == nil && r.Rcode == dns.RcodeSuccess {
			s.log.Debug("NOTIFY answered", "zone", apex, "secondary", sec.String())
			return
		}
		select {
		case <-s.stop:
			return
		case <-time.After(2 * time.Second):
		}
	}
	s.log.Warn("NOTIFY not answered", "zone", apex, "secondary", sec.String(), "err", err)
}
