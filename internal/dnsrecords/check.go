package dnsrecords

// Checks of the world's DNS against the record set, for 'boxmail status'
// and the admin page. Every lookup goes through resolver.Resolver; a
// lookup that fails (timeout, SERVFAIL) gives "warn: could not check",
// never ok.

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
)

// Level is a check's verdict.
type Level string

// Verdicts.
const (
	OK   Level = "ok"
	Warn Level = "warn"
	Fail Level = "fail"
)

// Result is one check.
type Result struct {
	Level   Level  `json:"level"`
	Subject string `json:"subject"` // the domain or the hostname
	Check   string `json:"check"`   // "MX", "SPF", ...
	Found   string `json:"found"`   // what the check found
	Fix     string `json:"fix,omitempty"`
}

// CheckOptions says what to check.
type CheckOptions struct {
	// Domains to check; nil means every hosted domain.
	Domains []string
	// Host enables the checks of the hostname itself (address, PTR, SPF,
	// blocklists).
	Host bool
	// DNSBL zones to look the box's addresses up in.
	DNSBL []string
	// NotSwitched lists, per domain, the accounts that have not switched
	// to the box yet (never logged in there), so still send through the
	// old provider; the switch-over check never calls SPF hardened while
	// a domain has one. nil: not known (the check says so).
	NotSwitched map[string][]string
}

// Check runs the DNS checks. in is the Input the set was built from.
func Check(ctx context.Context, r resolver.Resolver, set *Set, in Input, opts CheckOptions) []Result {
	c := &checker{ctx: ctx, r: r, set: set, in: in, notSwitched: opts.NotSwitched,
		host: strings.ToLower(strings.TrimSuffix(in.Hostname, "."))}
	c.ips = append(slices.Clone(in.IPv4), in.IPv6...)
	if opts.Host {
		c.checkHost(opts.DNSBL)
	}
	domains := opts.Domains
	if domains == nil {
		for _, d := range in.Domains {
			domains = append(domains, strings.ToLower(d.Name))
		}
	}
	for _, d := range domains {
		c.checkDomain(d)
	}
	return c.out
}

type checker struct {
	ctx  context.Context
	r    resolver.Resolver
	set  *Set
	in   Input
	host string
	ips  []netip.Addr
	out  []Result
	// notSwitched is CheckOptions.NotSwitched.
	notSwitched map[string][]string
}

func (c *checker) add(l Level, subject, check, found, fix string) {
	c.out = append(c.out, Result{Level: l, Subject: subject, Check: check, Found: found, Fix: fix})
}

// failed records "could not check" for a lookup error that is not "does
// not exist", and reports whether it did.
func (c *checker) failed(subject, check string, err error) bool {
	if err == nil || resolver.IsNotFound(err) {
		return false
	}
	c.add(Warn, subject, check, "could not check: "+err.Error(), "check the resolvers in boxmail.conf (resolvers = ...) and try again")
	return true
}

