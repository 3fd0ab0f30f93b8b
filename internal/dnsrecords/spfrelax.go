package dnsrecords

// The relaxed record of 'boxmail spf include'. A record's "mx" and "a"
// terms are names, evaluated by receivers at the time a message arrives:
// once MX points at the box, "mx" means the box, and the old provider,
// still sending for users who have not switched, is no longer
// authorised. So the relaxed record resolves those terms now, to the
// addresses they mean today (ip4:/ip6:, which also cost receivers no DNS
// lookup), and keeps include:, ip4:, ip6:, exists: and ptr as written.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
)

// ErrNeedDomain is RelaxSPF without a domain for a record whose bare
// "mx" or "a" means the domain's own MX hosts or address.
var ErrNeedDomain = errors.New(`the record's "mx" or "a" means the mail servers or address of its domain: the domain must be given`)

// RelaxSPF is the record of 'boxmail spf include': existing (the
// domain's SPF record, "" when it has none, quotes allowed) with its mx,
// a, mx:HOST and a:HOST terms replaced by the ip4:/ip6: addresses they
// mean today, so that the old provider stays authorised after MX moves
// to the box, and include:BOX added. domain is the domain the record
// belongs to (what a bare "mx" or "a" means). Every lookup goes through
// r; a lookup that fails is an error, never a record guessed from half
// an answer. The notes say what was replaced and why.
func RelaxSPF(ctx context.Context, r resolver.Resolver, existing, domain, box string) (SPFAdvice, error) {
	box = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(box), "."))
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	existing = strings.Join(strings.Fields(UnquoteTXT(existing)), " ")
	text := existing
	if text == "" {
		// No record: receivers accept anyone, the old provider included.
		// The relaxed record names the domain's mail servers of today.
		text = "v=spf1 mx ~all"
	}
	rec, err := mailauth.ParseSPF(text)
	if err != nil {
		return SPFAdvice{}, fmt.Errorf("not a valid SPF record: %w", err)
	}
	rs := &spfResolution{ctx: ctx, r: r, domain: domain, box: box}
	resolved, err := rs.resolve(rec)
	if err != nil {
		return SPFAdvice{}, err
	}
	adv, err := includeBox(resolved, box, rs.changed || existing == "")
	if err != nil {
		return SPFAdvice{}, err
	}
	if existing == "" {
		adv.Notes = append([]string{
			"there is no SPF record yet: this one names the domain's mail servers of today (its MX, by address) and the box; add the old provider's include (for example include:_spf.google.com or include:spf.protection.outlook.com) if it sends from other servers",
			"after the switch (MX at the box, every user sending through it) publish v=spf1 mx -all ('boxmail spf harden DOMAIN')",
		}, adv.Notes...)
	}
	if rs.changed {
		rs.notes = append(rs.notes, "the addresses are today's: the relaxed record is for the weeks of the switch-over; once every user sends through the box, publish the record of 'boxmail spf harden DOMAIN'")
	}
	adv.Notes = append(rs.notes, adv.Notes...)
	return adv, nil
}

// spfResolution resolves the name terms of one record.
type spfResolution struct {
	ctx     context.Context
	r       resolver.Resolver
	domain  string
	box     string
	notes   []string
	changed bool
}

// resolve returns rec with each a/mx term replaced by the addresses it
// means today.
func (rs *spfResolution) resolve(rec *mailauth.SPFRecord) (*mailauth.SPFRecord, error) {
	out := &mailauth.SPFRecord{}
	seen := map[string]bool{}
	for _, t := range rec.Terms {
		seen[strings.ToLower(t.Raw)] = true
	}
	for _, t := range rec.Terms {
		if t.Mechanism != "a" && t.Mechanism != "mx" {
			out.Terms = append(out.Terms, t)
			continue
		}
		target := strings.ToLower(strings.TrimSuffix(t.Value, "."))
		switch {
		case strings.Contains(target, "%"):
			rs.notes = append(rs.notes, fmt.Sprintf("%s uses a macro and was kept as written: make sure it does not mean the box once MX points there", t.Raw))
			out.Terms = append(out.Terms, t)
			continue
		case target == rs.box && rs.box != "":
			out.Terms = append(out.Terms, t) // the box itself: it stays the box
			continue
		case target == "" && rs.domain == "":
			return nil, ErrNeedDomain
		case target == "":
			target = rs.domain
		}
		addrs, hosts, err := rs.addrsOf(t.Mechanism, target)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve %s (%s) now: %w; refusing to print a record whose %s would stop meaning the old provider once MX moves to the box (check the resolvers in boxmail.conf and try again)", t.Raw, target, err, t.Raw)
		}
		rs.changed = true
		var repl []string
		for _, a := range addrs {
			nt := addrTerm(t, a)
			if seen[strings.ToLower(nt.Raw)] {
				continue
			}
			seen[strings.ToLower(nt.Raw)] = true
			out.Terms = append(out.Terms, nt)
			repl = append(repl, nt.Raw)
		}
		rs.notes = append(rs.notes, rs.explain(t, target, hosts, len(addrs), repl))
	}
	return out, nil
}

