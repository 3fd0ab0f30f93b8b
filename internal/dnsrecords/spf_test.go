package dnsrecords

import (
	"net/netip"
	"strings"
	"testing"
)

// Real-world SPF records (published by providers or typical of small
// domains) and what 'boxmail spf include' makes of them.
func TestIncludeBox(t *testing.T) {
	const box = "box.example.net"
	for _, c := range []struct {
		in, want, note string
	}{
		// The seed document's example.
		{"v=spf1 mx -all", "v=spf1 mx include:box.example.net -all", ""},
		// Google Workspace.
		{"v=spf1 include:_spf.google.com ~all", "v=spf1 include:_spf.google.com include:box.example.net ~all", "soft fail"},
		// Microsoft 365.
		{"v=spf1 include:spf.protection.outlook.com -all", "v=spf1 include:spf.protection.outlook.com include:box.example.net -all", ""},
		// 123-reg style, quoted as DNS tools print it.
		{`"v=spf1 a mx include:spf.123-reg.co.uk ~all"`, "v=spf1 a mx include:spf.123-reg.co.uk include:box.example.net ~all", "soft fail"},
		// Split into several strings by a DNS tool.
		{`"v=spf1 ip4:192.0.2.0/24 " "ip4:198.51.100.7 -all"`, "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 include:box.example.net -all", ""},
		// Fastmail.
		{"v=spf1 include:spf.messagingengine.com ?all", "v=spf1 include:spf.messagingengine.com include:box.example.net ?all", "tells receivers nothing"},
		// Zoho.
		{"v=spf1 include:zoho.eu ~all", "v=spf1 include:zoho.eu include:box.example.net ~all", ""},
		// Mailchimp and Google together.
		{"v=spf1 include:servers.mcsv.net include:_spf.google.com ~all", "v=spf1 include:servers.mcsv.net include:_spf.google.com include:box.example.net ~all", ""},
		// Salesforce exists with macros.
		{"v=spf1 exists:%{i}._spf.mta.salesforce.com -all", "v=spf1 exists:%{i}._spf.mta.salesforce.com include:box.example.net -all", ""},
		// Macros with transformers.
		{"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} include:box.example.net -all", ""},
		// IPv6 and a with prefixes.
		{"v=spf1 ip6:2001:db8::/32 a:mail.example.net/28//64 -all", "v=spf1 ip6:2001:db8::/32 a:mail.example.net/28//64 include:box.example.net -all", ""},
		// redirect= only (Gmail.com style).
		{"v=spf1 redirect=_spf.google.com", "v=spf1 include:box.example.net redirect=_spf.google.com", "redirect="},
		// Amazon SES via a subdomain-style include.
		{"v=spf1 include:amazonses.com -all", "v=spf1 include:amazonses.com include:box.example.net -all", ""},
		// SendGrid.
		{"v=spf1 include:sendgrid.net ~all", "v=spf1 include:sendgrid.net include:box.example.net ~all", ""},
		// +all: the whole internet.
		{"v=spf1 mx +all", "v=spf1 mx include:box.example.net ~all", "whole internet"},
		{"v=spf1 all", "v=spf1 include:box.example.net ~all", "whole internet"},
		// No all at all.
		{"v=spf1 mx", "v=spf1 mx include:box.example.net", "no all"},
		// Already includes the box: no change.
		{"v=spf1 mx include:box.example.net -all", "v=spf1 mx include:box.example.net -all", "already includes"},
		{"v=spf1 mx include:BOX.example.net. -all", "v=spf1 mx include:BOX.example.net. -all", "already includes"},
		// Upper-case, extra spaces and an unknown modifier survive.
		{"V=SPF1  MX   -ALL", "v=spf1 MX include:box.example.net -ALL", ""},
		{"v=spf1 mx exp=explain.%{d} -all", "v=spf1 mx include:box.example.net exp=explain.%{d} -all", ""},
		// ptr is deprecated.
		{"v=spf1 ptr -all", "v=spf1 ptr include:box.example.net -all", "deprecated"},
		// Yahoo-style many includes: near the limit, with a warning.
		{"v=spf1 include:a.example include:b.example include:c.example include:d.example -all", "v=spf1 include:a.example include:b.example include:c.example include:d.example include:box.example.net -all", "DNS lookup"},
		// No record yet.
		{"", "v=spf1 mx include:box.example.net ~all", "no SPF record yet"},
	} {
		adv, err := IncludeBox(c.in, box)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if adv.Record != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.in, adv.Record, c.want)
		}
		if c.note != "" && !strings.Contains(strings.Join(adv.Notes, "\n"), c.note) {
			t.Errorf("%q: notes %q lack %q", c.in, adv.Notes, c.note)
		}
	}
	for in, want := range map[string]string{
		"v=spf1 mx -al":        "unknown mechanism",
		"v=spf2.0/pra mx -all": "v=spf1",
		"v=spf1 ip4:1.2.3.999": "not an IPv4",
		"spf mx -all":          "v=spf1",
		"v=spf1 a:a1.example a:a2.example a:a3.example a:a4.example a:a5.example a:a6.example a:a7.example a:a8.example a:a9.example a:a10.example -all": "limit of 10",
	} {
		if _, err := IncludeBox(in, box); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestClassifySPF(t *testing.T) {
	ips := []netip.Addr{netip.MustParseAddr("198.51.100.7")}
	for _, c := range []struct {
		rec      string
		mxIsBox  bool
		box      bool
		others   int
		hardened bool
	}{
		{"v=spf1 include:_spf.google.com ~all", false, false, 1, false},
		{"v=spf1 include:_spf.google.com include:box.example.net ~all", false, true, 1, false},
		{"v=spf1 mx include:box.example.net -all", false, true, 1, false}, // mx is still the old provider
		{"v=spf1 mx -all", true, true, 0, true},
		{"v=spf1 mx ~all", true, true, 0, false},
		{"v=spf1 ip4:198.51.100.7 -all", false, true, 0, true},
		{"v=spf1 ip4:198.51.100.0/24 -all", false, false, 1, false},
		{"v=spf1 redirect=box.example.net", false, true, 0, true},
	} {
		st, err := ClassifySPF(c.rec, "box.example.net", ips, c.mxIsBox)
		if err != nil || st.Box != c.box || len(st.Others) != c.others || st.Hardened() != c.hardened {
			t.Errorf("%q (mx at box %v): %+v, %v", c.rec, c.mxIsBox, st, err)
		}
	}
}
