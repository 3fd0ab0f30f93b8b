package dnsrecords

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/miekg/dns"

	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
)

var (
	keyOnce sync.Once
	keyPEM  string
)

func testKey(t testing.TB) string {
	keyOnce.Do(func() {
		k, err := mailauth.NewDKIMKey(mailauth.AlgRSA)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM = k
	})
	return keyPEM
}

func testInput(t testing.TB) Input {
	return Input{
		Hostname:   "box.example.net",
		IPv4:       []netip.Addr{netip.MustParseAddr("198.51.100.7")},
		IPv6:       []netip.Addr{netip.MustParseAddr("2001:db8::7")},
		Submission: 587, Submissions: 465, IMAP: 143, IMAPS: 993, HTTPS: 443,
		Domains: []Domain{
			{Name: "example.net", DKIM: []DKIMKey{{Selector: "mail", PrivatePEM: testKey(t)}}},
			{Name: "family.example", DKIM: []DKIMKey{{Selector: "mail", PrivatePEM: testKey(t)}}},
		},
		Serial: 42,
	}
}

func TestBuild(t *testing.T) {
	s, err := Build(testInput(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Zones, " "); got != "example.net family.example" {
		t.Errorf("zones %q", got)
	}
	want := map[string]string{
		"example.net MX":                      "10 box.example.net.",
		"example.net TXT":                     `"v=spf1 mx -all"`,
		"box.example.net A":                   "198.51.100.7",
		"box.example.net AAAA":                "2001:db8::7",
		"box.example.net TXT":                 `"v=spf1 ip4:198.51.100.7 ip6:2001:db8::7 -all"`,
		"_dmarc.example.net TXT":              `"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.net"`,
		"_submission._tcp.family.example SRV": "0 1 587 box.example.net.",
		"_pop3s._tcp.family.example SRV":      "0 0 0 .",
		"_autodiscover._tcp.example.net SRV":  "0 1 443 box.example.net.",
		"_carddavs._tcp.example.net SRV":      "0 1 443 box.example.net.",
		"_caldavs._tcp.family.example TXT":    `"path=/dav/"`,
		"mta-sts.example.net A":               "198.51.100.7",
		"_smtp._tls.example.net TXT":          `"v=TLSRPTv1; rua=mailto:postmaster@example.net"`,
		"example.net CAA":                     `0 issue "letsencrypt.org"`,
		"family.example NS":                   "box.example.net.",
		"family.example SOA":                  "box.example.net. hostmaster.family.example. 42 3600 900 1209600 300",
		"autoconfig.family.example AAAA":      "2001:db8::7",
	}
	for k, v := range want {
		name, typ, _ := strings.Cut(k, " ")
		rs := s.Find(name, typ)
		if len(rs) != 1 || rs[0].Value != v {
			t.Errorf("%s = %+v, want %q", k, rs, v)
		}
	}
	// The box's hostname sits in the zone of example.net.
	if rs := s.Find("box.example.net", "A"); rs[0].Zone != "example.net" || rs[0].Relative() != "box" {
		t.Errorf("hostname record %+v", rs[0])
	}
	// DKIM: 2048-bit keys need two strings; every record parses.
	dk := s.Find("mail._domainkey.example.net", "TXT")
	if len(dk) != 1 || dk[0].Relative() != "mail._domainkey" {
		t.Fatalf("DKIM %+v", dk)
	}
	rr, err := dk[0].RR()
	if err != nil || len(rr.(*dns.TXT).Txt) < 2 {
		t.Errorf("DKIM TXT strings: %v %v", rr, err)
	}
	want2, _ := mailauth.DKIMRecord(testKey(t))
	if dk[0].Text() != want2 {
		t.Errorf("DKIM text %q", dk[0].Text())
	}
	for _, r := range s.Records {
		if _, err := r.RR(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

func TestHostnameOutsideHostedDomains(t *testing.T) {
	in := testInput(t)
	in.Hostname = "mx.provider.example"
	in.IPv4, in.IPv6 = nil, nil
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.ZoneOf("mx.provider.example") != "mx.provider.example" {
		t.Errorf("zones %v", s.Zones)
	}
	if rs := s.Find("mx.provider.example", "TXT"); len(rs) != 1 || rs[0].Text() != "v=spf1 a -all" {
		t.Errorf("hostname SPF %+v", rs)
	}
	if rs := s.Find("autoconfig.example.net", "CNAME"); len(rs) != 1 || rs[0].Value != "mx.provider.example." {
		t.Errorf("autoconfig without addresses %+v", rs)
	}
}

func TestCustomRecords(t *testing.T) {
	zones := []string{"example.net", "family.example"}
	good := []struct{ name, typ, value, want string }{
		{"www.example.net", "a", "192.0.2.1", "192.0.2.1"},
		{"WWW.Example.NET.", "AAAA", "2001:DB8::1", "2001:db8::1"},
		{"example.net", "TXT", "google-site-verification=abc123", `"google-site-verification=abc123"`},
		{"example.net", "TXT", `"v=spf1 " "mx -all"`, `"v=spf1 " "mx -all"`},
		{"blog.example.net", "CNAME", "example.github.io", "example.github.io."},
		{"example.net", "MX", "20 backup.example.org.", "20 backup.example.org."},
		{"_sip._tcp.example.net", "SRV", "0 5 5060 sip.example.net.", "0 5 5060 sip.example.net."},
		{"example.net", "CAA", `0 issue "sectigo.com"`, `0 issue "sectigo.com"`},
		{"sub.family.example", "NS", "ns1.other.example.", "ns1.other.example."},
		{"_25._tcp.box.example.net", "TLSA", "3 1 1 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "3 1 1 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"},
	}
	for _, c := range good {
		r, err := ParseCustom(zones, c.name, c.typ, c.value)
		if err != nil || r.Value != c.want {
			t.Errorf("%s %s %q: %+v, %v", c.name, c.typ, c.value, r, err)
		}
	}
	long := strings.Repeat("x", 300)
	if r, err := ParseCustom(zones, "example.net", "TXT", long); err != nil || strings.Count(r.Value, `"`) != 4 {
		t.Errorf("long TXT: %q, %v", r.Value, err)
	}
	bad := []struct{ name, typ, value, want string }{
		{"www.example.org", "A", "192.0.2.1", "not inside a hosted domain"},
		{"www", "A", "192.0.2.1", "not inside a hosted domain"},
		{"www.example.net", "A", "192.0.2.300", "not a valid A value"},
		{"www.example.net", "A", "2001:db8::1", "not a valid A value"},
		{"www.example.net", "AAAA", "192.0.2.1", "not a valid AAAA value"},
		{"www.example.net", "SOA", "x", "not supported"},
		{"www.example.net", "HINFO", "x y", "not supported"},
		{"*.example.net", "A", "192.0.2.1", "wildcard"},
		{"example.net", "CNAME", "x.example.org.", "apex"},
		{"example.net", "NS", "ns.example.org.", "apex"},
		{"www.example.net", "A", "", "empty"},
		{"www.example.net", "A", "192.0.2.1\n1.2.3.4", "control character"},
		{"www.example.net", "A", "192.0.2.1 ; comment", "';'"},
		{"example.net", "TXT", `"unclosed`, "unclosed quote"},
		{"example.net", "TXT", `"a" b`, "quoted"},
		{"example.net", "MX", "mx.example.org.", "not a valid MX value"},
		{"example.net", "CAA", "issue letsencrypt.org", "not a valid CAA value"},
		{"bad name.example.net", "A", "192.0.2.1", "not a valid DNS name"},
		{"", "A", "192.0.2.1", "empty"},
	}
	for _, c := range bad {
		_, err := ParseCustom(zones, c.name, c.typ, c.value)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %s %q: error %v, want %q", c.name, c.typ, c.value, err, c.want)
		}
	}

	// Custom records replace generated ones of the same name and type.
	in := testInput(t)
	for _, c := range []Custom{
		{"example.net", "CAA", `0 issue "sectigo.com"`},
		{"autoconfig.example.net", "CNAME", "cfg.example.org."},
		{"www.example.net", "A", "192.0.2.1"},
		{"old.removed.example", "A", "192.0.2.9"},
	} {
		in.Custom = append(in.Custom, c)
	}
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if rs := s.Find("example.net", "CAA"); len(rs) != 1 || !rs[0].Custom {
		t.Errorf("CAA %+v", rs)
	}
	if rs := s.Find("autoconfig.example.net", "A"); len(rs) != 0 {
		t.Errorf("generated A beside a custom CNAME: %+v", rs)
	}
	if rs := s.Find("www.example.net", "A"); len(rs) != 1 || rs[0].Relative() != "www" {
		t.Errorf("www %+v", rs)
	}
	if rs := s.Find("old.removed.example", "A"); len(rs) != 0 {
		t.Errorf("custom record of a removed domain served: %+v", rs)
	}
}

func FuzzParseCustom(f *testing.F) {
	f.Add("www.example.net", "A", "192.0.2.1")
	f.Add("example.net", "TXT", `"v=spf1 " "mx -all"`)
	f.Add("example.net", "TXT", `plain text with "quotes" and \ backslash`)
	f.Add("_sip._tcp.example.net", "SRV", "0 5 5060 sip.example.net.")
	f.Add("example.net", "CAA", `0 issue "letsencrypt.org"`)
	f.Add("x.example.net", "TLSA", "3 1 1 00ff")
	f.Add("x.example.net", "MX", "10 mx.example.net.")
	zones := []string{"example.net"}
	f.Fuzz(func(t *testing.T, name, typ, value string) {
		c, err := ParseCustom(zones, name, typ, value)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		// The normalised record parses to itself and builds into a set.
		c2, err := ParseCustom(zones, c.Name, c.Type, c.Value)
		if err != nil || c2 != c {
			t.Fatalf("%+v re-parses as %+v, %v", c, c2, err)
		}
		s, err := Build(Input{Hostname: "box.example.net", Domains: []Domain{{Name: "example.net"}}, Custom: []Custom{c}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Records {
			if _, err := r.RR(); err != nil {
				t.Fatalf("%+v: %v", r, err)
			}
		}
	})
}

func TestFormats(t *testing.T) {
	s, err := Build(testInput(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	s.WriteTable(&b, []string{"example.net"})
	out := b.String()
	for _, want := range []string{"mail._domainkey     TXT   v=DKIM1; k=rsa; p=", "_dmarc ", "@ ", "box ", "# DKIM public key", "NS box.example.net"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SOA") {
		t.Errorf("table shows SOA:\n%s", out)
	}
	b.Reset()
	s.WriteZone(&b, s.Zones)
	zp := dns.NewZoneParser(strings.NewReader(b.String()), "", "")
	n := 0
	for _, ok := zp.Next(); ok; _, ok = zp.Next() {
		n++
	}
	if zp.Err() != nil || n != len(s.Records) {
		t.Errorf("zone file: %d of %d records, %v\n%s", n, len(s.Records), zp.Err(), b.String())
	}
	b.Reset()
	s.WriteJSON(&b, []string{"family.example"})
	var j struct {
		Records []struct{ Name, Relative, Type, Text string }
	}
	if err := json.Unmarshal(b.Bytes(), &j); err != nil || len(j.Records) == 0 || j.Records[0].Name != "family.example" {
		t.Errorf("json: %v %s", err, b.String())
	}
}

// world is the DNS of the checks' tests: the box is box.example.net at
// 198.51.100.7 and hosts example.net.
func world(t *testing.T, s *Set, extra ...string) *resolver.Fake {
	dk := s.Find("mail._domainkey.example.net", "TXT")[0]
	base := []string{
		"box.example.net. A 198.51.100.7",
		`box.example.net. TXT "v=spf1 ip4:198.51.100.7 -all"`,
		"7.100.51.198.in-addr.arpa. PTR box.example.net.",
		"mail._domainkey.example.net. TXT " + dk.Value,
		`_dmarc.example.net. TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.net"`,
		"example.net. NS box.example.net.",
		"example.net. MX 10 box.example.net.",
		`example.net. TXT "v=spf1 mx -all"`,
	}
	f := resolver.NewFake()
	drop := map[string]bool{}
	for _, e := range extra {
		if k, ok := strings.CutPrefix(e, "-"); ok {
			drop[k] = true
		}
	}
	for i, r := range append(base, extra...) {
		if strings.HasPrefix(r, "-") {
			continue
		}
		f2 := strings.Fields(r)
		if i < len(base) && drop[f2[0]+" "+f2[1]] {
			continue
		}
		if err := f.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func results(t *testing.T, f resolver.Resolver, s *Set, in Input, dnsbl ...string) map[string]Result {
	out := map[string]Result{}
	for _, r := range Check(context.Background(), f, s, in, CheckOptions{Domains: []string{"example.net"}, Host: true, DNSBL: dnsbl}) {
		k := r.Subject + " " + r.Check
		if _, dup := out[k]; dup && r.Level == OK {
			continue
		}
		out[k] = r
	}
	return out
}

func TestChecks(t *testing.T) {
	in := testInput(t)
	in.IPv6 = nil
	in.Domains = in.Domains[:1]
	s, _ := Build(in)
	want := func(res map[string]Result, key string, l Level, found string) {
		t.Helper()
		r, ok := res[key]
		if !ok || r.Level != l || !strings.Contains(r.Found, found) {
			t.Errorf("%s: %+v, want %s with %q", key, r, l, found)
		}
		if l != OK && r.Fix == "" {
			t.Errorf("%s: no fix given: %+v", key, r)
		}
	}
	// Everything in place.
	res := results(t, world(t, s, "7.100.51.198.zen.example. A 127.0.0.2"), s, in, "dnsbl.example")
	for k, r := range res {
		if r.Level != OK {
			t.Errorf("all good: %s: %+v", k, r)
		}
	}
	want(res, "example.net switch-over", OK, "hardened")
	want(res, "example.net NS", OK, "the box is the name server")

	// Mid-migration: MX at the old provider, SPF relaxed.
	res = results(t, world(t, s, "-example.net. MX", "-example.net. TXT", "-example.net. NS",
		"example.net. MX 10 mx0.123-reg.co.uk.", "example.net. MX 20 mx1.123-reg.co.uk.",
		`example.net. TXT "v=spf1 include:spf.123-reg.co.uk include:box.example.net ~all"`,
		`spf.123-reg.co.uk. TXT "v=spf1 ip4:203.0.113.0/24 -all"`,
		"example.net. NS ns1.registrar.example."), s, in)
	want(res, "example.net MX", Warn, "123-reg")
	want(res, "example.net SPF", OK, "authorises 198.51.100.7")
	want(res, "example.net switch-over", Warn, "SPF relaxed")
	want(res, "example.net NS", OK, "hosted elsewhere")

	// Mid-migration with the seed's relaxed record: its "mx" will mean
	// the box once MX moves, so the next step is not the MX.
	res = results(t, world(t, s, "-example.net. MX", "-example.net. TXT",
		"example.net. MX 10 mx0.123-reg.co.uk.", "mx0.123-reg.co.uk. A 203.0.113.10",
		`example.net. TXT "v=spf1 mx include:box.example.net -all"`), s, in)
	want(res, "example.net switch-over", Warn, `through "mx", which means the box once MX points there`)
	if fix := res["example.net switch-over"].Fix; !strings.Contains(fix, "before pointing MX") || !strings.Contains(fix, "spf include") {
		t.Errorf("switch-over fix with mx before the switch: %q", fix)
	}
	if fix := res["example.net SPF"].Fix; fix != "" {
		t.Errorf("SPF fix %q for a record that authorises the box", fix)
	}

	// MX switched, SPF names only the box, a user has not switched: not
	// hardened; with everyone switched it is.
	f := world(t, s)
	for ns, l := range map[string]Level{"a@example.net": Warn, "": OK} {
		notSwitched := map[string][]string{"example.net": {}}
		if ns != "" {
			notSwitched["example.net"] = []string{ns}
		}
		for _, r := range Check(context.Background(), f, s, in, CheckOptions{Domains: []string{"example.net"}, NotSwitched: notSwitched}) {
			if r.Check == "switch-over" && (r.Level != l || ns != "" && (!strings.Contains(r.Found, ns) || strings.Contains(r.Found, "hardened"))) {
				t.Errorf("not switched %q: %+v", ns, r)
			}
		}
	}

	// MX switched, SPF still relaxed.
	res = results(t, world(t, s, "-example.net. TXT", `example.net. TXT "v=spf1 mx include:_spf.google.com ~all"`), s, in)
	want(res, "example.net switch-over", Warn, "MX switched")

	// Failures.
	res = results(t, world(t, s, "-example.net. TXT", "-mail._domainkey.example.net. TXT", "-_dmarc.example.net. TXT",
		"-7.100.51.198.in-addr.arpa. PTR", "-box.example.net. A", "-box.example.net. TXT", "-example.net. MX",
		`example.net. TXT "v=spf1 include:_spf.google.com ~all"`, `_spf.google.com. TXT "v=spf1 ip4:209.85.128.0/17 ~all"`,
		`mail._domainkey.example.net. TXT "v=DKIM1; k=rsa; p=AAAA"`, `_dmarc.example.net. TXT "v=DMARC1; p=maybe"`,
		"box.example.net. A 192.0.2.1", "7.100.51.198.in-addr.arpa. PTR vps-123.hoster.example.",
		"7.100.51.198.zen.example. A 127.0.0.2", `7.100.51.198.zen.example. TXT "listed for spam"`), s, in, "zen.example")
	want(res, "example.net SPF", Fail, "does not authorise")
	want(res, "example.net DKIM", Fail, "different key")
	want(res, "example.net DMARC", Fail, "no valid p=")
	want(res, "example.net MX", Fail, "no MX")
	want(res, "example.net switch-over", Warn, "step 1")
	want(res, "box.example.net address", Fail, "192.0.2.1")
	want(res, "box.example.net reverse DNS", Fail, "vps-123")
	want(res, "box.example.net SPF", Fail, "no SPF record")
	want(res, "box.example.net blocklist zen.example", Fail, "listed for spam")
	if !strings.Contains(res["example.net SPF"].Fix, "include:box.example.net") {
		t.Errorf("SPF fix %q", res["example.net SPF"].Fix)
	}

	// Two SPF records, DMARC p=none, blocklist refusing the resolver.
	res = results(t, world(t, s, `example.net. TXT "v=spf1 -all"`, "-_dmarc.example.net. TXT", `_dmarc.example.net. TXT "v=DMARC1; p=none"`,
		"7.100.51.198.zen.example. A 127.255.255.254"), s, in, "zen.example")
	want(res, "example.net SPF", Fail, "2 SPF records")
	want(res, "example.net DMARC", Warn, "policy none")
	want(res, "box.example.net blocklist zen.example", Warn, "could not check")

	// A failing resolver never gives ok.
	f = world(t, s)
	for _, q := range []struct {
		name string
		t    uint16
	}{{"example.net", dns.TypeMX}, {"example.net", dns.TypeTXT}, {"example.net", dns.TypeNS}, {"_dmarc.example.net", dns.TypeTXT},
		{"mail._domainkey.example.net", dns.TypeTXT}, {"box.example.net", dns.TypeA}, {"box.example.net", dns.TypeAAAA},
		{"7.100.51.198.in-addr.arpa", dns.TypePTR}, {"box.example.net", dns.TypeTXT}, {"7.100.51.198.zen.example", dns.TypeA}} {
		f.Fail(q.name, q.t)
	}
	res = results(t, f, s, in, "zen.example")
	for k, r := range res {
		if r.Level != Warn || !strings.Contains(r.Found, "could not check") {
			t.Errorf("failing resolver: %s: %+v", k, r)
		}
	}

	// No public address configured.
	in2 := in
	in2.IPv4 = nil
	res = results(t, world(t, s), s, in2)
	want(res, "box.example.net address", Warn, "no public address")
	want(res, "example.net SPF", Warn, "cannot tell")
}

// Senders re-fetch an MTA-STS policy only when its id changes: switching
// from testing to enforce must change it.
func TestTheMTASTSIDChangesWithThePolicyMode(t *testing.T) {
	id := func(enforce bool) string {
		set, err := Build(Input{Hostname: "box.example.net", Domains: []Domain{{Name: "example.net"}}, MTASTSEnforce: enforce})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range set.Records {
			if strings.HasPrefix(r.Name, "_mta-sts.") && r.Type == "TXT" {
				return r.Value
			}
		}
		t.Fatal("no _mta-sts record")
		return ""
	}
	if a, b := id(false), id(true); a == b {
		t.Errorf("testing and enforce share the id %s", a)
	}
}

// failingWriter is a full disk under "boxmail dns records > file".
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

func TestFormatsReportAFailedWrite(t *testing.T) {
	s, err := Build(testInput(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTable(failingWriter{}, []string{"example.net"}); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("WriteTable to a full disk: %v, want ENOSPC", err)
	}
	if err := s.WriteZone(failingWriter{}, s.Zones); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("WriteZone to a full disk: %v, want ENOSPC", err)
	}
}
