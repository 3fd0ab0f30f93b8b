package main

// DNSSEC and DANE around the box's own DNS server (dnsd signs): the DS
// records for the registrars, the TLSA records of the certificate,
// 'boxmail dns zone --signed' and the status line of the chain of
// trust.
//
// TLSA rollover: the records are "3 1 1" (the SHA-256 of the
// certificate's public key), which survive a renewal because the
// certificate manager (internal/certs) renews with the same key. The key
// changes only when the certificate does otherwise (the self-signed pair
// replaced by ACME's, a pair installed by hand); the zone is rebuilt
// when the served certificate's key changes, and senders that cached the
// old record defer mail for up to its TTL, which is therefore short
// (dnsrecords.TLSATTL, 5 minutes). Publishing the next key ahead of such
// a change (publish next, wait two TTLs, switch, as dnsd's ZSK rollover
// does) is not done.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/dnsd"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// dnssecDir holds the zones' DNSSEC key files (dnsd keys.go).
func dnssecDir(dir string) string { return filepath.Join(dir, "dnssec") }

// dnssecDS returns the DS records (RDATA) of each zone that has keys:
// the hosted domains and the hostname's own zone.
func dnssecDS(dir, hostname string, domains []store.Domain) map[string][]string {
	zones := []string{strings.ToLower(strings.TrimSuffix(hostname, "."))}
	for _, d := range domains {
		zones = append(zones, d.Name)
	}
	out := map[string][]string{}
	for _, z := range zones {
		zk, err := dnsd.ReadKeys(dnssecDir(dir), z)
		if err != nil {
			continue // not signed yet: 'boxmail serve' makes the keys
		}
		for _, ds := range zk.DS() {
			out[z] = append(out[z], fmt.Sprintf("%d %d %d %s", ds.KeyTag, ds.Algorithm, ds.DigestType, ds.Digest))
		}
	}
	return out
}

// boxTLSA returns the TLSA RDATA of the certificate the box serves; none
// when that certificate is not known here (live false: ACME's, held by
// the serving process).
func boxTLSA(cm *certs.Manager, live bool) []string {
	if !live {
		return nil
	}
	leaf, _ := cm.Leaf()
	if leaf == nil {
		return nil
	}
	return []string{dnsrecords.TLSAValue(leaf)}
}

// dnsSecondaries are the secondary name servers of the config (checked
// there as ip:port).
func dnsSecondaries(cfg config.Config, log *slog.Logger) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range cfg.DNSSecondaries {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			log.Warn("dns_secondaries: skipping an address", "addr", s, "err", err)
			continue
		}
		out = append(out, ap)
	}
	return out
}

// dnsZone prints a zone signed as the box serves it.
func dnsZone(e *env, args []string) error {
	var signed bool
	return dnsBox(e, "zone", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&signed, "signed", false, "with its DNSSEC records (required)")
	}, func(pos []string) error {
		if len(pos) != 1 || !signed {
			return usagef("usage: dns zone DOMAIN --signed")
		}
		return nil
	}, func(r dnsRun) error {
		zones, err := zonesFor(r.set, r.pos[0])
		if err != nil {
			return err
		}
		rrs, err := dnsd.SignedZone(r.set, dnssecDir(r.dir), zones[0], time.Now())
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s has no DNSSEC keys yet: 'boxmail serve' makes them when it first loads the zone", zones[0])
		}
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, rr := range rrs {
			b.WriteString(rr.String())
			b.WriteByte('\n')
		}
		_, err = fmt.Fprint(e.stdout, b.String())
		return err
	})
}

// dnssecChecks are the status lines of DNSSEC, one per zone: whether
// the keys exist, the DS for the registrar, and, when the config names
// resolvers, whether the first that answers validates the zone (the AD
// bit), each query bounded by timeout.
func dnssecChecks(ctx context.Context, dir string, cfg config.Config, set *dnsrecords.Set, timeout time.Duration) []dnsrecords.Result {
	var out []dnsrecords.Result
	for _, z := range set.Zones {
		ds := set.DS[z]
		if len(ds) == 0 {
			out = append(out, dnsrecords.Result{Level: dnsrecords.Warn, Subject: z, Check: "DNSSEC",
				Found: "no DNSSEC keys yet", Fix: "'boxmail serve' makes them when it first loads the zone"})
			continue
		}
		r := dnsrecords.Result{Level: dnsrecords.OK, Subject: z, Check: "DNSSEC",
			Found: fmt.Sprintf("keys present; DS for the registrar: %s. IN DS %s", z, strings.Join(ds, " / "))}
		if len(cfg.Resolvers) == 0 {
			r.Found += "; chain not checked (no resolver in boxmail.conf)"
		} else {
			chainCheck(ctx, cfg.Resolvers, z, ds, timeout, &r)
		}
		out = append(out, r)
	}
	return out
}

// chainCheck asks the resolvers whether z validates, and if it does
// not, whether the parent has our DS.
func chainCheck(ctx context.Context, resolvers []string, z string, ours []string, timeout time.Duration, r *dnsrecords.Result) {
	ask := func(qtype uint16) (*dns.Msg, string, error) {
		var last error
		for _, srv := range resolvers {
			if _, _, err := net.SplitHostPort(srv); err != nil {
				srv = net.JoinHostPort(srv, "53")
			}
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(z), qtype)
			m.SetEdns0(1232, true)
			qctx, cancel := context.WithTimeout(ctx, timeout)
			resp, _, err := (&dns.Client{Net: "tcp", Timeout: timeout}).ExchangeContext(qctx, m, srv)
			cancel()
			if err == nil {
				return resp, srv, nil
			}
			last = err
		}
		return nil, "", last
	}
	resp, srv, err := ask(dns.TypeSOA)
	switch {
	case err != nil:
		r.Level, r.Found = dnsrecords.Warn, r.Found+"; could not check the chain of trust: "+err.Error()
		return
	case resp.Rcode == dns.RcodeServerFailure:
		r.Level, r.Found = dnsrecords.Fail, r.Found+"; "+srv+" fails to validate the zone (SERVFAIL)"
		r.Fix = "give the registrar the DS above, and remove any other DS it has for " + z
		return
	case resp.AuthenticatedData:
		r.Found += "; the chain of trust validates (" + srv + " answers with AD)"
		return
	}
	dsResp, _, err := ask(dns.TypeDS)
	var parent []string
	if err == nil {
		for _, rr := range dsResp.Answer {
			if d, ok := rr.(*dns.DS); ok {
				parent = append(parent, fmt.Sprintf("%d %d %d %s", d.KeyTag, d.Algorithm, d.DigestType, strings.ToUpper(d.Digest)))
			}
		}
	}
	match := slices.ContainsFunc(parent, func(p string) bool {
		return slices.ContainsFunc(ours, func(o string) bool { return strings.EqualFold(o, p) })
	})
	switch {
	case len(parent) == 0:
		r.Level, r.Found = dnsrecords.Warn, r.Found+"; not validated: the parent zone has no DS for "+z+" yet"
		r.Fix = "give the registrar of " + z + " the DS record above"
	case !match:
		r.Level, r.Found = dnsrecords.Fail, r.Found+"; the parent's DS ("+strings.Join(parent, ", ")+") is not the box's key"
		r.Fix = "replace the DS at the registrar with the one above"
	default:
		r.Level, r.Found = dnsrecords.Warn, r.Found+"; the parent has the DS, but "+srv+" does not validate (not a validating resolver?)"
	}
}
