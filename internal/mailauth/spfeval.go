package mailauth

// SPF evaluation: check_host() of RFC 7208 over resolver.Resolver.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/resolver"
)

// SPFStatus is an SPF verdict (RFC 7208 2.6).
type SPFStatus string

// SPF verdicts.
const (
	SPFNone      SPFStatus = "none"
	SPFNeutral   SPFStatus = "neutral"
	SPFPass      SPFStatus = "pass"
	SPFFail      SPFStatus = "fail"
	SPFSoftFail  SPFStatus = "softfail"
	SPFTempError SPFStatus = "temperror"
	SPFPermError SPFStatus = "permerror"
)

// SPFResult is the outcome of CheckSPF.
type SPFResult struct {
	Status SPFStatus
	// Domain is the domain whose policy was checked (the sender's, or
	// the HELO name's when the sender is empty).
	Domain string
	// Record is the domain's SPF record, "" if none was found.
	Record string
	// Matched is the term that decided ("include:_spf.example.net",
	// "-all"), "" when none matched (neutral by default).
	Matched string
	// Lookups is how many DNS-querying terms were evaluated; RFC 7208
	// 4.6.4 allows at most 10.
	Lookups int
	// Reason explains temperror and permerror in one line.
	Reason string
	// Explanation is the sender domain's exp= text for a fail (RFC 7208
	// 6.2), macros expanded; "" when there is none or it could not be
	// used.
	Explanation string
}

// SPFLookupLimit is the most DNS-querying terms an evaluation may use
// (RFC 7208 4.6.4); the next one is a permerror.
const SPFLookupLimit = 10

const spfVoidLimit = 2

// CheckSPF evaluates the SPF policy of the sender's domain for a
// message from ip, as a receiving server would (RFC 7208 check_host:
// includes, redirects, macros, the 10-lookup and 2-void-lookup limits).
// sender is the envelope MAIL FROM address; when it is empty (a bounce)
// the HELO name is checked as postmaster@helo. The error is nil for
// every verdict that the policy produced, including fail; it is set,
// with Status temperror or permerror, when the policy could not be
// evaluated. All DNS goes through r.
func CheckSPF(ctx context.Context, r resolver.Resolver, ip netip.Addr, helo, sender string) (SPFResult, error) {
	ip = ip.Unmap()
	local, domain := "postmaster", helo
	if sender != "" {
		if i := strings.LastIndexByte(sender, '@'); i >= 0 {
			if i > 0 {
				local = sender[:i]
			}
			domain = sender[i+1:]
		} else {
			domain = sender
		}
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	ev := &spfEval{ctx: ctx, r: r, ip: ip, helo: helo, local: local, senderDomain: domain}
	res := SPFResult{Domain: domain}
	st, matched, rec, err := ev.checkHost(domain, 0)
	res.Status, res.Matched, res.Record, res.Lookups = st, matched, rec, ev.lookups
	if err != nil {
		res.Reason = err.Error()
		return res, err
	}
	if st == SPFFail && ev.exp != "" {
		res.Explanation = ev.explain()
	}
	return res, nil
}

type spfEval struct {
	ctx          context.Context
	r            resolver.Resolver
	ip           netip.Addr
	helo         string
	local        string
	senderDomain string
	lookups      int
	voids        int
	// includes is how deep in include: the evaluation is; exp= of an
	// included record is never used (RFC 7208 6.2).
	includes int
	// exp and expDomain are the exp= of the record whose mechanism
	// decided, and that record's domain.
	exp, expDomain string
	// ptrNames caches validatedNames; ptrDone says it is filled.
	ptrNames []string
	ptrDone  bool
}

type spfError struct {
	status SPFStatus
	msg    string
}

func (e *spfError) Error() string { return e.msg }

func permErr(format string, a ...any) error {
	return &spfError{SPFPermError, fmt.Sprintf(format, a...)}
}

func errStatus(err error) SPFStatus {
	var e *spfError
	if errors.As(err, &e) {
		return e.status
	}
	return SPFTempError
}

// lookup queries DNS, counting void answers; NXDOMAIN and NODATA give
// no records and no error.
func (ev *spfEval) lookup(name string, qtype uint16) ([]dns.RR, error) {
	a, err := ev.r.Lookup(ev.ctx, name, qtype)
	if err != nil && !resolver.IsNotFound(err) {
		return nil, &spfError{SPFTempError, err.Error()}
	}
	var out []dns.RR
	if err == nil {
		for _, rr := range a.Records {
			if rr.Header().Rrtype == qtype {
				out = append(out, rr)
			}
		}
	}
	if len(out) == 0 {
		ev.voids++
		if ev.voids > spfVoidLimit {
			return nil, permErr("more than %d DNS lookups found nothing (RFC 7208 4.6.4)", spfVoidLimit)
		}
	}
	return out, nil
}

func (ev *spfEval) count(term string) error {
	ev.lookups++
	if ev.lookups > SPFLookupLimit {
		return permErr("more than %d DNS lookups (at %s; RFC 7208 4.6.4)", SPFLookupLimit, term)
	}
	return nil
}

// addrs returns the addresses of name in the client's family.
func (ev *spfEval) addrs(name string) ([]netip.Addr, error) {
	qt := dns.TypeA
	if ev.ip.Is6() {
		qt = dns.TypeAAAA
	}
	rrs, err := ev.lookup(name, qt)
	var out []netip.Addr
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				out = append(out, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
				out = append(out, a)
			}
		}
	}
	return out, err
}