func (c *checker) checkHost(dnsbl []string) {
	h := c.host
	if len(c.ips) == 0 {
		c.add(Warn, h, "address", "no public address configured, so the address, reverse DNS, SPF and blocklist checks are skipped",
			"set public_ipv4 (and public_ipv6) in boxmail.conf")
		return
	}
	got, err := resolver.LookupIP(c.ctx, c.r, h)
	if !c.failed(h, "address", err) {
		switch {
		case err != nil:
			c.add(Fail, h, "address", h+" does not resolve", "add "+addrFix(h, c.ips))
		case sameAddrs(got, c.ips):
			c.add(OK, h, "address", h+" resolves to "+joinAddrs(got), "")
		default:
			c.add(Fail, h, "address", h+" resolves to "+joinAddrs(got)+", but the box is "+joinAddrs(c.ips), "set "+addrFix(h, c.ips)+" (or correct public_ipv4/public_ipv6 in boxmail.conf)")
		}
	}
	for _, ip := range c.ips {
		names, err := resolver.LookupPTR(c.ctx, c.r, ip)
		if c.failed(h, "reverse DNS", err) {
			continue
		}
		switch {
		case err != nil:
			c.add(Fail, h, "reverse DNS", ip.String()+" has no PTR record", "ask the provider of "+ip.String()+" to set its reverse DNS (PTR) to "+h)
		case slices.Contains(names, h):
			c.add(OK, h, "reverse DNS", ip.String()+" → "+h, "")
		default:
			c.add(Fail, h, "reverse DNS", ip.String()+" → "+strings.Join(names, ", "), "ask the provider of "+ip.String()+" to set its reverse DNS (PTR) to "+h+"; many receivers reject mail otherwise")
		}
	}
	for _, ip := range c.ips {
		res, err := mailauth.CheckSPF(c.ctx, c.r, ip, h, "postmaster@"+h)
		want := ""
		if rs := c.set.Find(h, "TXT"); len(rs) > 0 {
			want = rs[0].Text()
		}
		switch {
		case res.Status == mailauth.SPFTempError:
			c.add(Warn, h, "SPF", "could not check: "+err.Error(), "check the resolvers in boxmail.conf and try again")
		case res.Status == mailauth.SPFPass:
			c.add(OK, h, "SPF", fmt.Sprintf("%q authorises %s", res.Record, ip), "")
		case res.Status == mailauth.SPFNone:
			c.add(Fail, h, "SPF", h+" has no SPF record, so include:"+h+" in a domain's SPF is a permerror", fmt.Sprintf("add TXT at %s: %q", h, want))
		default:
			c.add(Fail, h, "SPF", fmt.Sprintf("%q gives %s for %s%s", res.Record, res.Status, ip, reason(res)), fmt.Sprintf("publish TXT at %s: %q", h, want))
		}
	}
	for _, zone := range dnsbl {
		for _, ip := range c.ips {
			c.checkDNSBL(zone, ip)
		}
	}
}

func reason(res mailauth.SPFResult) string {
	if res.Reason != "" {
		return ": " + res.Reason
	}
	if res.Matched != "" {
		return " (by " + res.Matched + ")"
	}
	return ""
}

func addrFix(h string, ips []netip.Addr) string {
	var parts []string
	for _, ip := range ips {
		t := "A"
		if ip.Is6() {
			t = "AAAA"
		}
		parts = append(parts, t+" "+h+" "+ip.String())
	}
	return strings.Join(parts, " and ")
}

