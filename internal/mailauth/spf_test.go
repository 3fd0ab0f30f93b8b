package mailauth

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"boxmail/internal/resolver"
)

func TestParseSPF(t *testing.T) {
	good := []string{
		"v=spf1 mx -all",
		"v=spf1",
		"V=SPF1 +MX ~ALL",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:mail.example.net/28//64 mx//48 -all",
		"v=spf1 include:_spf.google.com include:spf.protection.outlook.com ~all",
		"v=spf1 exists:%{i}._spf.mta.salesforce.com -all",
		"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
		"v=spf1 redirect=_spf.example.net",
		"v=spf1 ptr ?all",
		"v=spf1 a mx exp=explain._spf.%{d} -all",
		"v=spf1 foo=bar mx -all",
	}
	for _, s := range good {
		r, err := ParseSPF(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if want := "v=spf1" + strings.Join(strings.Fields(s[6:]), " ")[0:0]; !strings.HasPrefix(r.String(), want) {
			t.Errorf("%q: String %q", s, r.String())
		}
	}
	bad := map[string]string{
		"v=spf2 mx":                            "starts with",
		"v=spf1mx":                             "starts with",
		"v=spf1 ip4:300.1.1.1":                 "not an IPv4",
		"v=spf1 ip4:192.0.2.0/33":              "prefix",
		"v=spf1 ip6:192.0.2.1":                 "not an IPv6",
		"v=spf1 include":                       "needs a domain",
		"v=spf1 include:nodot":                 "not a domain",
		"v=spf1 frob:example.net":              "unknown mechanism",
		"v=spf1 redirect=a.net redirect=b.net": "more than once",
		"v=spf1 exists:%{z}.example.net":       "unknown macro",
		"v=spf1 exists:%{i.example.net":        "unclosed",
		"v=spf1 all:x":                         "no argument",
		"v=spf1 mx/40":                         "prefix",
	}
	for s, want := range bad {
		_, err := ParseSPF(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", s, err, want)
		}
	}
}

var spfZone = []string{
	`example.net. TXT "v=spf1 mx include:box.example.org -all"`,
	`example.net. MX 10 mx.example.net.`,
	`mx.example.net. A 192.0.2.10`,
	`box.example.org. TXT "v=spf1 a -all"`,
	`box.example.org. A 198.51.100.7`,
	`box.example.org. AAAA 2001:db8::7`,
	`soft.example. TXT "v=spf1 ip4:203.0.113.0/24 ~all"`,
	`redir.example. TXT "v=spf1 redirect=example.net"`,
	`two.example. TXT "v=spf1 -all"`,
	`two.example. TXT "v=spf1 +all"`,
	`macro.example. TXT "v=spf1 exists:%{ir}.%{l}._spf.%{d} -all"`,
	`7.100.51.198.alice._spf.macro.example. A 127.0.0.2`,
	`loop.example. TXT "v=spf1 include:loop.example -all"`,
	`missing.example. TXT "v=spf1 include:nothing.example -all"`,
	`ptr.example. TXT "v=spf1 ptr -all"`,
	`7.100.51.198.in-addr.arpa. PTR box.ptr.example.`,
	`box.ptr.example. A 198.51.100.7`,
	`tmp.example. TXT "v=spf1 include:broken.example -all"`,
	`deep.example. TXT "v=spf1 a:a1.example a:a2.example a:a3.example a:a4.example a:a5.example a:a6.example a:a7.example a:a8.example a:a9.example a:a10.example a:a11.example -all"`,
	`a1.example. TXT "x"`, `a2.example. TXT "x"`, `a3.example. TXT "x"`, `a4.example. TXT "x"`, `a5.example. TXT "x"`, `a6.example. TXT "x"`,
	`a7.example. TXT "x"`, `a8.example. TXT "x"`, `a9.example. TXT "x"`, `a10.example. TXT "x"`, `a11.example. TXT "x"`,
	`void.example. TXT "v=spf1 a:n1.example a:n2.example a:n3.example -all"`,
	`six.example. TXT "v=spf1 ip6:2001:db8::/32 -all"`,
}

func TestCheckSPF(t *testing.T) {
	f := resolver.NewFake(spfZone...)
	f.Fail("broken.example", dns.TypeTXT)
	for _, c := range []struct {
		ip, sender string
		want       SPFStatus
		matched    string
	}{
		{"198.51.100.7", "me@example.net", SPFPass, "include:box.example.org"},
		{"192.0.2.10", "me@example.net", SPFPass, "mx"},
		{"192.0.2.99", "me@example.net", SPFFail, "-all"},
		{"2001:db8::7", "me@example.net", SPFPass, "include:box.example.org"},
		{"203.0.113.5", "x@soft.example", SPFPass, "ip4:203.0.113.0/24"},
		{"192.0.2.1", "x@soft.example", SPFSoftFail, "~all"},
		{"198.51.100.7", "x@redir.example", SPFPass, "include:box.example.org"},
		{"198.51.100.7", "x@two.example", SPFPermError, ""},
		{"198.51.100.7", "alice@macro.example", SPFPass, "exists:%{ir}.%{l}._spf.%{d}"},
		{"198.51.100.7", "bob@macro.example", SPFFail, "-all"},
		{"198.51.100.7", "x@loop.example", SPFPermError, ""},
		{"198.51.100.7", "x@missing.example", SPFPermError, ""},
		{"198.51.100.7", "x@ptr.example", SPFPass, "ptr"},
		{"198.51.100.8", "x@ptr.example", SPFFail, "-all"},
		{"198.51.100.7", "x@tmp.example", SPFTempError, ""},
		{"198.51.100.7", "x@deep.example", SPFPermError, ""},
		{"198.51.100.7", "x@void.example", SPFPermError, ""},
		{"198.51.100.7", "x@nosuch.example", SPFNone, ""},
		{"2001:db8:1::1", "x@six.example", SPFPass, "ip6:2001:db8::/32"},
		{"::ffff:198.51.100.7", "", SPFPass, "a"}, // HELO check, mapped address
	} {
		helo := "box.example.org"
		res, err := CheckSPF(context.Background(), f, netip.MustParseAddr(c.ip), helo, c.sender)
		if res.Status != c.want || (c.matched != "" && res.Matched != c.matched) {
			t.Errorf("%s from %s: %+v, %v; want %s by %q", c.sender, c.ip, res, err, c.want, c.matched)
		}
		if (err != nil) != (c.want == SPFTempError || c.want == SPFPermError) {
			t.Errorf("%s from %s: error %v with %s", c.sender, c.ip, err, res.Status)
		}
	}
	res, _ := CheckSPF(context.Background(), f, netip.MustParseAddr("192.0.2.99"), "h", "me@example.net")
	if res.Lookups != 3 {
		t.Errorf("lookups = %d, want 3 (mx, include, and a inside the include)", res.Lookups)
	}
}

func FuzzParseSPF(f *testing.F) {
	f.Add("v=spf1 mx -all")
	f.Add("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} a:x.example/24//64 redirect=y.example")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseSPF(s)
		if err != nil {
			return
		}
		if _, err := ParseSPF(r.String()); err != nil {
			t.Fatalf("%q parsed, its String %q does not: %v", s, r.String(), err)
		}
	})
}