func (ev *spfEval) inNet(a netip.Addr, p4, p6 int) bool {
	bits := a.BitLen()
	if a.Is4() && p4 >= 0 {
		bits = p4
	} else if a.Is6() && p6 >= 0 {
		bits = p6
	}
	if a.Is4() != ev.ip.Is4() {
		return false
	}
	p, err := a.Prefix(bits)
	return err == nil && p.Contains(ev.ip)
}

// checkHost is RFC 7208 4: it returns the verdict, the matching term
// and the record.
func (ev *spfEval) checkHost(domain string, depth int) (SPFStatus, string, string, error) {
	if depth > SPFLookupLimit {
		return SPFPermError, "", "", permErr("include/redirect loop")
	}
	if !validDomain(domain) {
		return SPFNone, "", "", nil // RFC 7208 4.3
	}
	rrs, err := ev.lookup(dns.Fqdn(domain), dns.TypeTXT)
	if err != nil {
		return errStatus(err), "", "", err
	}
	var recs []string
	for _, rr := range rrs {
		txt := strings.Join(rr.(*dns.TXT).Txt, "")
		if IsSPF(txt) {
			recs = append(recs, txt)
		}
	}
	switch len(recs) {
	case 0:
		return SPFNone, "", "", nil
	case 1:
	default:
		return SPFPermError, "", "", permErr("%s has %d SPF records; it must have exactly one (RFC 7208 4.5)", domain, len(recs))
	}
	rec, err := ParseSPF(recs[0])
	if err != nil {
		return SPFPermError, "", recs[0], permErr("SPF record of %s: %v", domain, err)
	}
	for _, t := range rec.Terms {
		if t.Mechanism == "" {
			continue
		}
		match, err := ev.match(t, domain, depth)
		if err != nil {
			return errStatus(err), t.Raw, recs[0], err
		}
		if match {
			if ev.includes == 0 {
				ev.exp, ev.expDomain = rec.Exp(), domain
			}
			return qualifierStatus(t.Qualifier), t.Raw, recs[0], nil
		}
	}
	if target := rec.Redirect(); target != "" {
		if err := ev.count("redirect=" + target); err != nil {
			return SPFPermError, "redirect=" + target, recs[0], err
		}
		name, err := ev.expand(target, domain)
		if err != nil {
			return SPFPermError, "redirect=" + target, recs[0], err
		}
		st, m, _, err := ev.checkHost(name, depth+1)
		if st == SPFNone {
			return SPFPermError, "redirect=" + target, recs[0], permErr("redirect=%s: %s has no SPF record", target, name)
		}
		if m == "" {
			m = "redirect=" + target
		}
		return st, m, recs[0], err
	}
	return SPFNeutral, "", recs[0], nil
}

func qualifierStatus(q byte) SPFStatus {
	switch q {
	case '-':
		return SPFFail
	case '~':
		return SPFSoftFail
	case '?':
		return SPFNeutral
	}
	return SPFPass
}

