package dnsd

import (
	"strings"

	"github.com/miekg/dns"
)

// addDNSSEC completes a response to a query with the DO bit (RFC 4035
// 3.1): the RRSIGs of the answer's RRsets, and for a negative answer the
// SOA's RRSIG and the NSEC records that prove it; for a referral, the
// delegation's NSEC (no DS: an insecure delegation). name and z are
// where resolve ended.
func (zs *zoneSet) addDNSSEC(m *dns.Msg, name string, z *zone) {
	if z == nil || z.signer == nil {
		return
	}
	m.Answer = append(m.Answer, zs.sigsOf(m.Answer)...)
	if len(m.Ns) == 0 {
		return
	}
	switch first := m.Ns[0].(type) {
	case *dns.NS: // referral
		if n := zs.nodes[strings.ToLower(first.Hdr.Name)]; n != nil && n.nsec != nil {
			m.Ns = append(m.Ns, n.nsec)
			m.Ns = append(m.Ns, n.nsecSigs...)
		}
	case *dns.SOA: // NXDOMAIN or NODATA
		m.Ns = append(m.Ns, withTTL(zs.nodes[z.apex].sigs[dns.TypeSOA], first.Hdr.Ttl)...)
		for _, n := range zs.denial(name, z, m.Rcode == dns.RcodeNameError) {
			m.Ns = append(m.Ns, n.nsec)
			m.Ns = append(m.Ns, n.nsecSigs...)
		}
	}
}

// denial returns the nodes whose NSEC records prove that name does not
// exist (nx) or has no RRset of the type asked (RFC 4035 3.1.3).
func (zs *zoneSet) denial(name string, z *zone, nx bool) []*node {
	if len(z.chain) == 0 {
		return nil
	}
	if !nx {
		if n := zs.nodes[name]; n != nil && n.nsec != nil {
			return []*node{n} // its bitmap lacks the type
		}
		return []*node{zs.covering(z, name)} // an empty non-terminal
	}
	cover := zs.covering(z, name)
	// The closest encloser: the longest existing ancestor; no wildcard
	// exists below it, which the NSEC covering "*.encloser" proves.
	enc := name
	for enc != z.apex {
		enc = enc[strings.IndexByte(enc, '.')+1:]
		if zs.nodes[enc] != nil {
			break
		}
	}
	wild := zs.covering(z, "*."+enc)
	if wild == cover {
		return []*node{cover}
	}
	return []*node{cover, wild}
}

// sigsOf returns the RRSIGs of the RRsets in section, with each owner
// name written as it is in section (the asked case). An RRset the zone
// did not hold (RFC 8482's HINFO) is signed now.
func (zs *zoneSet) sigsOf(section []dns.RR) []dns.RR {
	var out []dns.RR
	for i := 0; i < len(section); {
		h := section[i].Header()
		j := i + 1
		for j < len(section) && section[j].Header().Rrtype == h.Rrtype && strings.EqualFold(section[j].Header().Name, h.Name) {
			j++
		}
		out = append(out, zs.sigsFor(section[i:j])...)
		i = j
	}
	return out
}

func (zs *zoneSet) sigsFor(rrset []dns.RR) []dns.RR {
	h := rrset[0].Header()
	name := strings.ToLower(h.Name)
	var sigs []dns.RR
	if n := zs.nodes[name]; n != nil && len(n.sigs[h.Rrtype]) > 0 && len(n.rrs[h.Rrtype]) == len(rrset) {
		sigs = n.sigs[h.Rrtype]
	} else if z := zs.findZone(name); z != nil && z.signer != nil {
		sig, err := z.signer.cache.sign(z.apex, z.signer.keys.ZSK(), rrset, z.signer.now())
		if err != nil {
			return nil // answered unsigned: a validator treats it as bogus
		}
		sigs = []dns.RR{sig}
	}
	if name == h.Name {
		return sigs
	}
	return withName(sigs, h.Name)
}

// withTTL returns copies of rrs with ttl.
func withTTL(rrs []dns.RR, ttl uint32) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = ttl
		out[i] = c
	}
	return out
}