// explain is the note of one replaced term.
func (rs *spfResolution) explain(t mailauth.SPFTerm, target string, hosts []string, naddrs int, repl []string) string {
	by := strings.Join(repl, " ")
	if len(repl) == 0 {
		if naddrs > 0 {
			return fmt.Sprintf("%s was dropped: the addresses of %s today are already named in the record", t.Raw, target)
		}
		return fmt.Sprintf("warning: %s was dropped: %s has no %s today, so it authorises nothing (if that is wrong, check the resolvers in boxmail.conf)", t.Raw, target, map[string]string{"a": "address", "mx": "MX host with an address"}[t.Mechanism])
	}
	if t.Mechanism == "mx" {
		what := "the MX hosts of " + target
		if len(hosts) > 0 {
			what += " today (" + strings.Join(hosts, ", ") + ")"
		}
		if target == rs.domain {
			return fmt.Sprintf("%s was replaced by %s, the addresses of %s: once MX points at %s, %q would mean the box, so the old provider's mail servers are named instead", t.Raw, by, what, rs.box, t.Raw)
		}
		return fmt.Sprintf("%s was replaced by %s, the addresses of %s: the record keeps meaning what it means today", t.Raw, by, what)
	}
	if target == rs.domain {
		return fmt.Sprintf("%s was replaced by %s, the address of %s today: if %s's address moves to the box, %q would no longer mean the old provider", t.Raw, by, target, target, t.Raw)
	}
	return fmt.Sprintf("%s was replaced by %s, the address of %s today: the record keeps meaning what it means today, wherever %s's records are served from", t.Raw, by, target, target)
}

// addrsOf returns the addresses an a or mx term of target means now, and
// for mx the hosts they belong to (MX hosts that are the box left out,
// with a note).
func (rs *spfResolution) addrsOf(mech, target string) ([]netip.Addr, []string, error) {
	if mech == "a" {
		addrs, err := rs.hostAddrs(target)
		return addrs, nil, err
	}
	mxs, err := resolver.LookupMX(rs.ctx, rs.r, target)
	if err != nil && !resolver.IsNotFound(err) {
		return nil, nil, err
	}
	slices.SortStableFunc(mxs, func(a, b resolver.MX) int { return int(a.Pref) - int(b.Pref) })
	var addrs []netip.Addr
	var hosts []string
	for _, m := range mxs {
		if m.Host == rs.box {
			rs.notes = append(rs.notes, fmt.Sprintf("the MX of %s already points at the box: \"mx\" means the box now and cannot name the old provider's servers; add the old provider's include: or ip4: terms by hand if it still sends for users who have not switched", target))
			continue
		}
		a, err := rs.hostAddrs(m.Host)
		if err != nil {
			return nil, nil, err
		}
		hosts = append(hosts, m.Host)
		addrs = append(addrs, a...)
	}
	return addrs, hosts, nil
}

// hostAddrs returns the A and AAAA addresses of name; a name without
// them has none, a failed lookup is an error.
func (rs *spfResolution) hostAddrs(name string) ([]netip.Addr, error) {
	if rs.r == nil {
		return nil, errors.New("no DNS resolver")
	}
	var out []netip.Addr
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		ans, err := rs.r.Lookup(rs.ctx, resolver.Fqdn(name), qt)
		if resolver.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		for _, rr := range ans.Records {
			switch v := rr.(type) {
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(v.A.To4()); ok && qt == dns.TypeA {
					out = append(out, ip)
				}
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(v.AAAA); ok && qt == dns.TypeAAAA {
					out = append(out, ip)
				}
			}
		}
	}
	return out, nil
}

// addrTerm is the ip4:/ip6: term of one address of an a or mx term,
// keeping its qualifier and CIDR length (masked to the network).
func addrTerm(t mailauth.SPFTerm, a netip.Addr) mailauth.SPFTerm {
	mech, bits := "ip4", t.Prefix4
	if a.Is6() {
		mech, bits = "ip6", t.Prefix6
	}
	value := a.String()
	p4, p6 := -1, -1
	if bits >= 0 && bits < a.BitLen() {
		if p, err := a.Prefix(bits); err == nil {
			value = p.Addr().String()
			if a.Is6() {
				p6 = bits
			} else {
				p4 = bits
			}
			value += fmt.Sprintf("/%d", bits)
		}
	}
	raw := mech + ":" + value
	if t.Qualifier != '+' {
		raw = string(t.Qualifier) + raw
	}
	addr, _, _ := strings.Cut(value, "/")
	return mailauth.SPFTerm{Qualifier: t.Qualifier, Mechanism: mech, Value: addr, Prefix4: p4, Prefix6: p6, Raw: raw}
}