func (ev *spfEval) match(t SPFTerm, domain string, depth int) (bool, error) {
	target := domain
	switch t.Mechanism {
	case "include", "a", "mx", "ptr", "exists":
		if err := ev.count(t.Raw); err != nil {
			return false, err
		}
		if t.Value != "" {
			var err error
			if target, err = ev.expand(t.Value, domain); err != nil {
				return false, err
			}
		}
		// A target that is no DNS name (an empty or a 64-byte label from
		// a macro) cannot be asked for: it does not exist, so no match
		// (RFC 7208 4.3 by analogy; include's check_host gives none).
		if t.Mechanism != "include" && !queryable(target) {
			return false, nil
		}
	}
	switch t.Mechanism {
	case "all":
		return true, nil
	case "ip4", "ip6":
		a, _ := netip.ParseAddr(t.Value)
		return ev.inNet(a, t.Prefix4, t.Prefix6), nil
	case "include":
		ev.includes++
		st, _, _, err := ev.checkHost(target, depth+1)
		ev.includes--
		switch st {
		case SPFPass:
			return true, nil
		case SPFFail, SPFSoftFail, SPFNeutral:
			return false, nil
		case SPFTempError:
			return false, err
		case SPFNone:
			return false, permErr("include:%s: %s has no SPF record", t.Value, target)
		}
		return false, err
	case "a":
		as, err := ev.addrs(target)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(as, func(a netip.Addr) bool { return ev.inNet(a, t.Prefix4, t.Prefix6) }), nil
	case "mx":
		rrs, err := ev.lookup(dns.Fqdn(target), dns.TypeMX)
		if err != nil {
			return false, err
		}
		if len(rrs) > 10 {
			return false, permErr("%s has more than 10 MX records (RFC 7208 4.6.4)", target)
		}
		for _, rr := range rrs {
			as, err := ev.addrs(rr.(*dns.MX).Mx)
			if err != nil {
				return false, err
			}
			if slices.ContainsFunc(as, func(a netip.Addr) bool { return ev.inNet(a, t.Prefix4, t.Prefix6) }) {
				return true, nil
			}
		}
		return false, nil
	case "ptr":
		names := ev.validatedNames()
		target = strings.ToLower(strings.TrimSuffix(target, "."))
		for _, n := range names {
			if n == target || strings.HasSuffix(n, "."+target) {
				return true, nil
			}
		}
		return false, nil
	case "exists":
		rrs, err := ev.lookup(dns.Fqdn(target), dns.TypeA)
		return len(rrs) > 0, err
	}
	return false, permErr("unknown mechanism %s", t.Mechanism)
}