func sameAddrs(a, b []netip.Addr) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Addr.Compare)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func joinAddrs(l []netip.Addr) string {
	var s []string
	for _, a := range l {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

// checkDNSBL looks ip up in a blocklist zone (RFC 5782).
func (c *checker) checkDNSBL(zone string, ip netip.Addr) {
	arpa, _ := dns.ReverseAddr(ip.String())
	rev := strings.TrimSuffix(arpa, ".in-addr.arpa.")
	rev = strings.TrimSuffix(rev, ".ip6.arpa.")
	name := rev + "." + zone
	check := "blocklist " + zone
	a, err := c.r.Lookup(c.ctx, name, dns.TypeA)
	if c.failed(c.host, check, err) {
		return
	}
	var codes []string
	if err == nil {
		for _, rr := range a.Records {
			if rr, ok := rr.(*dns.A); ok {
				codes = append(codes, rr.A.String())
			}
		}
	}
	if len(codes) == 0 {
		c.add(OK, c.host, check, ip.String()+" is not listed", "")
		return
	}
	for _, code := range codes {
		// 127.255.255.x: the list refuses the query (RFC 5782 allows
		// error codes; Spamhaus uses these for public resolvers).
		if strings.HasPrefix(code, "127.255.255.") || !strings.HasPrefix(code, "127.") {
			c.add(Warn, c.host, check, "could not check: "+zone+" answered "+code+" (it refuses this resolver)", "use a resolver of your own for blocklist checks (resolvers = ... in boxmail.conf)")
			return
		}
	}
	why := ""
	if txt, err := resolver.LookupTXT(c.ctx, c.r, name); err == nil && len(txt) > 0 {
		why = ": " + txt[0]
	}
	c.add(Fail, c.host, check, ip.String()+" is listed ("+strings.Join(codes, ", ")+")"+why, "find out why on the list's lookup page and ask for removal; receivers using "+zone+" reject the box's mail")
}

func (c *checker) checkDomain(d string) {
	mxs, err := resolver.LookupMX(c.ctx, c.r, d)
	mxKnown, mxIsBox := false, false
	if !c.failed(d, "MX", err) {
		mxKnown = true
		var hosts, others []string
		for _, m := range mxs {
			hosts = append(hosts, fmt.Sprintf("%d %s", m.Pref, m.Host))
			if m.Host != c.host {
				others = append(others, m.Host)
			}
		}
		switch {
		case err != nil || len(mxs) == 0:
			c.add(Fail, d, "MX", "no MX record: mail for @"+d+" cannot be delivered", fmt.Sprintf("add MX @ 10 %s.", c.host))
		case len(others) == 0:
			mxIsBox = true
			c.add(OK, d, "MX", "MX "+strings.Join(hosts, ", ")+" points at the box", "")
		case len(others) == len(mxs):
			c.add(Warn, d, "MX", "MX points at "+strings.Join(others, ", ")+", not the box: new mail from outside still lands at the old provider ("+providerOf(others)+"); mail between the box's own users stays on the box",
				fmt.Sprintf("when the accounts are ready, replace the MX records by MX @ 10 %s.", c.host))
		default:
			c.add(Warn, d, "MX", "MX "+strings.Join(hosts, ", ")+": senders may deliver to "+strings.Join(others, ", ")+" as well as the box",
				"remove the MX records of "+strings.Join(others, ", ")+" once nothing should land there")
		}
	}

	txts, err := resolver.LookupTXT(c.ctx, c.r, d)
	var spfs []string
	for _, t := range txts {
		if mailauth.IsSPF(t) {
			spfs = append(spfs, t)
		}
	}
	spfOK := false
	if !c.failed(d, "SPF", err) {
		switch len(spfs) {
		case 0:
			c.add(Fail, d, "SPF", "no SPF record: receivers cannot tell the box's mail from forgeries",
				fmt.Sprintf("add TXT @ %q, or during a migration the record of 'boxmail spf include \"\"'", HardenedSPF))
		case 1:
			spfOK = true
			c.checkSPF(d, spfs[0])
		default:
			c.add(Fail, d, "SPF", fmt.Sprintf("%d SPF records (%s): receivers treat that as a permanent error", len(spfs), strings.Join(quoteAll(spfs), ", ")),
				"merge them into one record ('boxmail spf include' helps) and delete the others")
		}
	}
	if spfOK && mxKnown {
		c.checkSwitch(d, spfs[0], mxIsBox)
	}

	for _, rec := range c.set.Zone(d) {
		if rec.Type != "TXT" || rec.Custom || !strings.HasSuffix(rec.Name, "._domainkey."+d) {
			continue
		}
		c.checkDKIM(d, rec)
	}
	c.checkDMARC(d)

	ns, err := resolver.LookupNS(c.ctx, c.r, d)
	if !c.failed(d, "NS", err) {
		switch {
		case err != nil || len(ns) == 0:
			c.add(Fail, d, "NS", "no NS records: the domain does not seem to be delegated (registered)", "check the domain's registration")
		case len(ns) == 1 && ns[0] == c.host || allEqual(ns, c.host):
			c.add(OK, d, "NS", "the box is the name server ("+strings.Join(ns, ", ")+"): it serves the records itself", "")
		case slices.Contains(ns, c.host):
			c.add(Warn, d, "NS", "name servers "+strings.Join(ns, ", ")+": the box and others", "the other name servers must serve the same records; let the box be the only one, or host the records elsewhere")
		default:
			c.add(OK, d, "NS", "records hosted elsewhere ("+strings.Join(ns, ", ")+")", "add the records of 'boxmail dns records "+d+"' there")
		}
	}
}

func allEqual(l []string, s string) bool {
	for _, x := range l {
		if x != s {
			return false
		}
	}
	return len(l) > 0
}

func quoteAll(l []string) []string {
	var out []string
	for _, s := range l {
		out = append(out, fmt.Sprintf("%q", s))
	}
	return out
}

// providerOf names well-known mail providers from their MX hosts.
func providerOf(hosts []string) string {
	for _, h := range hosts {
		switch {
		case strings.HasSuffix(h, ".google.com") || strings.HasSuffix(h, ".googlemail.com"):
			return "Google"
		case strings.HasSuffix(h, ".outlook.com"):
			return "Microsoft 365"
		case strings.HasSuffix(h, ".123-reg.co.uk"):
			return "123-reg"
		}
	}
	return strings.Join(hosts, ", ")
}

func (c *checker) checkSPF(d, rec string) {
	if len(c.ips) == 0 {
		c.add(Warn, d, "SPF", fmt.Sprintf("%q: cannot tell whether it authorises the box without its address", rec), "set public_ipv4 (and public_ipv6) in boxmail.conf")
		return
	}
	for _, ip := range c.ips {
		res, err := mailauth.CheckSPF(c.ctx, c.r, ip, c.host, "postmaster@"+d)
		switch res.Status {
		case mailauth.SPFPass:
			c.add(OK, d, "SPF", fmt.Sprintf("%q authorises %s (via %s, %d of %d DNS lookups)", rec, ip, res.Matched, res.Lookups, mailauth.SPFLookupLimit), "")
		case mailauth.SPFTempError:
			c.add(Warn, d, "SPF", "could not check: "+err.Error(), "check the resolvers in boxmail.conf and try again")
		case mailauth.SPFPermError:
			fix := "fix the record; 'boxmail spf include' rewrites it"
			if strings.Contains(res.Reason, "DNS lookups") {
				fix = "the record needs more than 10 DNS lookups when followed: replace includes or a/mx terms by ip4:/ip6: ranges"
			}
			c.add(Fail, d, "SPF", fmt.Sprintf("%q is broken for receivers (permerror: %s)", rec, res.Reason), fix)
		default:
			fix := ""
			if adv, err := RelaxSPF(c.ctx, c.r, rec, d, c.host); err == nil {
				fix = fmt.Sprintf("publish %q ('boxmail spf include')", adv.Record)
			}
			c.add(Fail, d, "SPF", fmt.Sprintf("%q does not authorise the box's address %s (%s%s)", rec, ip, res.Status, reason(res)), fix)
		}
	}
}

func (c *checker) checkSwitch(d, rec string, mxIsBox bool) {
	st, err := ClassifySPF(rec, c.host, c.ips, mxIsBox)
	if err != nil {
		return // the SPF check reported it
	}
	mx := "MX not switched yet"
	if mxIsBox {
		mx = "MX switched"
	}
	switch {
	case !st.Box:
		c.add(Warn, d, "switch-over", "step 1 of 3 not done: SPF does not name the box; "+mx,
			"publish the record of 'boxmail spf include "+shellQuote(rec)+"'")
	case len(st.Others) > 0 && !mxIsBox && namesByMX(rec):
		// The trap of the seed's "v=spf1 mx include:BOX -all": "mx" is
		// the old provider only until MX moves.
		c.add(Warn, d, "switch-over", "SPF relaxed, but the old provider is allowed through \"mx\", which means the box once MX points there: users not yet switched would then fail SPF; "+mx,
			"before pointing MX at "+c.host+", publish the record of 'boxmail spf include "+shellQuote(rec)+"' (it names the old provider's servers by address)")
	case len(st.Others) > 0:
		next := fmt.Sprintf("next: point MX at %s", c.host)
		switch ns, known := c.notSwitched[d]; {
		case mxIsBox && known && len(ns) == 0:
			next = "next: every user has logged in at the box: publish the record of 'boxmail spf harden " + d + "'"
		case mxIsBox && known:
			next = "next: once " + strings.Join(ns, ", ") + " have switched to the box, publish the record of 'boxmail spf harden " + d + "'"
		case mxIsBox:
			next = "next: once every user sends through the box, publish the record of 'boxmail spf harden " + d + "'"
		}
		c.add(Warn, d, "switch-over", "SPF relaxed (the box and "+strings.Join(st.Others, " ")+" allowed); "+mx, next)
	case !mxIsBox:
		c.add(Warn, d, "switch-over", "SPF hardened (only the box may send) but "+mx+": users still sending through the old provider fail SPF",
			fmt.Sprintf("point MX at %s now", c.host))
	case len(c.notSwitched[d]) > 0:
		// "mx" means the box now: a relaxed record that kept "mx" (or
		// a hardened one published too early) no longer authorises the
		// old provider that these users still send through.
		c.add(Warn, d, "switch-over", fmt.Sprintf("MX switched and SPF names only the box, but %s %s not logged in at the box yet: mail they send through the old provider fails SPF",
			strings.Join(c.notSwitched[d], ", "), plural(len(c.notSwitched[d]), "has", "have")),
			"until they switch, publish the record of 'boxmail spf include' with the old provider named (its ip4:/include: terms), or get them to set up their mail app with the box")
	case !st.Strict:
		c.add(Warn, d, "switch-over", "MX switched; SPF names only the box but does not end in -all", "publish the record of 'boxmail spf harden "+d+"'")
	case c.notSwitched == nil:
		c.add(OK, d, "switch-over", "MX switched, SPF hardened (only the box may send); 'boxmail migrate status' tells whether every user has switched", "")
	default:
		c.add(OK, d, "switch-over", "MX switched, SPF hardened (only the box may send), every user has logged in at the box", "")
	}
}

// namesByMX reports whether an SPF record authorises senders through
// the domain's own MX ("mx" without a domain).
func namesByMX(rec string) bool {
	r, err := mailauth.ParseSPF(rec)
	if err != nil {
		return false
	}
	for _, t := range r.Terms {
		if t.Mechanism == "mx" && t.Value == "" && t.Qualifier == '+' {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (c *checker) checkDKIM(d string, want Record) {
	txts, err := resolver.LookupTXT(c.ctx, c.r, want.Name)
	if c.failed(d, "DKIM", err) {
		return
	}
	rel := want.Relative()
	if len(txts) == 0 {
		c.add(Fail, d, "DKIM", "no DKIM record at "+rel, fmt.Sprintf("add TXT %s %q", rel, want.Text()))
		return
	}
	wantP := dkimTag(want.Text(), "p")
	for _, t := range txts {
		if dkimTag(t, "p") == wantP && wantP != "" {
			c.add(OK, d, "DKIM", rel+" matches the box's key", "")
			return
		}
	}
	c.add(Fail, d, "DKIM", rel+" holds a different key ("+abbrev(txts[0])+")", fmt.Sprintf("replace it by TXT %s %q", rel, want.Text()))
}

func abbrev(s string) string {
	if len(s) > 48 {
		return s[:45] + "..."
	}
	return s
}

// dkimTag returns a tag's value of a DKIM or DMARC record with white
// space removed.
func dkimTag(rec, tag string) string {
	for _, kv := range strings.Split(rec, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == tag {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

func (c *checker) checkDMARC(d string) {
	name := "_dmarc." + d
	txts, err := resolver.LookupTXT(c.ctx, c.r, name)
	if c.failed(d, "DMARC", err) {
		return
	}
	want := ""
	if rs := c.set.Find(name, "TXT"); len(rs) > 0 {
		want = rs[0].Text()
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			recs = append(recs, t)
		}
	}
	switch {
	case len(recs) == 0:
		c.add(Fail, d, "DMARC", "no DMARC record at _dmarc", fmt.Sprintf("add TXT _dmarc %q", want))
		return
	case len(recs) > 1:
		c.add(Fail, d, "DMARC", fmt.Sprintf("%d DMARC records: receivers ignore them all", len(recs)), "keep one")
		return
	}
	rec := recs[0]
	tags := strings.Split(rec, ";")
	if k, v, _ := strings.Cut(tags[0], "="); strings.TrimSpace(k) != "v" || strings.TrimSpace(v) != "DMARC1" {
		c.add(Fail, d, "DMARC", fmt.Sprintf("%q does not start with v=DMARC1", rec), fmt.Sprintf("replace it by %q", want))
		return
	}
	p := dkimTag(rec, "p")
	switch p {
	case "quarantine", "reject":
		c.add(OK, d, "DMARC", fmt.Sprintf("%q (policy %s)", rec, p), "")
	case "none":
		c.add(Warn, d, "DMARC", fmt.Sprintf("%q: policy none only monitors; forgeries are still delivered", rec), fmt.Sprintf("once SPF and DKIM pass, publish %q", want))
	default:
		c.add(Fail, d, "DMARC", fmt.Sprintf("%q has no valid p= (none, quarantine or reject): receivers ignore it", rec), fmt.Sprintf("replace it by %q", want))
	}
}
