package delivery

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Address is a parsed mail address: a local part and a lower-case domain.
type Address struct {
	Local  string
	Domain string
}

func (a Address) String() string {
	if a.Local == "" {
		return "@" + a.Domain
	}
	return a.Local + "@" + a.Domain
}

// Base returns the address without its sub-address tag: me+tag@d -> me@d.
func (a Address) Base() Address {
	if i := strings.IndexByte(a.Local, '+'); i > 0 {
		return Address{Local: a.Local[:i], Domain: a.Domain}
	}
	return a
}

// ParseAddress parses an addr-spec ("local@domain") as found in SMTP
// envelopes and admin commands. The local part is lower-cased too: boxmail
// treats local parts case-insensitively, as nearly every provider does.
// Quoted local parts are accepted; the result keeps them quoted.
func ParseAddress(s string) (Address, error) {
	if s == "" {
		return Address{}, fmt.Errorf("empty address")
	}
	if len(s) > 254 {
		return Address{}, fmt.Errorf("address %.40q...: longer than 254 characters", s)
	}
	if !utf8.ValidString(s) {
		return Address{}, fmt.Errorf("address %q is not valid UTF-8", s)
	}
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return Address{}, fmt.Errorf("address %q has no @domain", s)
	}
	local, domain := s[:i], s[i+1:]
	if err := checkLocal(local); err != nil {
		return Address{}, fmt.Errorf("address %q: %w", s, err)
	}
	d, err := ParseDomain(domain)
	if err != nil {
		return Address{}, fmt.Errorf("address %q: %w", s, err)
	}
	return Address{Local: strings.ToLower(local), Domain: d}, nil
}

func checkLocal(l string) error {
	if l == "" {
		return fmt.Errorf("empty local part")
	}
	if len(l) > 64 {
		return fmt.Errorf("local part longer than 64 characters")
	}
	if l[0] == '"' {
		if len(l) < 2 || l[len(l)-1] != '"' {
			return fmt.Errorf("unterminated quoted local part")
		}
		for _, r := range l[1 : len(l)-1] {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("control character in local part")
			}
		}
		return nil
	}
	if l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return fmt.Errorf("misplaced dot in local part")
	}
	for _, r := range l {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r >= 0x80:
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		default:
			return fmt.Errorf("character %q not allowed in local part", r)
		}
	}
	return nil
}

// ParseDomain checks a domain name and returns it lower-cased, without a
// trailing dot. Address literals ([1.2.3.4]) are refused. Single-label
// names ("localhost") are syntactically valid; the admin commands insist
// on a dot for hosted domains (ParseHostedDomain).
func ParseDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	if d == "" {
		return "", fmt.Errorf("empty domain")
	}
	if len(d) > 253 {
		return "", fmt.Errorf("domain longer than 253 characters")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("domain %q has an empty or too long label", d)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("domain %q has a label starting or ending with '-'", d)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r >= 0x80) {
				return "", fmt.Errorf("domain %q contains %q", d, r)
			}
		}
	}
	return d, nil
}

// ParseHostedDomain is ParseDomain for a domain or host name the box
// serves: it must have at least two labels.
func ParseHostedDomain(d string) (string, error) {
	d, err := ParseDomain(d)
	if err == nil && !strings.Contains(d, ".") {
		err = fmt.Errorf("domain %q has no dot; use a full name such as example.net", d)
	}
	return d, err
}
