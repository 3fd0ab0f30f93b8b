package dnsrecords

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// CustomTypes are the record types an admin may add.
var CustomTypes = []string{"A", "AAAA", "CAA", "CNAME", "MX", "NS", "SRV", "TLSA", "TXT"}

// ParseCustom validates a custom record given on the command line
// ("www.example.net", "A", "192.0.2.1") and returns it normalised:
// lower-case name without trailing dot, upper-case type, RDATA in
// canonical zone-file syntax. zones are the hosted zones (Set.Zones); the
// name must be inside one of them. A TXT value that does not start with
// a quote is taken as plain text and split into 255-byte strings.
// Errors are one line saying what is wrong.
func ParseCustom(zones []string, name, typ, value string) (Custom, error) {
	name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	typ = strings.ToUpper(strings.TrimSpace(typ))
	value = strings.TrimSpace(value)
	if name == "" {
		return Custom{}, errors.New("the record name is empty")
	}
	if strings.ContainsFunc(name, func(c rune) bool { return c <= ' ' || c >= 0x7f }) {
		return Custom{}, fmt.Errorf("%q is not a valid DNS name", name)
	}
	if _, ok := dns.IsDomainName(name); !ok || strings.ContainsAny(name, " \t\\\"();@$") || strings.Contains(name, "..") {
		return Custom{}, fmt.Errorf("%q is not a valid DNS name", name)
	}
	for _, l := range dns.SplitDomainName(name) {
		if l == "*" || strings.Contains(l, "*") {
			return Custom{}, fmt.Errorf("%s: wildcard names are not supported", name)
		}
	}
	zone := ""
	for _, z := range zones {
		if under(name, z) && len(z) > len(zone) {
			zone = z
		}
	}
	if zone == "" {
		return Custom{}, fmt.Errorf("%s is not inside a hosted domain (%s); give the full name, e.g. www.%s", name, strings.Join(zones, ", "), firstOr(zones, "example.net"))
	}
	if !slices.Contains(CustomTypes, typ) {
		return Custom{}, fmt.Errorf("record type %q is not supported (use one of %s)", typ, strings.Join(CustomTypes, ", "))
	}
	if name == zone && (typ == "CNAME" || typ == "NS") {
		return Custom{}, fmt.Errorf("a %s record is not allowed at the zone apex %s", typ, zone)
	}
	if value == "" {
		return Custom{}, fmt.Errorf("the %s value is empty", typ)
	}
	if len(value) > 4000 {
		return Custom{}, fmt.Errorf("the %s value is too long (%d bytes, at most 4000)", typ, len(value))
	}
	for _, c := range value {
		if c < 0x20 || c == 0x7f {
			return Custom{}, fmt.Errorf("the %s value contains a control character", typ)
		}
		if c == ';' && typ != "TXT" {
			return Custom{}, fmt.Errorf("the %s value contains ';' (a zone-file comment)", typ)
		}
	}
	rdata := value
	if typ == "TXT" && !strings.HasPrefix(value, `"`) {
		rdata = quoteTXT(value)
	}
	if typ == "TXT" {
		// Quotes must pair up and the value must be only quoted strings,
		// or the parser would read a second record or comment.
		if err := checkQuotedStrings(rdata); err != nil {
			return Custom{}, fmt.Errorf("TXT value: %w", err)
		}
	}
	rr, err := dns.NewRR(fmt.Sprintf("%s. %d IN %s %s", name, DefaultTTL, typ, rdata))
	if err != nil || rr == nil {
		return Custom{}, fmt.Errorf("%q is not a valid %s value%s", value, typ, hint(typ, err))
	}
	if dns.TypeToString[rr.Header().Rrtype] != typ {
		return Custom{}, fmt.Errorf("%q is not a valid %s value", value, typ)
	}
	norm := strings.TrimPrefix(rr.String(), rr.Header().String())
	if norm == "" || strings.ContainsAny(norm, "\n\r") {
		return Custom{}, fmt.Errorf("%q is not a valid %s value", value, typ)
	}
	if len(norm) > 4000 { // quoting and escapes make the stored form longer
		return Custom{}, fmt.Errorf("the %s value is too long once written as a record (%d bytes, at most 4000)", typ, len(norm))
	}
	// The canonical form must read back as the same record.
	rr2, err := dns.NewRR(fmt.Sprintf("%s. %d IN %s %s", name, DefaultTTL, typ, norm))
	if err != nil || rr2 == nil || !dns.IsDuplicate(rr, rr2) {
		return Custom{}, fmt.Errorf("%q is not a valid %s value", value, typ)
	}
	return Custom{Name: name, Type: typ, Value: norm}, nil
}

func firstOr(l []string, def string) string {
	if len(l) > 0 {
		return l[0]
	}
	return def
}

// checkQuotedStrings checks that s is a sequence of "..." strings
// separated by spaces, each at most 255 bytes once unescaped.
func checkQuotedStrings(s string) error {
	i := 0
	for i < len(s) {
		if s[i] == ' ' {
			i++
			continue
		}
		if s[i] != '"' {
			return errors.New(`write it as text, or as "quoted" "strings"`)
		}
		i++
		n := 0
		closed := false
		for i < len(s) {
			c := s[i]
			if c == '\\' {
				if i+1 >= len(s) {
					return errors.New("a backslash at the end")
				}
				if s[i+1] >= '0' && s[i+1] <= '9' {
					if i+3 >= len(s) {
						return errors.New(`a bad \DDD escape`)
					}
					i += 4
				} else {
					i += 2
				}
				n++
				continue
			}
			i++
			if c == '"' {
				closed = true
				break
			}
			n++
		}
		if !closed {
			return errors.New("an unclosed quote")
		}
		if n > 255 {
			return errors.New("a quoted string longer than 255 bytes (split it, or give the text without quotes)")
		}
	}
	return nil
}

func hint(typ string, err error) string {
	ex := map[string]string{
		"A":     "an IPv4 address such as 192.0.2.1",
		"AAAA":  "an IPv6 address such as 2001:db8::1",
		"CAA":   `flags, tag and value, such as: 0 issue "letsencrypt.org"`,
		"CNAME": "a host name such as www.example.net.",
		"MX":    "preference and host, such as: 10 mx.example.net.",
		"NS":    "a name server such as ns1.example.net.",
		"SRV":   "priority, weight, port and target, such as: 0 1 443 www.example.net.",
		"TLSA":  "usage, selector, type and hex data, such as: 3 1 1 0123...",
		"TXT":   "text",
	}[typ]
	if ex == "" {
		return ""
	}
	return "; want " + ex
}
