package mailauth

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"boxmail/internal/resolver"
)

// The RFC 7208 test suite (openspf.org release 2014.04 with pyspf's
// later additions, as kept in pyspf's test/rfc7208-tests.yml) as data:
// every scenario and every test (201), each a subtest named by the
// suite's test name.
//
// testdata/rfc7208/rfc7208-tests.json holds the suite's cases in JSON,
// with each scenario's zone data as our resolver serves it, after the
// suite's own driver rules (the suite's header and pyspf's driver):
//   - "SPF" (type 99) entries are served as TXT records unless the name
//     has TXT entries of its own; RFC 7208 dropped type SPF, and
//     CheckSPF never asks for it. "TXT: NONE" means no TXT records.
//   - CNAME records are followed; a CNAME loop is a DNS error.
//   - "timeout": true stands for the suite's TIMEOUT entry: a query for
//     any type the name has no records of (listed before the TIMEOUT)
//     times out, which must give temperror.
//   - "DEFAULT" as the expected explanation means no exp= text
//     (SPFResult.Explanation is "").
//
// Where the suite accepts several results, any of them passes.
// spfSuiteExceptions lists the cases RFC 7208 leaves open where our
// answer differs from the suite's, with why.

type spfSuiteScenario struct {
	Description string                  `json:"description"`
	Tests       []spfSuiteCase          `json:"tests"`
	Zone        map[string]spfSuiteName `json:"zone"`
}

type spfSuiteCase struct {
	Name        string   `json:"name"`
	Helo        string   `json:"helo"`
	Host        string   `json:"host"`
	MailFrom    string   `json:"mailfrom"`
	Result      []string `json:"result"`
	Explanation *string  `json:"explanation"`
}

type spfSuiteName struct {
	// Records are one-key objects: {"A": "1.2.3.4"}, {"TXT": "..."} or
	// {"TXT": ["piece", "piece"]}, {"MX": [0, "host"]}, {"PTR": "name"},
	// {"CNAME": "name"}.
	Records []map[string]json.RawMessage `json:"records"`
	Timeout bool                         `json:"timeout"`
}

// spfSuiteExceptions names the cases where we differ from the suite on
// a point RFC 7208 leaves open, with why. Each is still checked, as
// said there. Every result (pass, fail, ...) is the suite's; the one
// exception is in the text of an explanation.
var spfSuiteExceptions = map[string]string{
	// RFC 7208 7.3 says only that %{i} of an IPv6 address is "dot-format"
	// nibbles; its example in 7.4 writes them in lower case
	// ("1.0.b.c.0.0...8.b.d.0.1.0.0.2.ip6._spf.example.com"), which we
	// follow, while the suite expects upper case (pyspf's output). DNS
	// does not care; only exp= text shows the case. Compared without
	// case.
	"v-macro-ip6": "explanation compared case-insensitively: lower-case IPv6 nibbles as in RFC 7208 7.4",
}

// suiteDNS serves a scenario's zone data. It is its own fake rather
// than resolver.Fake because the suite has owner names that zone-file
// syntax cannot carry as they are queried ("foo:bar/baz.example.com",
// names with spaces) and TIMEOUT entries that fail every type at once.
type suiteDNS struct {
	rrs     map[string][]dns.RR // by lower-case FQDN
	timeout map[string]bool
}

func newSuiteDNS(t *testing.T, zone map[string]spfSuiteName) *suiteDNS {
	d := &suiteDNS{rrs: map[string][]dns.RR{}, timeout: map[string]bool{}}
	for name, n := range zone {
		owner := strings.ToLower(dns.Fqdn(name))
		d.timeout[owner] = n.Timeout
		d.rrs[owner] = []dns.RR{} // the name exists (NODATA, not NXDOMAIN)
		for _, rec := range n.Records {
			for typ, raw := range rec {
				rr, err := suiteRR(owner, typ, raw)
				if err != nil {
					t.Fatalf("zone %s %s %s: %v", name, typ, raw, err)
				}
				d.rrs[owner] = append(d.rrs[owner], rr)
			}
		}
	}
	return d
}

func suiteRR(owner, typ string, raw json.RawMessage) (dns.RR, error) {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: 300}
	}
	var s string
	switch typ {
	case "TXT":
		var parts []string
		if err := json.Unmarshal(raw, &s); err == nil {
			parts = []string{s}
		} else if err := json.Unmarshal(raw, &parts); err != nil {
			return nil, err
		}
		return &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: parts}, nil
	case "MX":
		var mx [2]any
		if err := json.Unmarshal(raw, &mx); err != nil {
			return nil, err
		}
		pref, _ := mx[0].(float64)
		host, _ := mx[1].(string)
		return &dns.MX{Hdr: hdr(dns.TypeMX), Preference: uint16(pref), Mx: dns.Fqdn(host)}, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	switch typ {
	case "A":
		return &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(s).To4()}, nil
	case "AAAA":
		return &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP(s)}, nil
	case "PTR":
		return &dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(s)}, nil
	case "CNAME":
		return &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(s)}, nil
	}
	return nil, errors.New("unknown record type")
}

