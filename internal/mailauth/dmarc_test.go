package mailauth

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"boxmail/internal/resolver"
)

func TestCheckDMARC(t *testing.T) {
	fake := resolver.NewFake(
		`_dmarc.reject.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.quarantine.example. 300 IN TXT "v=DMARC1; p=quarantine; sp=reject"`,
		`_dmarc.none.example. 300 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.strict.example. 300 IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"`,
		`_dmarc.junk.example. 300 IN TXT "v=DMARC1; p=maybe"`,
		`_dmarc.junk2.example. 300 IN TXT "v=DMARC1; garbage without equals"`,
		`_dmarc.noversion.example. 300 IN TXT "p=reject"`,
		`_dmarc.pct0.example. 300 IN TXT "v=DMARC1; p=reject; pct=0"`,
		`_dmarc.servfail.example. 300 IN A 192.0.2.1`,
	)
	fake.Fail("_dmarc.servfail.example", dns.TypeTXT)
	pass := func(d string) []DKIMResult { return []DKIMResult{{Result: "pass", Domain: d}} }
	for _, c := range []struct {
		name   string
		in     DMARCInput
		result string
		policy string
	}{
		{"no From domain", DMARCInput{}, "permerror", ""},
		{"no record", DMARCInput{FromDomain: "nothing.example", SPF: "fail", SPFDomain: "nothing.example"}, "none", ""},
		{"DKIM aligned", DMARCInput{FromDomain: "reject.example", SPF: "fail", SPFDomain: "other.example", DKIM: pass("reject.example")}, "pass", ""},
		{"DKIM relaxed: subdomain", DMARCInput{FromDomain: "reject.example", DKIM: pass("mail.reject.example")}, "pass", ""},
		{"SPF aligned", DMARCInput{FromDomain: "reject.example", SPF: "pass", SPFDomain: "bounces.reject.example"}, "pass", ""},
		{"DKIM pass unaligned", DMARCInput{FromDomain: "reject.example", SPF: "pass", SPFDomain: "other.example", DKIM: pass("other.example")}, "fail", "reject"},
		{"DKIM fail aligned", DMARCInput{FromDomain: "reject.example", DKIM: []DKIMResult{{Result: "fail", Domain: "reject.example"}}}, "fail", "reject"},
		{"quarantine", DMARCInput{FromDomain: "quarantine.example", SPF: "softfail", SPFDomain: "quarantine.example"}, "fail", "quarantine"},
		{"subdomain uses sp", DMARCInput{FromDomain: "a.quarantine.example", SPF: "fail", SPFDomain: "a.quarantine.example"}, "fail", "reject"},
		{"none", DMARCInput{FromDomain: "none.example", SPF: "fail", SPFDomain: "none.example"}, "fail", "none"},
		{"strict DKIM", DMARCInput{FromDomain: "strict.example", DKIM: pass("mail.strict.example")}, "fail", "reject"},
		{"strict SPF", DMARCInput{FromDomain: "strict.example", SPF: "pass", SPFDomain: "strict.example"}, "pass", ""},
		{"SPF temperror", DMARCInput{FromDomain: "reject.example", SPF: "temperror", SPFDomain: "reject.example"}, "temperror", ""},
		{"DKIM temperror", DMARCInput{FromDomain: "reject.example", DKIM: []DKIMResult{{Result: "temperror", Domain: "reject.example"}}}, "temperror", ""},
		{"policy SERVFAIL", DMARCInput{FromDomain: "servfail.example", SPF: "fail", SPFDomain: "servfail.example"}, "temperror", ""},
		{"junk policy", DMARCInput{FromDomain: "junk.example", SPF: "fail", SPFDomain: "junk.example"}, "permerror", ""},
		{"junk params", DMARCInput{FromDomain: "junk2.example", SPF: "fail", SPFDomain: "junk2.example"}, "permerror", ""},
		{"no v=", DMARCInput{FromDomain: "noversion.example", SPF: "fail", SPFDomain: "noversion.example"}, "none", ""},
		{"pct=0 downgrades", DMARCInput{FromDomain: "pct0.example", SPF: "fail", SPFDomain: "pct0.example"}, "fail", "quarantine"},
		{"own domain without record", DMARCInput{FromDomain: "nothing.example", SPF: "fail", SPFDomain: "nothing.example", OwnDomain: true}, "fail", "reject"},
		{"own domain with p=none", DMARCInput{FromDomain: "none.example", OwnDomain: true}, "fail", "reject"},
		{"own domain with junk", DMARCInput{FromDomain: "junk.example", OwnDomain: true}, "fail", "reject"},
		{"own domain passing", DMARCInput{FromDomain: "nothing.example", DKIM: pass("nothing.example"), OwnDomain: true}, "pass", ""},
		{"own domain SERVFAIL", DMARCInput{FromDomain: "servfail.example", OwnDomain: true}, "temperror", ""},
	} {
		got := CheckDMARC(context.Background(), fake, c.in)
		if got.Result != c.result || got.Policy != c.policy {
			t.Errorf("%s: got %+v, want %s/%s", c.name, got, c.result, c.policy)
		}
	}
}