// queryable reports whether name can be put in a DNS question: labels
// of 1 to 63 bytes (of any value), at most 253 bytes.
func queryable(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// validatedNames returns the client's PTR names whose addresses include
// the client (RFC 7208 5.5), lower-case without dots. Only the first 10
// PTR records are looked at (RFC 7208 4.6.4).
// DNS failures are no match, not errors (RFC 7208 5.5).
func (ev *spfEval) validatedNames() []string {
	if ev.ptrDone {
		return ev.ptrNames
	}
	ev.ptrDone = true
	arpa, err := dns.ReverseAddr(ev.ip.String())
	if err != nil {
		return nil
	}
	a, err := ev.r.Lookup(ev.ctx, arpa, dns.TypePTR)
	if err != nil {
		return nil
	}
	n := 0
	for _, rr := range a.Records {
		p, ok := rr.(*dns.PTR)
		if !ok || n >= 10 {
			continue
		}
		n++
		as, err := ev.addrs(p.Ptr)
		if err != nil {
			continue
		}
		if slices.Contains(as, ev.ip) {
			ev.ptrNames = append(ev.ptrNames, strings.ToLower(strings.TrimSuffix(p.Ptr, ".")))
		}
	}
	return ev.ptrNames
}

// validatedDomain is the %{p} macro (RFC 7208 7.3): the validated name
// of the client that is domain, else one under domain, else any, else
// "unknown".
func (ev *spfEval) validatedDomain(domain string) string {
	names := ev.validatedNames()
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if slices.Contains(names, domain) {
		return domain
	}
	for _, n := range names {
		if strings.HasSuffix(n, "."+domain) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return "unknown"
}

// explain returns the exp= text for a fail (RFC 7208 6.2): the one TXT
// record at the expanded domain, macros expanded. Any problem (DNS, no
// or several records, bad syntax) gives "", as if there were no exp=.
// Its lookup counts against no limit.
func (ev *spfEval) explain() string {
	name, err := ev.expand(ev.exp, ev.expDomain)
	if err != nil || !validDomain(name) {
		return ""
	}
	a, err := ev.r.Lookup(ev.ctx, dns.Fqdn(name), dns.TypeTXT)
	if err != nil {
		return ""
	}
	var txts []string
	for _, rr := range a.Records {
		if t, ok := rr.(*dns.TXT); ok {
			txts = append(txts, strings.Join(t.Txt, ""))
		}
	}
	if len(txts) != 1 {
		return ""
	}
	s, err := expandMacros(txts[0], &macroEnv{ev: ev, domain: ev.expDomain}, true)
	if err != nil {
		return ""
	}
	return s
}

// expand expands the macros of a domain-spec and shortens the result to
// 253 bytes by dropping labels from the left (RFC 7208 7.3).
func (ev *spfEval) expand(spec, domain string) (string, error) {
	s, err := expandMacros(spec, &macroEnv{ev: ev, domain: domain}, false)
	if err != nil {
		return "", permErr("%s: %v", spec, err)
	}
	s = strings.TrimSuffix(s, ".")
	for len(s) > 253 {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	return s, nil
}

type macroEnv struct {
	ev     *spfEval
	domain string
}

func (m *macroEnv) letter(c byte) (string, bool) {
	ev := m.ev
	switch c {
	case 's':
		return ev.local + "@" + ev.senderDomain, true
	case 'l':
		return ev.local, true
	case 'o':
		return ev.senderDomain, true
	case 'd':
		return m.domain, true
	case 'i':
		if ev.ip.Is4() {
			return ev.ip.String(), true
		}
		b := ev.ip.As16()
		var parts []string
		for _, x := range b {
			parts = append(parts, strconv.FormatUint(uint64(x>>4), 16), strconv.FormatUint(uint64(x&15), 16))
		}
		return strings.Join(parts, "."), true
	case 'p':
		return ev.validatedDomain(m.domain), true
	case 'v':
		if ev.ip.Is4() {
			return "in-addr", true
		}
		return "ip6", true
	case 'h':
		return ev.helo, true
	case 'c':
		return ev.ip.String(), true
	case 'r':
		return "unknown", true
	case 't':
		return strconv.FormatInt(time.Now().Unix(), 10), true
	}
	return "", false
}

// expandMacros expands (or, with env nil, only checks) an RFC 7208 7.1
// macro-string.
func expandMacros(s string, env *macroEnv, exp bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if (c < 0x21 || c > 0x7e) && !(exp && c == ' ') {
				return "", fmt.Errorf("bad character %q", c)
			}
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("'%' at the end")
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
			continue
		case '_':
			b.WriteByte(' ')
			continue
		case '-':
			b.WriteString("%20")
			continue
		case '{':
		default:
			return "", fmt.Errorf("bad macro %%%c (write %%%% for a literal %%)", s[i])
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New("unclosed %{")
		}
		body := s[i+1 : i+end]
		i += end
		if body == "" {
			return "", errors.New("empty %{}")
		}
		letter := body[0]
		lower := letter | 0x20
		if !strings.ContainsRune("slodiphcrtv", rune(lower)) {
			return "", fmt.Errorf("unknown macro letter %q", letter)
		}
		if !exp && strings.ContainsRune("crt", rune(lower)) {
			return "", fmt.Errorf("macro %%{%c} is only allowed in exp=", letter)
		}
		rest := body[1:]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		keep := 0
		if j > 0 {
			n, err := strconv.Atoi(rest[:j])
			if err != nil || n == 0 || n > 128 {
				return "", fmt.Errorf("bad digit transformer in %%{%s}", body)
			}
			keep = n
		}
		reverse := false
		if j < len(rest) && rest[j]|0x20 == 'r' {
			reverse = true
			j++
		}
		delims := rest[j:]
		for k := 0; k < len(delims); k++ {
			if !strings.ContainsRune(".-+,/_=", rune(delims[k])) {
				return "", fmt.Errorf("bad delimiter %q in %%{%s}", delims[k], body)
			}
		}
		if env == nil {
			continue
		}
		v, _ := env.letter(lower)
		if delims == "" {
			delims = "."
		}
		parts := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(delims, r) })
		if reverse {
			slices.Reverse(parts)
		}
		if keep > 0 && keep < len(parts) {
			parts = parts[len(parts)-keep:]
		}
		v = strings.Join(parts, ".")
		if letter != lower { // upper-case letter: URL-escape (RFC 7208 7.3)
			v = uriEscape(v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// uriEscape escapes every byte outside RFC 3986's unreserved set, as
// RFC 7208 7.3 asks for an upper-case macro letter.
func uriEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
