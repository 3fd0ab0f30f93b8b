package main

// DNSSEC and DANE around the box's own DNS server (dnsd signs): the DS
// records for the registrars, the TLSA records of the certificate,
// 'boxmail dns zone --signed' and the status line of the chain of
// trust.
//
// TLSA rollover: the records are "3 1 1" (the SHA-256 of the
// certificate's public key), which survive a renewal because the
// certificate manager (internal/certs) renews with the same key, and
// the first ACME certificate keeps the generated pair's key. A new key
// (a pair installed by hand, by command or the admin panel, or 'tls
// rotate-key' of ACME) is staged (certs next.go): its TLSA is published
// beside the current one, and the box switches to it two TTLs later
// (switchCertIfDue), then drops the old record. What still changes the
// key at once: 'tls install --now', replacing the generated pair while
// nothing else is served (a new box), and 'tls remove' back to an ACME
// certificate of another key; senders that cached the old record defer
// mail for up to its TTL, which is therefore short (dnsrecords.TLSATTL,
// 5 minutes).

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

// dnssecDir held the zones' DNSSEC key files before they moved into the
// store (dnsd keys.go): a zone without keys in the store imports its
// file from there once.
func dnssecDir(dir string) string { return filepath.Join(dir, "dnssec") }

// dnssecDS returns the DS records (RDATA) of each zone that has keys:
// the hosted domains and the hostname's own zone.
func dnssecDS(ctx context.Context, dir string, st *store.Store, hostname string, domains []store.Domain) map[string][]string {
	zones := []string{strings.ToLower(strings.TrimSuffix(hostname, "."))}
	for _, d := range domains {
		zones = append(zones, d.Name)
	}
	out := map[string][]string{}
	for _, z := range zones {
		zk, err := dnsd.ReadKeys(ctx, st, dnssecDir(dir), z)
		if err != nil || zk.Signing != dnsd.SigningOn {
			continue // not signed yet ('boxmail serve' makes the keys), or DNSSEC off (dnssecoff.go)
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
	out := []string{dnsrecords.TLSAValue(leaf)}
	if next := cm.NextTLSA(); next != "" && next != out[0] {
		out = append(out, next) // published ahead of the key change (certs next.go)
	}
	return out
}

// switchCertIfDue serves a staged pair once its TLSA has been out for
// certs.SwitchWait (the serving box's DNS poll calls it).
func switchCertIfDue(ctx context.Context, cm *certs.Manager, log *slog.Logger) {
	leaf, err := cm.SwitchIfDue(ctx, time.Now())
	switch {
	case err != nil:
		log.Warn("switching to the staged TLS certificate", "err", err)
	case leaf != nil:
		log.Info("switched to the staged TLS certificate: its TLSA was published two TTLs ago", "tlsa", dnsrecords.TLSAValue(leaf))
	}
}

// notePublished tells the certificate manager that the zones now carry
// the staged key's TLSA (in is what they were built from).
func notePublished(cm *certs.Manager, in dnsrecords.Input, log *slog.Logger) {
	if next := cm.NextTLSA(); next != "" && slices.Contains(in.TLSA, next) {
		if err := cm.Published(time.Now()); err != nil {
			log.Warn("noting the staged certificate's TLSA as published", "err", err)
		}
	}
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
		rrs, err := dnsd.SignedZone(context.Background(), r.set, r.st, dnssecDir(r.dir), zones[0], time.Now())
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
func dnssecChecks(ctx context.Context, dir string, st *store.Store, cfg config.Config, set *dnsrecords.Set, timeout time.Duration) []dnsrecords.Result {
	var out []dnsrecords.Result
	for _, z := range set.Zones {
		zk, _ := dnsd.ReadKeys(ctx, st, dnssecDir(dir), z)
		if r, ok := signingLine(ctx, zk, cfg, z, timeout); ok { // dnssecoff.go
			out = append(out, r)
			continue
		}
		ds := set.DS[z]
		if len(ds) == 0 {
			out = append(out, dnsrecords.Result{Level: dnsrecords.Warn, Subject: z, Check: "DNSSEC",
				Found: "no DNSSEC keys yet", Fix: "'boxmail serve' makes them when it first loads the zone"})
			continue
		}
		r := dnsrecords.Result{Level: dnsrecords.OK, Subject: z, Check: "DNSSEC",
			Found: fmt.Sprintf("keys present; DS for the registrar: %s. IN DS %s", z, strings.Join(ds, " / "))}
		var ro *dnsd.Rollover
		if zk != nil {
			ro = zk.KSKRollover()
		}
		ours := ds
		if ro != nil {
			ours = append(slices.Clone(ds), dsText(ro.Old))
		}
		if len(cfg.Resolvers) == 0 {
			r.Found += "; chain not checked (no resolver in boxmail.conf)"
		} else {
			chainCheck(ctx, cfg.Resolvers, z, ours, timeout, &r)
		}
		if ro != nil {
			rolloverState(ro, z, time.Now(), &r)
		}
		out = append(out, r)
	}
	return out
}

// rolloverState adds a KSK rollover in progress to the DNSSEC line: a
// warning until the old key is gone.
func rolloverState(ro *dnsd.Rollover, z string, now time.Time, r *dnsrecords.Result) {
	r.Found += fmt.Sprintf("; KSK rollover in progress since %s (CDS and CDNSKEY name the new key %d, the old key %d still signs)",
		ro.Since.UTC().Format(time.RFC3339), ro.New.KeyTag, ro.Old.KeyTag)
	if r.Level == dnsrecords.OK {
		r.Level = dnsrecords.Warn
	}
	if ro.ParentSeen.IsZero() {
		r.Fix = fmt.Sprintf("give the registrar the new DS %s. IN DS %s in place of the old one; the box retires the old key once the parent has it for its TTL ('boxmail dns rollover-ksk %s --finish' does it now)", z, dsText(ro.New), z)
		return
	}
	left := ro.ParentSeen.Add(ro.ParentWait).Sub(now).Round(time.Minute)
	r.Found += fmt.Sprintf("; the parent has had the new DS since %s, the old key goes in %s", ro.ParentSeen.UTC().Format(time.RFC3339), max(left, 0))
	r.Fix = "nothing: wait for the old key to go"
}

// chainCheck asks the resolvers whether z validates, and if it does
// not, whether the parent has our DS.
func chainCheck(ctx context.Context, resolvers []string, z string, ours []string, timeout time.Duration, r *dnsrecords.Result) {
	ask := func(qtype uint16) (*dns.Msg, string, error) {
		return askResolvers(ctx, resolvers, z, qtype, timeout)
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
	var parent []string
	if dsSet, err := parentDS(ctx, resolvers, z, timeout); err == nil {
		for _, d := range dsSet {
			parent = append(parent, dsText(d))
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

// askResolvers asks the first of resolvers that answers for name's
// qtype records, with the DO bit, each query bounded by timeout.
func askResolvers(ctx context.Context, resolvers []string, name string, qtype uint16, timeout time.Duration) (*dns.Msg, string, error) {
	last := errors.New("no resolver to ask")
	for _, srv := range resolvers {
		if _, _, err := net.SplitHostPort(srv); err != nil {
			srv = net.JoinHostPort(srv, "53")
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
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

// parentDS returns the DS RRset the parent of zone publishes, as the
// resolvers see it.
func parentDS(ctx context.Context, resolvers []string, zone string, timeout time.Duration) ([]*dns.DS, error) {
	resp, srv, err := askResolvers(ctx, resolvers, zone, dns.TypeDS, timeout)
	if err != nil {
		return nil, err
	}
	if resp.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s answers %s for the DS of %s", srv, dns.RcodeToString[resp.Rcode], zone)
	}
	var out []*dns.DS
	for _, rr := range resp.Answer {
		if d, ok := rr.(*dns.DS); ok && strings.EqualFold(dns.Fqdn(d.Hdr.Name), dns.Fqdn(zone)) {
			out = append(out, d)
		}
	}
	return out, nil
}

// dnsParentDS is how the serving box reads a parent's DS during a KSK
// rollover: through the resolvers of the config (or the system's).
func dnsParentDS(cfg config.Config) func(context.Context, string) ([]*dns.DS, error) {
	return func(ctx context.Context, zone string) ([]*dns.DS, error) {
		return parentDS(ctx, newResolver(cfg).Servers, zone, 5*time.Second)
	}
}

// dsText is a DS record's RDATA as the status lines and records show it.
func dsText(d *dns.DS) string {
	return fmt.Sprintf("%d %d %d %s", d.KeyTag, d.Algorithm, d.DigestType, strings.ToUpper(d.Digest))
}

// dnsRolloverKSK starts or finishes the KSK rollover of a zone.
func dnsRolloverKSK(e *env, args []string) error {
	var finish bool
	return dnsBox(e, "rollover-ksk", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&finish, "finish", false, "retire the old KSK now (once the registrar has the new DS and its TTL has passed)")
	}, func(pos []string) error {
		if len(pos) != 1 {
			return usagef("usage: dns rollover-ksk DOMAIN [--finish]")
		}
		return nil
	}, func(r dnsRun) error {
		zones, err := zonesFor(r.set, r.pos[0])
		if err != nil {
			return err
		}
		z, what := zones[0], dnsd.RequestKSKRollover
		if finish {
			what = dnsd.RequestKSKFinish
		}
		zk, err := dnsd.Request(context.Background(), r.st, dnssecDir(r.dir), z, what, time.Now())
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s has no DNSSEC keys yet: 'boxmail serve' makes them when it first loads the zone", z)
		} else if err != nil {
			return err
		}
		// In the store now: every serving node signs with it at its next
		// DNS poll.
		switch {
		case finish:
			fmt.Fprintf(e.stdout, "KSK rollover of %s finished: the old key is gone; the parent's DS must be %s. IN DS %s\n", z, z, dsText(zk.DS()[0]))
		default:
			ro := zk.KSKRollover()
			fmt.Fprintf(e.stdout, "new KSK published for %s (both keys sign the DNSKEY records; CDS and CDNSKEY name the new one).\n"+
				"Give the registrar the new DS in place of the old one:\n  %s. IN DS %s\n(old: %s. IN DS %s)\n"+
				"The box retires the old key once the parent has the new DS for its TTL ('boxmail status' shows it), or with 'boxmail dns rollover-ksk %s --finish'.\n",
				z, z, dsText(ro.New), z, dsText(ro.Old), z)
		}
		return nil
	})
}
