package mailauth

// SPF records (RFC 7208): the parser shared by the evaluator (spfeval.go)
// and by the record rewriting of the DNS tools.

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SPFTerm is one directive ("-ip4:192.0.2.0/24") or modifier
// ("redirect=_spf.example.net") of an SPF record.
type SPFTerm struct {
	// Qualifier is '+', '-', '~' or '?' for a mechanism (written or
	// not), 0 for a modifier.
	Qualifier byte
	// Mechanism is "all", "include", "a", "mx", "ptr", "ip4", "ip6" or
	// "exists", lower-case; "" for a modifier.
	Mechanism string
	// Modifier is the modifier's name, lower-case ("redirect", "exp",
	// or an unknown one, which is ignored); "" for a mechanism.
	Modifier string
	// Value is the domain-spec, network or modifier value ("" if none).
	Value string
	// Prefix4 and Prefix6 are the CIDR lengths of a, mx, ip4 and ip6;
	// -1 when not written.
	Prefix4, Prefix6 int
	// Raw is the term as written.
	Raw string
}

// SPFRecord is a parsed SPF record.
type SPFRecord struct {
	Terms []SPFTerm
}

// IsSPF reports whether a TXT record is an SPF record: it starts with
// "v=spf1" followed by a space or nothing (RFC 7208 4.5).
func IsSPF(txt string) bool {
	if len(txt) < 6 || !strings.EqualFold(txt[:6], "v=spf1") {
		return false
	}
	return len(txt) == 6 || txt[6] == ' '
}

// ParseSPF parses an SPF record. Errors are one line naming the bad
// term.
func ParseSPF(txt string) (*SPFRecord, error) {
	if !IsSPF(txt) {
		return nil, errors.New(`an SPF record starts with "v=spf1"`)
	}
	rec := &SPFRecord{}
	seen := map[string]bool{}
	for _, f := range strings.Split(txt[6:], " ") {
		if f == "" {
			continue
		}
		t, err := parseSPFTerm(f)
		if err != nil {
			return nil, err
		}
		if t.Modifier == "redirect" || t.Modifier == "exp" {
			if seen[t.Modifier] { // RFC 7208 6: at most once
				return nil, fmt.Errorf("%s= appears more than once", t.Modifier)
			}
			seen[t.Modifier] = true
		}
		rec.Terms = append(rec.Terms, t)
	}
	return rec, nil
}

func parseSPFTerm(raw string) (SPFTerm, error) {
	t := SPFTerm{Raw: raw, Prefix4: -1, Prefix6: -1}
	for _, c := range raw {
		if c < 0x21 || c > 0x7e {
			return t, fmt.Errorf("term %q: only printable ASCII is allowed", raw)
		}
	}
	// A modifier is name=value where name is ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
	if i := strings.IndexByte(raw, '='); i > 0 && !strings.ContainsAny(raw[:i], ":/") {
		name := strings.ToLower(raw[:i])
		if !isSPFName(name) {
			return t, fmt.Errorf("term %q: bad modifier name", raw)
		}
		t.Modifier, t.Value = name, raw[i+1:]
		if err := checkMacroString(t.Value); err != nil {
			return t, fmt.Errorf("term %q: %w", raw, err)
		}
		if name == "redirect" || name == "exp" {
			if t.Value == "" {
				return t, fmt.Errorf("term %q: %s= needs a domain", raw, name)
			}
			if err := checkDomainSpec(t.Value); err != nil {
				return t, fmt.Errorf("term %q: %w", raw, err)
			}
		}
		return t, nil
	}
	s := raw
	t.Qualifier = '+'
	if strings.IndexByte("+-~?", s[0]) >= 0 {
		t.Qualifier = s[0]
		s = s[1:]
	}
	name, arg, hasArg := s, "", false
	if i := strings.IndexAny(s, ":/"); i >= 0 {
		name, arg = s[:i], s[i:]
		if arg[0] == ':' {
			arg, hasArg = arg[1:], true
		}
	}
	t.Mechanism = strings.ToLower(name)
	switch t.Mechanism {
	case "all":
		if arg != "" || hasArg {
			return t, fmt.Errorf("term %q: all takes no argument", raw)
		}
	case "include", "exists":
		if !hasArg || arg == "" {
			return t, fmt.Errorf("term %q: %s needs a domain", raw, t.Mechanism)
		}
		if err := checkDomainSpec(arg); err != nil {
			return t, fmt.Errorf("term %q: %w", raw, err)
		}
		t.Value = arg
	case "a", "mx", "ptr":
		spec := arg
		if t.Mechanism != "ptr" {
			var err error
			if spec, t.Prefix4, t.Prefix6, err = cutDualCIDR(arg); err != nil {
				return t, fmt.Errorf("term %q: %w", raw, err)
			}
		} else if strings.Contains(arg, "/") && !hasArg {
			return t, fmt.Errorf("term %q: ptr takes no prefix length", raw)
		}
		if hasArg {
			if err := checkDomainSpec(spec); err != nil {
				return t, fmt.Errorf("term %q: %w", raw, err)
			}
		} else if spec != "" {
			return t, fmt.Errorf("term %q: unexpected %q", raw, spec)
		}
		t.Value = spec
	case "ip4", "ip6":
		if !hasArg {
			return t, fmt.Errorf("term %q: %s needs an address", raw, t.Mechanism)
		}
		addr, plen, _ := strings.Cut(arg, "/")
		ip, err := netip.ParseAddr(addr)
		if err != nil || (t.Mechanism == "ip4") != ip.Is4() || ip.Zone() != "" {
			return t, fmt.Errorf("term %q: %q is not an IPv%s address", raw, addr, t.Mechanism[2:])
		}
		if strings.Contains(arg, "/") {
			n, err := strconv.Atoi(plen)
			if err != nil || n < 0 || n > ip.BitLen() || plen != strconv.Itoa(n) {
				return t, fmt.Errorf("term %q: bad prefix length %q", raw, plen)
			}
			if ip.Is4() {
				t.Prefix4 = n
			} else {
				t.Prefix6 = n
			}
		}
		t.Value = addr
	default:
		return t, fmt.Errorf("term %q: unknown mechanism %q", raw, name)
	}
	return t, nil
}

