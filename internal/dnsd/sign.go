package dnsd

// Online signing (RFC 4033-4035). When a zone set is built, each zone
// with keys gets its DNSKEY RRset at the apex, a complete NSEC chain
// over its names (canonical order, RFC 4034 6.1) and an RRSIG for every
// authoritative RRset, so a query costs no signing at all: answers to a
// query with the DO bit copy the signatures in.
//
// Signatures are cached by content (signer key, owner, type, TTL and
// RDATA), so a reload re-signs only the RRsets that changed (the SOA,
// whose serial moved) and a signature is reused until it has less than
// resignBefore of its validity left; the poll loop rebuilds the zones
// when the first signature reaches that point.
//
// Denial of existence is a real NSEC chain, not NSEC3 and not
// synthesised "white/black lies": the zone is small and changes rarely,
// so the chain is built and signed once per change; a query for a
// random name costs no signature (an on-the-fly signer pays one per
// query, the cost a random-subdomain flood would exploit); resolvers
// can answer from the chain without asking (RFC 8198); and a zone dump
// is a complete signed zone that dnssec-verify and ldns-verify-zone
// check. The price is that the chain lists the zone's names, which here
// are the predictable ones every mail domain publishes (MX, _dmarc,
// DKIM selectors that every signed message names, autoconfig...) and
// the admin's custom records; NSEC3 would hide them only from someone
// not willing to run a dictionary over its hashes (RFC 9276).
//
// Not handled: the server has no wildcards, so a custom record named
// "*.X" is served as a literal name, and a validator that sees it in the
// chain expects names below X to be synthesised from it: its NXDOMAIN
// answers there do not validate. Nested hosted zones (example.net and
// sub.example.net both hosted) get no DS in the parent zone, so the
// inner one is an island of trust.

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Signature validity: inception an hour back (clock skew), expiry two
// weeks on, re-signed with a week left.
const (
	sigInception = time.Hour
	sigValidity  = 14 * 24 * time.Hour
	resignBefore = 7 * 24 * time.Hour
)

// sigCache keeps signatures by content across zone builds.
type sigCache struct {
	mu sync.Mutex
	m  map[string]*dns.RRSIG
}

// cacheMax bounds the cache; past it, it is emptied (the zones are
// re-signed at their next build).
const cacheMax = 100000

