package dnsd

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"boxmail/internal/dnsrecords"
)

// zoneSet is an immutable snapshot of every zone, swapped atomically on
// reload.
type zoneSet struct {
	apexes map[string]*zone // fqdn, lower-case
	nodes  map[string]*node // every existing name, including empty non-terminals
}

type zone struct {
	apex string
	soa  *dns.SOA
	ns   []dns.RR
	// delegates: some name below the apex has NS records.
	delegates bool
	// signer is set when the zone is signed (sign.go); chain is then
	// its NSEC chain, the names in canonical order.
	signer *zoneSigner
	chain  []string
}

type node struct {
	zone  *zone
	rrs   map[uint16][]dns.RR
	types []uint16 // in insertion order, for ANY
	// In a signed zone (sign.go): the RRSIGs of each type, the NSEC of
	// the name (nil for an empty non-terminal) and its RRSIG.
	sigs     map[uint16][]dns.RR
	nsec     *dns.NSEC
	nsecSigs []dns.RR
}

// buildZones builds the zones of set; extra are records beside the
// set's (the ACME challenges of a signed zone, which its NSEC chain
// must name).
func buildZones(set *dnsrecords.Set, extra []dns.RR) (*zoneSet, error) {
	zs := &zoneSet{apexes: map[string]*zone{}, nodes: map[string]*node{}}
	for _, a := range set.Zones {
		fq := dns.Fqdn(strings.ToLower(a))
		zs.apexes[fq] = &zone{apex: fq}
	}
	rrs := make([]dns.RR, 0, len(set.Records)+len(extra))
	for _, r := range set.Records {
		rr, err := r.RR()
		if err != nil {
			return nil, fmt.Errorf("record %s %s %s: %w", r.Name, r.Type, r.Value, err)
		}
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		if zs.apexes[dns.Fqdn(r.Zone)] == nil {
			continue
		}
		rrs = append(rrs, rr)
	}
	for _, rr := range extra {
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		rrs = append(rrs, rr)
	}
	for _, rr := range rrs {
		h := rr.Header()
		z := zs.findZone(h.Name)
		if z == nil {
			continue
		}
		n := zs.node(h.Name, z)
		if _, ok := n.rrs[h.Rrtype]; !ok {
			n.types = append(n.types, h.Rrtype)
		}
		n.rrs[h.Rrtype] = append(n.rrs[h.Rrtype], rr)
		if h.Name != z.apex && h.Rrtype == dns.TypeNS {
			z.delegates = true
		}
		if h.Name == z.apex {
			switch rr := rr.(type) {
			case *dns.SOA:
				z.soa = rr
			case *dns.NS:
				z.ns = append(z.ns, rr)
			}
		}
		// Empty non-terminals exist (RFC 8020: NODATA, not NXDOMAIN).
		for p := h.Name; p != z.apex; {
			i := strings.IndexByte(p, '.')
			p = p[i+1:]
			zs.node(p, z)
		}
	}
	for a, z := range zs.apexes {
		if z.soa == nil {
			return nil, fmt.Errorf("zone %s has no SOA", a)
		}
		zs.node(a, z)
	}
	return zs, nil
}

func (zs *zoneSet) node(name string, z *zone) *node {
	n := zs.nodes[name]
	if n == nil {
		n = &node{zone: z, rrs: map[uint16][]dns.RR{}}
		zs.nodes[name] = n
	}
	return n
}

// findZone returns the zone of the longest apex that name is under.
func (zs *zoneSet) findZone(name string) *zone {
	for p := name; ; {
		if z := zs.apexes[p]; z != nil {
			return z
		}
		i := strings.IndexByte(p, '.')
		if i < 0 || i == len(p)-1 {
			return nil
		}
		p = p[i+1:]
	}
}

// withName returns rrs with their owner name written as the client asked
// (case preserved), copying only when the case differs.
func withName(rrs []dns.RR, name string) []dns.RR {
	if len(rrs) == 0 || rrs[0].Header().Name == name {
		return rrs
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = name
		out[i] = c
	}
	return out
}

// negSOA is the SOA for the authority section of a negative answer; its
// TTL is the smaller of the SOA's TTL and its minimum (RFC 2308 3).
func negSOA(z *zone) dns.RR {
	s := *z.soa
	s.Hdr.Ttl = min(s.Hdr.Ttl, s.Minttl)
	return &s
}

// resolve fills m's sections and rcode for the question. It returns the
// name (lower case) the answer ended at after any CNAMEs, and its zone
// (nil when refused), which the DNSSEC proofs are about.
func (zs *zoneSet) resolve(m *dns.Msg, q dns.Question) (string, *zone) {
	asked := q.Name
	name := strings.ToLower(q.Name)
	z := zs.findZone(name)
	if z == nil {
		m.Rcode = dns.RcodeRefused // not ours, and no recursion
		return name, nil
	}
	m.Authoritative = true
	for range 8 { // CNAME chain inside our zones
		// A delegation (custom NS below the apex) on the way down.
		if ref := zs.delegation(name, z); ref != nil {
			if q.Qtype != dns.TypeDS || ref.Header().Name != name {
				if len(m.Answer) == 0 {
					m.Authoritative = false
				}
				m.Ns = append(m.Ns, zs.nodes[ref.Header().Name].rrs[dns.TypeNS]...)
				for _, rr := range zs.nodes[ref.Header().Name].rrs[dns.TypeNS] {
					if g := zs.nodes[strings.ToLower(rr.(*dns.NS).Ns)]; g != nil {
						m.Extra = append(m.Extra, g.rrs[dns.TypeA]...)
						m.Extra = append(m.Extra, g.rrs[dns.TypeAAAA]...)
					}
				}
				return name, z
			}
		}
		n := zs.nodes[name]
		if n == nil {
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, negSOA(z))
			return name, z
		}
		if q.Qtype == dns.TypeANY {
			// RFC 8482: a minimal answer instead of every RRset.
			m.Answer = append(m.Answer, &dns.HINFO{Hdr: dns.RR_Header{Name: asked, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: 3600}, Cpu: "RFC8482"})
			return name, z
		}
		if rrs := n.rrs[q.Qtype]; len(rrs) > 0 {
			m.Answer = append(m.Answer, withName(rrs, asked)...)
			return name, z
		}
		if c := n.rrs[dns.TypeCNAME]; len(c) > 0 {
			m.Answer = append(m.Answer, withName(c, asked)...)
			target := strings.ToLower(c[0].(*dns.CNAME).Target)
			tz := zs.findZone(target)
			if tz == nil {
				return name, z // the resolver follows it elsewhere
			}
			name, asked, z = target, c[0].(*dns.CNAME).Target, tz
			continue
		}
		m.Ns = append(m.Ns, negSOA(z)) // NODATA
		return name, z
	}
	return name, z
}

// delegation returns an NS record of a name between the apex (exclusive)
// and name (inclusive) that has NS records, the closest to the apex.
func (zs *zoneSet) delegation(name string, z *zone) dns.RR {
	if !z.delegates || name == z.apex || len(name) <= len(z.apex) {
		return nil
	}
	rel := strings.TrimSuffix(name, "."+z.apex)
	labels := strings.Split(rel, ".")
	p := z.apex
	for i := len(labels) - 1; i >= 0; i-- {
		p = labels[i] + "." + p
		if n := zs.nodes[p]; n != nil {
			if ns := n.rrs[dns.TypeNS]; len(ns) > 0 {
				return ns[0]
			}
		}
	}
	return nil
}