func isSPFName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// cutDualCIDR splits "domain/24//64" into the domain and the prefixes.
// The lengths are taken from the end, since a domain-spec may itself
// hold a "/" (RFC 7208 7.1: "a:foo:bar/baz.example.com").
func cutDualCIDR(s string) (string, int, int, error) {
	p4, p6 := -1, -1
	parse := func(v string, max int) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > max || v != strconv.Itoa(n) {
			return 0, fmt.Errorf("bad prefix length %q", v)
		}
		return n, nil
	}
	spec := s
	var err error
	if i := strings.LastIndex(spec, "//"); i >= 0 && allDigits(spec[i+2:]) {
		if p6, err = parse(spec[i+2:], 128); err != nil {
			return spec, p4, p6, err
		}
		spec = spec[:i]
	}
	if i := strings.LastIndexByte(spec, '/'); i >= 0 && allDigits(spec[i+1:]) {
		if p4, err = parse(spec[i+1:], 32); err != nil {
			return spec, p4, p6, err
		}
		spec = spec[:i]
	}
	return spec, p4, p6, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// checkMacroString checks the macro syntax of RFC 7208 7.1.
func checkMacroString(s string) error {
	_, err := expandMacros(s, nil, false)
	return err
}

// checkDomainSpec checks a domain-spec (RFC 7208 7.1): a macro-string
// that ends in a macro or in "." and a top label (not all digits, no
// leading or trailing "-"). One without macros must also be a DNS name.
func checkDomainSpec(s string) error {
	if err := checkMacroString(s); err != nil {
		return err
	}
	t := strings.TrimSuffix(s, ".")
	if endsInMacro(t) {
		return nil
	}
	i := strings.LastIndexByte(t, '.')
	if i < 0 || !isTopLabel(t[i+1:]) {
		return fmt.Errorf("%q is not a domain name (it must end in a top-level domain)", s)
	}
	if !strings.Contains(s, "%") && !validDomain(s) {
		return fmt.Errorf("%q is not a domain name", s)
	}
	return nil
}

// endsInMacro reports whether the (checked) macro-string s ends with a
// macro-expand.
func endsInMacro(s string) bool {
	end := -1
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) {
			continue
		}
		if s[i+1] == '{' {
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return false
			}
			i += j
			end = i + 1
			continue
		}
		i++
		end = i + 1
	}
	return end == len(s)
}

// isTopLabel is the toplabel of RFC 7208 7.1: letters, digits and
// dashes, not all digits, neither starting nor ending with a dash.
func isTopLabel(l string) bool {
	if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	alpha := false
	for i := 0; i < len(l); i++ {
		c := l[i] | 0x20
		switch {
		case c >= 'a' && c <= 'z', l[i] == '-':
			alpha = true
		case l[i] >= '0' && l[i] <= '9':
		default:
			return false
		}
	}
	return alpha
}

// validDomain reports whether s looks like a DNS name: 1-63 byte labels,
// at most 253 bytes, at least two labels.
func validDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
				return false
			}
		}
	}
	return true
}

// String returns the record as text: "v=spf1" and each term as written.
func (r *SPFRecord) String() string {
	var b strings.Builder
	b.WriteString("v=spf1")
	for _, t := range r.Terms {
		b.WriteByte(' ')
		b.WriteString(t.Raw)
	}
	return b.String()
}

// All returns the record's "all" term, if any.
func (r *SPFRecord) All() (SPFTerm, bool) {
	for _, t := range r.Terms {
		if t.Mechanism == "all" {
			return t, true
		}
	}
	return SPFTerm{}, false
}

// Redirect returns the redirect= target, or "".
func (r *SPFRecord) Redirect() string {
	for _, t := range r.Terms {
		if t.Modifier == "redirect" {
			return t.Value
		}
	}
	return ""
}

// Exp returns the exp= domain-spec, or "".
func (r *SPFRecord) Exp() string {
	for _, t := range r.Terms {
		if t.Modifier == "exp" {
			return t.Value
		}
	}
	return ""
}

// LookupTerms counts the terms that cost a DNS lookup when evaluated
// (include, a, mx, ptr, exists, redirect), not counting the lookups
// inside included records.
func (r *SPFRecord) LookupTerms() int {
	n := 0
	for _, t := range r.Terms {
		switch {
		case t.Mechanism == "include", t.Mechanism == "a", t.Mechanism == "mx", t.Mechanism == "ptr", t.Mechanism == "exists":
			n++
		case t.Modifier == "redirect" && !r.hasAll():
			n++
		}
	}
	return n
}

func (r *SPFRecord) hasAll() bool { _, ok := r.All(); return ok }