func (d *suiteDNS) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	owner := strings.ToLower(dns.Fqdn(name))
	tname := dns.TypeToString[qtype]
	a := &resolver.Answer{}
	for range 8 {
		rrs, ok := d.rrs[owner]
		if !ok {
			return nil, &resolver.Error{Name: name, Type: tname, NotFound: true}
		}
		var cname string
		for _, rr := range rrs {
			switch h := rr.Header(); {
			case h.Rrtype == qtype:
				a.Records = append(a.Records, rr)
			case h.Rrtype == dns.TypeCNAME:
				cname = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		switch {
		case len(a.Records) > 0:
			return a, nil
		case d.timeout[owner]:
			return nil, &resolver.Error{Name: name, Type: tname, Temporary: true, Err: errors.New("timeout (test suite)")}
		case cname == "":
			return a, nil
		}
		owner = cname
	}
	return nil, &resolver.Error{Name: name, Type: tname, Temporary: true, Err: errors.New("CNAME loop (test suite)")}
}

func TestSPFRFC7208Suite(t *testing.T) {
	raw, err := os.ReadFile("testdata/rfc7208/rfc7208-tests.json")
	if err != nil {
		t.Fatal(err)
	}
	var suite []spfSuiteScenario
	if err := json.Unmarshal(raw, &suite); err != nil {
		t.Fatal(err)
	}
	total, passed := 0, 0
	for _, sc := range suite {
		r := newSuiteDNS(t, sc.Zone)
		t.Run(sc.Description, func(t *testing.T) {
			for _, c := range sc.Tests {
				total++
				if t.Run(c.Name, func(t *testing.T) { runSuiteCase(t, r, c) }) {
					passed++
				}
			}
		})
	}
	t.Logf("RFC 7208 suite: %d of %d cases pass", passed, total)
	if total != 201 {
		t.Errorf("the suite has 201 cases, the data %d", total)
	}
	// The limits and error paths the issue asks to be proven are these
	// cases of the suite; they must stay in the data.
	for _, name := range spfSuiteLimitCases {
		if !slices.ContainsFunc(suite, func(sc spfSuiteScenario) bool {
			return slices.ContainsFunc(sc.Tests, func(c spfSuiteCase) bool { return c.Name == name })
		}) {
			t.Errorf("case %s is missing from the data", name)
		}
	}
}

// spfSuiteLimitCases are the suite's cases for the DNS lookup limits
// (10 terms, 10 MX or PTR, 2 void lookups) and the temperror and
// permerror paths.
var spfSuiteLimitCases = []string{
	"mech-at-limit", "mech-over-limit", "include-at-limit", "include-over-limit",
	"redirect-loop", "include-loop", "mx-limit", "ptr-limit", "false-a-limit",
	"void-at-limit", "void-over-limit", "exp-void",
	"txttimeout", "nospftxttimeout", "alltimeout", "include-temperror", "exists-dnserr",
	"ptr-cname-loop",
	"include-permerror", "include-none", "redirect-none", "multitxt1", "detect-errors-anywhere",
}

func runSuiteCase(t *testing.T, r resolver.Resolver, c spfSuiteCase) {
	ip, err := netip.ParseAddr(c.Host)
	if err != nil {
		t.Fatalf("host %q: %v", c.Host, err)
	}
	res, err := CheckSPF(context.Background(), r, ip, c.Helo, c.MailFrom)
	if !slices.Contains(c.Result, string(res.Status)) {
		t.Fatalf("result %s (%v), want %s; %+v", res.Status, err, strings.Join(c.Result, " or "), res)
	}
	if len(c.Result) > 1 {
		t.Logf("the suite accepts %s; we give %s", strings.Join(c.Result, " or "), res.Status)
	}
	if (err != nil) != (res.Status == SPFTempError || res.Status == SPFPermError) {
		t.Errorf("error %v with %s", err, res.Status)
	}
	if c.Explanation == nil || res.Status != SPFFail {
		return
	}
	want := *c.Explanation
	if want == "DEFAULT" {
		want = ""
	}
	if why, ok := spfSuiteExceptions[c.Name]; ok {
		t.Logf("documented exception: %s", why)
		if !strings.EqualFold(res.Explanation, want) {
			t.Errorf("explanation %q, want %q in any case", res.Explanation, want)
		}
		return
	}
	if res.Explanation != want {
		t.Errorf("explanation %q, want %q", res.Explanation, want)
	}
}
