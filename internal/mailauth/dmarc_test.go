package mailauth

import (
	"context"
	"errors"
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
		"Authentication-Results : \"mail.example.test\" ; arc=pass\r\n" +
		"AUTHENTICATION-RESULTS:\r\n mail.example.test 1\r\n\t; dkim=pass\r\n" +
		"X-Last: kept\r\n" +
		"\r\n" +
		"Authentication-Results: mail.example.test; in the body\r\n"
	buf := []byte(msg)
	out := StripAuthResults(buf, "mail.example.test")
	if &out[len(out)-1] != &buf[len(buf)-1] {
		t.Error("the result is not the tail of the message: the body was copied")
	}
	got := string(out)
	want := "Authentication-Results: mx.other.example; spf=fail\r\n" +
		"Authentication-Results: mail.example.test.evil; none\r\n" +
		"Subject: Authentication-Results: mail.example.test\r\n" +
		"X-Last: kept\r\n" +
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
		"host; none": "host", " (c (nested) \\) x) host.;x": "host", `"quoted" x`: "quoted", `"mail.example.test"; x`: "mail.example.test", `"a\"b"`: `a"b`, `"open`: "open", "(unterminated": "", "": "",
	} {
		if got := authservID(in); got != want {
			t.Errorf("authservID(%q) = %q, want %q", in, got, want)
		}
	}
}

// The author domain of a message, and whether its From claims the box's
// domain example.test: every malformed or doubled From has no author
// domain (the box refuses it), and a mention of example.test after an
// "@" anywhere in a From field counts as claiming it.
func TestParseAuthorAndOwnDomainMentions(t *testing.T) {
	for _, c := range []struct {
		header, domain string // domain "": no single author domain
		mentions       bool   // of example.test
	}{
		{"From: me@example.test\r\n", "example.test", true},
		{"From: CEO <me@EXAMPLE.TEST>\r\n", "example.test", true},
		{"From: CEO <me@example.test.>\r\n", "", true},
		{"From: ceo@mail.example.test\r\n", "mail.example.test", true},
		{"From: ceo@a.b.Example.Test\r\n", "a.b.example.test", true},
		{"From: me@example.test\r\nFrom: a@evil.example\r\n", "", true},
		{"From: a@evil.example\r\nfrom: a@evil.example\r\n", "", false},
		{"From: a@evil.example\r\nFROM : me@example.test\r\n", "", true},
		{"Subject: no From\r\n", "", false},
		{"From: \r\n", "", false},
		{"From: me@example.test (CEO\r\n", "", true},
		{"From: \"CEO\" <me@example.test> x\r\n", "", true},
		{"From: CEO <me@example.test>;\r\n", "", true},
		{"From: CEO <me@example.test\r\n", "", true},
		{"From: CEO <me@ example.test\r\n", "", true},
		{"From: <<<\r\n", "", false},
		{"From: undisclosed-recipients:;\r\n", "", false},
		{"From: Board: me@example.test, kid@example.test;\r\n", "example.test", true},
		{"From: Board: me@example.test, a@evil.example;\r\n", "", true},
		{"From: a@evil.example, me@example.test\r\n", "", true},
		{"From: a@evil.example, b@EVIL.example\r\n", "evil.example", false},
		{"From: \"me@example.test\" <a@evil.example>\r\n", "evil.example", true},
		{"From: =?utf-8?q?me=40example=2Etest?= <a@evil.example>\r\n", "evil.example", true},
		{"From: =?utf-8?b?bWVAZXhhbXBsZS50ZXN0?= <a@evil.example>\r\n", "evil.example", true},
		{"From: =?windows-1252?q?J=F6rg?= <a@evil.example>\r\n", "evil.example", false},
		{"From: a@evil.example (me@example.test)\r\n", "evil.example", true},
		{"From: Me\r\n\t<me@example.test>\r\n", "example.test", true},
		{"From: a@notexample.test\r\n", "notexample.test", false},
		{"From: a@evil-example.test\r\n", "evil-example.test", false},
		{"From: a@example.test.evil.example\r\n", "example.test.evil.example", false},
		{"From: \"www.example.test\" <a@evil.example>\r\n", "evil.example", false},
		{"From: a@[192.0.2.1]\r\n", "[192.0.2.1]", false},
		{"From: nodomain@\r\n", "", false},
	} {
		msg := []byte(c.header + "To: x@y.example\r\n\r\nFrom: in the body <me@example.test>\r\n")
		a := ParseAuthor(msg)
		if a.Domain != c.domain || (a.Err == nil) != (c.domain != "") {
			t.Errorf("%q: domain %q, error %v; want %q", c.header, a.Domain, a.Err, c.domain)
		}
		if a.Err != nil && !errors.Is(a.Err, ErrFromDomain) {
			t.Errorf("%q: error %v is not ErrFromDomain", c.header, a.Err)
		}
		if got := a.Mentions("example.test"); got != c.mentions {
			t.Errorf("%q: Mentions(example.test) = %v, want %v", c.header, got, c.mentions)
		}
		if d, err := FromDomain(msg); d != a.Domain || err != a.Err {
			t.Errorf("%q: FromDomain = %q, %v", c.header, d, err)
		}
	}
}