// contentKey identifies an RRset signed by a key: the key tag, the
// owner, type, TTL and sorted RDATA.
func contentKey(tag uint16, rrs []dns.RR) string {
	lines := make([]string, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = strings.ToLower(c.Header().Name)
		lines[i] = c.String()
	}
	slices.Sort(lines)
	h := sha256.New()
	h.Write([]byte{byte(tag >> 8), byte(tag)})
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sign returns the signature of rrs by k, from the cache when it has
// one with more than resignBefore left.
func (c *sigCache) sign(apex string, k *Key, rrs []dns.RR, now time.Time) (*dns.RRSIG, error) {
	key := contentKey(k.pub.KeyTag(), rrs)
	c.mu.Lock()
	sig := c.m[key]
	c.mu.Unlock()
	if sig != nil && time.Unix(int64(sig.Expiration), 0).Sub(now) > resignBefore {
		return sig, nil
	}
	h := rrs[0].Header()
	sig = &dns.RRSIG{
		Hdr:        dns.RR_Header{Name: strings.ToLower(h.Name), Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		Algorithm:  k.pub.Algorithm,
		SignerName: apex,
		KeyTag:     k.pub.KeyTag(),
		Inception:  uint32(now.Add(-sigInception).Unix()),
		Expiration: uint32(now.Add(sigValidity).Unix()),
	}
	if err := sig.Sign(k.priv, rrs); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= cacheMax {
		c.m = map[string]*dns.RRSIG{}
	}
	c.m[key] = sig
	c.mu.Unlock()
	return sig, nil
}

// zoneSigner is what a built zone needs to sign on the fly (RFC 8482's
// synthesised HINFO).
type zoneSigner struct {
	keys  *ZoneKeys
	cache *sigCache
	now   func() time.Time
}

// signZones adds DNSSEC to every zone that has keys: DNSKEY at the
// apex, the NSEC chain, and the signatures. It returns the earliest
// signature expiry (zero when nothing is signed).
func (zs *zoneSet) signZones(keys map[string]*ZoneKeys, cache *sigCache, now func() time.Time) (time.Time, error) {
	var first time.Time
	for apex, z := range zs.apexes {
		zk := keys[apex]
		if zk == nil || !zk.Signed() { // DNSSEC off: served unsigned (unsign.go)
			continue
		}
		z.signer = &zoneSigner{keys: zk, cache: cache, now: now}
		apexNode := zs.nodes[apex]
		apexNode.rrs[dns.TypeDNSKEY] = zk.DNSKEYs()
		apexNode.rrs[dns.TypeCDS], apexNode.rrs[dns.TypeCDNSKEY] = zk.CDS()
		apexNode.types = append(apexNode.types, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY)
		zs.buildChain(z)
		exp, err := zs.signZone(z, now())
		if err != nil {
			return first, err
		}
		if first.IsZero() || exp.Before(first) {
			first = exp
		}
	}
	return first, nil
}

// buildChain makes the zone's NSEC records (RFC 4034 4): every name
// that has records and is not below a delegation, in canonical order,
// each naming the next and its types.
func (zs *zoneSet) buildChain(z *zone) {
	var names []string
	for name, n := range zs.nodes {
		if n.zone != z || len(n.rrs) == 0 {
			continue
		}
		if ref := zs.delegation(name, z); ref != nil && ref.Header().Name != name {
			continue // glue: not authoritative
		}
		names = append(names, name)
	}
	slices.SortFunc(names, canonicalCompare)
	z.chain = names
	ttl := min(z.soa.Hdr.Ttl, z.soa.Minttl) // RFC 4035 2.3 (RFC 9077)
	for i, name := range names {
		n := zs.nodes[name]
		bitmap := []uint16{dns.TypeRRSIG, dns.TypeNSEC}
		for t := range n.rrs {
			bitmap = append(bitmap, t)
		}
		slices.Sort(bitmap)
		n.nsec = &dns.NSEC{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: names[(i+1)%len(names)], TypeBitMap: bitmap}
	}
}

// signZone signs every authoritative RRset of z and its NSEC records;
// it returns the earliest expiry.
func (zs *zoneSet) signZone(z *zone, now time.Time) (time.Time, error) {
	var first time.Time
	note := func(sig *dns.RRSIG) {
		exp := time.Unix(int64(sig.Expiration), 0)
		if first.IsZero() || exp.Before(first) {
			first = exp
		}
	}
	zk := z.signer.keys
	for _, name := range z.chain {
		n := zs.nodes[name]
		n.sigs = map[uint16][]dns.RR{}
		delegation := name != z.apex && len(n.rrs[dns.TypeNS]) > 0
		for t, rrs := range n.rrs {
			if delegation && t != dns.TypeDS {
				continue // the child's records, not ours to sign (RFC 4035 2.2)
			}
			signers := []*Key{zk.ZSK()}
			switch t {
			case dns.TypeDNSKEY:
				signers = zk.ksks() // both during a KSK rollover
			case dns.TypeCDS, dns.TypeCDNSKEY:
				signers = append(zk.ksks(), zk.ZSK()) // RFC 7344 4.1
			}
			for _, k := range signers {
				sig, err := z.signer.cache.sign(z.apex, k, rrs, now)
				if err != nil {
					return first, err
				}
				note(sig)
				n.sigs[t] = append(n.sigs[t], sig)
			}
		}
		sig, err := z.signer.cache.sign(z.apex, zk.ZSK(), []dns.RR{n.nsec}, now)
		if err != nil {
			return first, err
		}
		note(sig)
		n.nsecSigs = []dns.RR{sig}
	}
	return first, nil
}

// canonicalCompare orders names as RFC 4034 6.1 does: label by label
// from the right, each label as lower-case octets.
func canonicalCompare(a, b string) int {
	la, lb := wireLabels(a), wireLabels(b)
	for i := 1; i <= len(la) && i <= len(lb); i++ {
		if c := strings.Compare(la[len(la)-i], lb[len(lb)-i]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// wireLabels returns name's labels as lower-case octets (escapes such
// as \046 and \. decoded).
func wireLabels(name string) []string {
	buf := make([]byte, 256)
	off, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return dns.SplitDomainName(strings.ToLower(name))
	}
	var out []string
	for i := 0; i < off && buf[i] != 0; {
		l := int(buf[i])
		out = append(out, strings.ToLower(string(buf[i+1:i+1+l])))
		i += 1 + l
	}
	return out
}

// covering returns the NSEC whose range holds name (a name not in the
// chain): the one of the last chain name before it.
func (zs *zoneSet) covering(z *zone, name string) *node {
	i, _ := slices.BinarySearchFunc(z.chain, name, canonicalCompare)
	if i == 0 {
		i = len(z.chain) // before the first name only the last NSEC (wrapping to the apex) covers
	}
	return zs.nodes[z.chain[i-1]]
}
