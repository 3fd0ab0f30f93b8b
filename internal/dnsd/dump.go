package dnsd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/dnsrecords"
)

// SignedZone returns one zone of set as the server signs it with the
// keys in ks (read, never made; legacyDir: ReadKeys): every RRset, the
// DNSKEYs, the NSEC chain and the RRSIGs, in canonical order, for a zone
// dump that dnssec-verify or ldns-verify-zone can check.
func SignedZone(ctx context.Context, set *dnsrecords.Set, ks KeyStore, legacyDir, zone string, now time.Time) ([]dns.RR, error) {
	apex := dns.Fqdn(strings.ToLower(zone))
	zs, err := buildZones(set, nil)
	if err != nil {
		return nil, err
	}
	z := zs.apexes[apex]
	if z == nil {
		return nil, fmt.Errorf("%s is not one of the zones", zone)
	}
	zk, err := ReadKeys(ctx, ks, legacyDir, apex)
	if err != nil {
		return nil, err
	}
	if !zk.Signed() {
		return nil, fmt.Errorf("DNSSEC of %s is off", zone)
	}
	if _, err := zs.signZones(map[string]*ZoneKeys{apex: zk}, &sigCache{}, func() time.Time { return now }); err != nil {
		return nil, err
	}
	return zs.zoneRRs(z), nil
}

// zoneRRs returns every record of z: each name's RRsets (the SOA first)
// with their signatures and NSEC, names in canonical order, glue too.
func (zs *zoneSet) zoneRRs(z *zone) []dns.RR {
	var names []string
	for name, n := range zs.nodes {
		if n.zone == z && len(n.rrs) > 0 {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, canonicalCompare)
	var out []dns.RR
	for _, name := range names {
		n := zs.nodes[name]
		types := make([]uint16, 0, len(n.rrs))
		for t := range n.rrs {
			types = append(types, t)
		}
		slices.SortFunc(types, func(a, b uint16) int { // the SOA first, as zone files have it
			if (a == dns.TypeSOA) != (b == dns.TypeSOA) {
				if a == dns.TypeSOA {
					return -1
				}
				return 1
			}
			return int(a) - int(b)
		})
		for _, t := range types {
			out = append(out, n.rrs[t]...)
			out = append(out, n.sigs[t]...)
		}
		if n.nsec != nil {
			out = append(out, n.nsec)
			out = append(out, n.nsecSigs...)
		}
	}
	return out
}
