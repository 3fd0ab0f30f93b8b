package dnsrecords

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
)

// oldWorld is the DNS of a domain mid-migration: MX still at the old
// provider (two hosts, one with IPv6), the domain's own address there
// too, a mail host under the domain.
func oldWorld() *resolver.Fake {
	return resolver.NewFake(
		"example.net. MX 10 mx1.old.example.",
		"example.net. MX 20 mx2.old.example.",
		"mx1.old.example. A 192.0.2.10",
		"mx1.old.example. AAAA 2001:db8::10",
		"mx2.old.example. A 192.0.2.20",
		"example.net. A 192.0.2.80",
		"mail.example.net. A 192.0.2.25",
		"mail.example.net. AAAA 2001:db8:1:2::25",
		"relay.old.example. MX 5 out.old.example.",
		"out.old.example. A 203.0.113.5",
		"nomx.example. A 192.0.2.99",
		"box.example.net. A 198.51.100.7",
	)
}

// Real-world SPF records (published by providers or typical of small
// domains) and what 'boxmail spf include' makes of them: names resolved
// to today's addresses, the box included.
func TestRelaxSPF(t *testing.T) {
	const box = "box.example.net"
	const mx = "ip4:192.0.2.10 ip6:2001:db8::10 ip4:192.0.2.20"
	for _, c := range []struct {
		in, want, note string
	}{
		// The seed document's example: "mx" names the old provider's
		// servers by address, since after the switch it means the box.
		{"v=spf1 mx -all", "v=spf1 " + mx + " include:box.example.net -all", "would mean the box"},
		{"v=spf1 mx -all", "v=spf1 " + mx + " include:box.example.net -all", "mx1.old.example, mx2.old.example"},
		// Google Workspace: nothing to resolve.
		{"v=spf1 include:_spf.google.com ~all", "v=spf1 include:_spf.google.com include:box.example.net ~all", "soft fail"},
		// Microsoft 365.
		{"v=spf1 include:spf.protection.outlook.com -all", "v=spf1 include:spf.protection.outlook.com include:box.example.net -all", "cost 2 of the 10"},
		// 123-reg style, quoted as DNS tools print it: a and mx resolved.
		{`"v=spf1 a mx include:spf.123-reg.co.uk ~all"`, "v=spf1 ip4:192.0.2.80 " + mx + " include:spf.123-reg.co.uk include:box.example.net ~all", "address moves to the box"},
		// Split into several strings by a DNS tool.
		{`"v=spf1 ip4:192.0.2.0/24 " "ip4:198.51.100.7 -all"`, "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 include:box.example.net -all", "cost 1 of the 10"},
		// Fastmail.
		{"v=spf1 include:spf.messagingengine.com ?all", "v=spf1 include:spf.messagingengine.com include:box.example.net ?all", "tells receivers nothing"},
		// Mailchimp and Google together.
		{"v=spf1 include:servers.mcsv.net include:_spf.google.com ~all", "v=spf1 include:servers.mcsv.net include:_spf.google.com include:box.example.net ~all", ""},
		// Salesforce exists with macros, kept.
		{"v=spf1 exists:%{i}._spf.mta.salesforce.com -all", "v=spf1 exists:%{i}._spf.mta.salesforce.com include:box.example.net -all", ""},
		{"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} include:box.example.net -all", ""},
		// a:HOST with prefixes: the networks of today's addresses.
		{"v=spf1 ip6:2001:db8::/32 a:mail.example.net/28//64 -all", "v=spf1 ip6:2001:db8::/32 ip4:192.0.2.16/28 ip6:2001:db8:1:2::/64 include:box.example.net -all", "mail.example.net today"},
		// mx:OTHER and qualifiers survive.
		{"v=spf1 ~mx:relay.old.example -all", "v=spf1 ~ip4:203.0.113.5 include:box.example.net -all", "out.old.example"},
		{"v=spf1 mx/24 -all", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::10 include:box.example.net -all", ""},
		// An address named twice is written once.
		{"v=spf1 ip4:192.0.2.10 mx -all", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ip4:192.0.2.20 include:box.example.net -all", ""},
		// A name without addresses authorises nothing today: dropped.
		{"v=spf1 mx:nomx.example include:_spf.google.com -all", "v=spf1 include:_spf.google.com include:box.example.net -all", "warning: mx:nomx.example was dropped"},
		// The box's own name stays the box.
		{"v=spf1 a:box.example.net -all", "v=spf1 a:box.example.net include:box.example.net -all", ""},
		// A macro cannot be resolved now: kept, with a warning.
		{"v=spf1 a:%{d} -all", "v=spf1 a:%{d} include:box.example.net -all", "macro"},
		// redirect= only (Gmail.com style).
		{"v=spf1 redirect=_spf.google.com", "v=spf1 include:box.example.net redirect=_spf.google.com", "redirect="},
		// +all: the whole internet.
		{"v=spf1 mx +all", "v=spf1 " + mx + " include:box.example.net ~all", "whole internet"},
		{"v=spf1 all", "v=spf1 include:box.example.net ~all", "whole internet"},
		// No all at all.
		{"v=spf1 mx", "v=spf1 " + mx + " include:box.example.net", "no all"},
		// Already includes the box: no change, unless a name is resolved.
		{"v=spf1 include:box.example.net -all", "v=spf1 include:box.example.net -all", "no change"},
		{"v=spf1 mx include:BOX.example.net. -all", "v=spf1 " + mx + " include:BOX.example.net. -all", "would mean the box"},
		// Upper-case, extra spaces and an unknown modifier survive.
		{"V=SPF1  MX   -ALL", "v=spf1 " + mx + " include:box.example.net -ALL", ""},
		{"v=spf1 mx exp=explain.%{d} -all", "v=spf1 " + mx + " include:box.example.net exp=explain.%{d} -all", ""},
		// ptr is deprecated.
		{"v=spf1 ptr -all", "v=spf1 ptr include:box.example.net -all", "deprecated"},
		// Many includes: near the limit, with a warning.
		{"v=spf1 include:a.example include:b.example include:c.example include:d.example -all", "v=spf1 include:a.example include:b.example include:c.example include:d.example include:box.example.net -all", "warning: the record now has 5"},
		// Ten a: terms cost ten lookups; resolved, they cost none.
		{"v=spf1 a:mail.example.net a:mail.example.net a:mail.example.net a:mail.example.net a:mail.example.net a:mail.example.net a:mail.example.net a:mail.example.net a:mail.example.net a:mail.example.net -all",
			"v=spf1 ip4:192.0.2.25 ip6:2001:db8:1:2::25 include:box.example.net -all", "cost 1 of the 10"},
		// No record yet: today's MX named.
		{"", "v=spf1 " + mx + " include:box.example.net ~all", "no SPF record yet"},
	} {
		adv, err := RelaxSPF(context.Background(), oldWorld(), c.in, "example.net", box)
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
		if _, err := mailauth.ParseSPF(adv.Record); err != nil {
			t.Errorf("%q: the record %q does not parse: %v", c.in, adv.Record, err)
		}
	}
	for in, want := range map[string]string{
		"v=spf1 mx -al":        "unknown mechanism",
		"v=spf2.0/pra mx -all": "v=spf1",
		"v=spf1 ip4:1.2.3.999": "not an IPv4",
		"spf mx -all":          "v=spf1",
		"v=spf1 include:a1.example include:a2.example include:a3.example include:a4.example include:a5.example include:a6.example include:a7.example include:a8.example include:a9.example include:a10.example -all": "limit of 10",
	} {
		if _, err := RelaxSPF(context.Background(), oldWorld(), in, "example.net", box); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

// A record that cannot be resolved now is refused: printing "mx" or a
// half-resolved record would stop authorising the old provider later.
func TestRelaxSPFRefuses(t *testing.T) {
	ctx := context.Background()
	if _, err := RelaxSPF(ctx, oldWorld(), "v=spf1 mx -all", "", "box.example.net"); !errors.Is(err, ErrNeedDomain) {
		t.Errorf("no domain: %v", err)
	}
	if _, err := RelaxSPF(ctx, oldWorld(), "", "", "box.example.net"); !errors.Is(err, ErrNeedDomain) {
		t.Errorf("no record, no domain: %v", err)
	}
	// Nothing to resolve: no domain and no DNS needed.
	if adv, err := RelaxSPF(ctx, nil, "v=spf1 include:_spf.google.com -all", "", "box.example.net"); err != nil || adv.Record != "v=spf1 include:_spf.google.com include:box.example.net -all" {
		t.Errorf("include only: %q, %v", adv.Record, err)
	}
	for _, fail := range []struct {
		name  string
		qtype uint16
	}{{"example.net", dns.TypeMX}, {"mx2.old.example", dns.TypeA}, {"mx1.old.example", dns.TypeAAAA}} {
		r := oldWorld()
		r.Fail(fail.name, fail.qtype)
		if adv, err := RelaxSPF(ctx, r, "v=spf1 mx -all", "example.net", "box.example.net"); err == nil || !strings.Contains(err.Error(), "cannot resolve mx") {
			t.Errorf("%s %d failing: %q, %v", fail.name, fail.qtype, adv.Record, err)
		}
	}
	if _, err := RelaxSPF(ctx, nil, "v=spf1 a -all", "example.net", "box.example.net"); err == nil {
		t.Error("no resolver: no error")
	}
	// MX already at the box: "mx" can no longer name the old provider.
	r := resolver.NewFake("example.net. MX 10 box.example.net.", "box.example.net. A 198.51.100.7")
	adv, err := RelaxSPF(ctx, r, "v=spf1 mx -all", "example.net", "box.example.net")
	if err != nil || adv.Record != "v=spf1 include:box.example.net -all" || !strings.Contains(strings.Join(adv.Notes, "\n"), "already points at the box") {
		t.Errorf("MX at the box: %q %q, %v", adv.Record, adv.Notes, err)
	}
}

// The point of it all: the relaxed record, evaluated by a receiver after
// MX moved to the box, still passes the old provider's servers and the
// box; the record of the old rewriting ("mx" kept) did not.
func TestRelaxedRecordSurvivesTheMXSwitch(t *testing.T) {
	ctx := context.Background()
	adv, err := RelaxSPF(ctx, oldWorld(), "v=spf1 mx -all", "example.net", "box.example.net")
	if err != nil {
		t.Fatal(err)
	}
	after := resolver.NewFake(
		"example.net. MX 10 box.example.net.",
		"box.example.net. A 198.51.100.7",
		`box.example.net. TXT "v=spf1 ip4:198.51.100.7 -all"`,
		"mx1.old.example. A 192.0.2.10",
		"mx2.old.example. A 192.0.2.20",
		fmt.Sprintf("example.net. TXT %q", adv.Record),
	)
	for ip, want := range map[string]mailauth.SPFStatus{"192.0.2.10": mailauth.SPFPass, "192.0.2.20": mailauth.SPFPass, "2001:db8::10": mailauth.SPFPass,
		"198.51.100.7": mailauth.SPFPass, "203.0.113.9": mailauth.SPFFail} {
		res, err := mailauth.CheckSPF(ctx, after, netip.MustParseAddr(ip), "helo.example", "alice@example.net")
		if res.Status != want {
			t.Errorf("%s after the switch: %s (%v), want %s", ip, res.Status, err, want)
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