func TestOrgDomain(t *testing.T) {
	for in, want := range map[string]string{
		"mail.example.co.uk": "example.co.uk", "Example.COM.": "example.com", "a.b.example.test": "example.test", "localhost": "localhost",
	} {
		if got := OrgDomain(in); got != want {
			t.Errorf("OrgDomain(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestFromDomain(t *testing.T) {
	for msg, want := range map[string]string{
		"From: Alice <Alice@Example.ORG>\r\n\r\n":             "example.org",
		"From: a@example.org, b@example.org\r\n\r\n":          "example.org",
		"From: a@example.org, b@other.example\r\n\r\n":        "",
		"From: a@example.org\r\nFrom: a@example.org\r\n\r\n":  "",
		"Subject: no from\r\n\r\n":                            "",
		"From: not an address\r\n\r\n":                        "",
		"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\n\r\n": "example.org",
	} {
		got, err := FromDomain([]byte(msg))
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q: %q, %v", msg, got, err)
		}
	}
}

func TestAuthResultsHeader(t *testing.T) {
	ar := AuthResults{SPF: "pass", SPFFrom: "a@example.org",
		DKIM:  []DKIMResult{{Result: "fail", Domain: "example.org", Selector: "mail", B: "abcdef", Reason: "body hash did not verify"}},
		DMARC: &DMARCResult{Result: "fail", Domain: "example.org\r\nX-Evil: 1", Reason: "no aligned SPF or DKIM pass"}}
	h := ar.Header("mail.example.test")
	if !strings.HasPrefix(h, "Authentication-Results: mail.example.test;\r\n\tspf=pass smtp.mailfrom=a@example.org;\r\n\tdkim=fail reason=\"body hash did not verify\" header.b=abcdef header.d=example.org header.s=mail;\r\n\tdmarc=fail") {
		t.Errorf("header:\n%s", h)
	}
	if strings.Count(h, "\r\n") != 4 || strings.Contains(h, "\r\nX-Evil") {
		t.Errorf("injection:\n%q", h)
	}
	if h := (AuthResults{AuthUser: "me@example.test"}).Header("mail.example.test"); h != "Authentication-Results: mail.example.test;\r\n\tauth=pass smtp.auth=me@example.test\r\n" {
		t.Errorf("auth: %q", h)
	}
	if h := (AuthResults{Comment: "trusted network"}).Header("h.example"); h != "Authentication-Results: h.example; (trusted network) none\r\n" {
		t.Errorf("none: %q", h)
	}
	if h := (AuthResults{SPF: "none"}).Header("h"); !strings.Contains(h, "dkim=none") {
		t.Errorf("no signatures: %q", h)
	}
}

func TestStripAuthResults(t *testing.T) {
	msg := "Authentication-Results: mail.example.test; dkim=pass\r\n" +
		"Authentication-Results: (forged) MAIL.example.test.;\r\n\tspf=pass\r\n" +
		"Authentication-Results: mx.other.example; spf=fail\r\n" +
		"Authentication-Results: mail.example.test.evil; none\r\n" +
		"Subject: Authentication-Results: mail.example.test\r\n" +
		"authentication-results:mail.example.test;none\r\n" +
		"\r\n" +
		"Authentication-Results: mail.example.test; in the body\r\n"
	got := string(StripAuthResults([]byte(msg), "mail.example.test"))
	want := "Authentication-Results: mx.other.example; spf=fail\r\n" +
		"Authentication-Results: mail.example.test.evil; none\r\n" +
		"Subject: Authentication-Results: mail.example.test\r\n" +
		"\r\n" +
		"Authentication-Results: mail.example.test; in the body\r\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	clean := []byte("Subject: x\r\n\r\nbody")
	if out := StripAuthResults(clean, "h"); &out[0] != &clean[0] {
		t.Error("copied a message with nothing to strip")
	}
	for in, want := range map[string]string{
		"host; none": "host", " (c (nested) \\) x) host.;x": "host", `"quoted" x`: `"quoted"`, "(unterminated": "", "": "",
	} {
		if got := authservID(in); got != want {
			t.Errorf("authservID(%q) = %q, want %q", in, got, want)
		}
	}
}
