package delivery

import (
	"boxmail/internal/reports"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

func TestMTASTSPolicyParsing(t *testing.T) {
	for _, c := range []struct {
		name, in string
		mode     string
		mx       []string
		maxAge   time.Duration
		err      string
	}{
		{"rfc example", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			"enforce", []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, 604800 * time.Second, ""},
		{"LF and spaces", "version:STSv1\nmode:   testing  \nmx: MX.Example.ORG.\nmax_age: 86400\n", "testing", []string{"mx.example.org"}, 86400 * time.Second, ""},
		{"none needs no mx", "version: STSv1\nmode: none\nmax_age: 0\n", "none", nil, 0, ""},
		{"unknown field ignored", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfoo: bar\n", "enforce", []string{"a.example"}, time.Second, ""},
		{"first mode wins", "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n", "testing", []string{"a.example"}, time.Second, ""},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 1\n", "", nil, 0, "no version"},
		{"bad version", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "", nil, 0, "want STSv1"},
		{"bad mode", "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "", nil, 0, "want enforce"},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", "", nil, 0, "without mx"},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", "", nil, 0, "no max_age"},
		{"max_age too big", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", "", nil, 0, "above"},
		{"max_age negative", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", "", nil, 0, "not a number"},
		{"bad mx", "version: STSv1\nmode: enforce\nmx: bad host\nmax_age: 1\n", "", nil, 0, "not a host name"},
		{"wildcard in the middle", "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", "", nil, 0, "not a host name"},
		{"not a field", "version: STSv1\nmode enforce\n", "", nil, 0, "not a field"},
		{"html error page", "<html><body>Not here</body></html>", "", nil, 0, "not a field"},
		{"too big", "version: STSv1\n" + strings.Repeat("x: y\n", 20000), "", nil, 0, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseSTSPolicy([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Mode != c.mode || p.MaxAge != c.maxAge || fmt.Sprint(p.MX) != fmt.Sprint(c.mx) {
				t.Errorf("got %+v", p)
			}
		})
	}
}

func FuzzMTASTSPolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Add([]byte("mode:testing\nmx:*.a.b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSTSPolicy(b)
		if err != nil {
			return
		}
		if p.Mode != "enforce" && p.Mode != "testing" && p.Mode != "none" {
			t.Fatalf("mode %q accepted", p.Mode)
		}
		if p.Mode != "none" && len(p.MX) == 0 {
			t.Fatal("policy without mx accepted")
		}
		if p.MaxAge < 0 || p.MaxAge > maxSTSMaxAge*time.Second {
			t.Fatalf("max_age %v accepted", p.MaxAge)
		}
		for _, m := range p.MX {
			p.matchMX(m) // must not panic
		}
	})
}

func TestMTASTSMXPatterns(t *testing.T) {
	p := &stsPolicy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "a.example.net": true,
		"example.net": false, "a.b.example.net": false, "other.example.com": false, "mail.example.com.evil": false,
	} {
		if got := p.matchMX(host); got != want {
			t.Errorf("matchMX(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestMTASTSRecordID(t *testing.T) {
	for _, c := range []struct {
		txts []string
		id   string
		ok   bool
	}{
		{[]string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z", true},
		{[]string{"v=spf1 -all", "v=STSv1;id=abc"}, "abc", true},
		{[]string{"v=STSv1; id=a", "v=STSv1; id=b"}, "", false},
		{[]string{"v=STSv1;"}, "", false},
		{[]string{"v=spf1 -all"}, "", false},
	} {
		id, err := stsRecordID(c.txts)
		if (err == nil) != c.ok || id != c.id {
			t.Errorf("stsRecordID(%q) = %q, %v", c.txts, id, err)
		}
	}
}

func tlsa(usage, sel, mt uint8, data string) *dns.TLSA {
	return &dns.TLSA{Usage: usage, Selector: sel, MatchingType: mt, Certificate: data}
}

func TestTheTLSPolicyDecision(t *testing.T) {
	enforce := &stsPolicy{Mode: "enforce", MX: []string{"*.example.org"}, Text: "x"}
	testing_ := &stsPolicy{Mode: "testing", MX: []string{"mx.example.org"}, Text: "x"}
	rec := []*dns.TLSA{tlsa(3, 1, 1, "00")}
	for _, c := range []struct {
		name            string
		host            string
		tlsa            []*dns.TLSA
		secure          bool
		sts             *stsPolicy
		mode            tlsMode
		require, verify bool
		refused         bool
	}{
		{"nothing: opportunistic", "mx.example.org", nil, false, nil, tlsOpportunistic, false, false, false},
		{"DANE wins over MTA-STS", "mx.example.org", rec, true, enforce, tlsDANE, true, true, false},
		{"TLSA without DNSSEC is ignored", "mx.example.org", rec, false, nil, tlsOpportunistic, false, false, false},
		{"TLSA without DNSSEC falls to MTA-STS", "mx.example.org", rec, false, enforce, tlsSTSEnforce, true, true, false},
		{"only unusable TLSA: TLS without verification", "mx.example.org", []*dns.TLSA{tlsa(1, 0, 1, "00")}, true, nil, tlsDANE, true, false, false},
		{"enforce, MX listed", "mx.example.org", nil, false, enforce, tlsSTSEnforce, true, true, false},
		{"enforce, MX not listed", "mx.evil.example", nil, false, enforce, tlsSTSEnforce, true, true, true},
		{"testing never requires", "other.example.org", nil, false, testing_, tlsSTSTesting, false, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := decideTLS("example.org", c.host, c.tlsa, c.secure, c.sts)
			if p.mode != c.mode || p.require != c.require || p.verify != c.verify || (p.err != nil) != c.refused {
				t.Errorf("got mode %d require %v verify %v err %v", p.mode, p.require, p.verify, p.err)
			}
		})
	}
}

func certOf(t *testing.T, names ...string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(testutil.Cert(t, names...).Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDANEMatchesTheRightCertificateOnly(t *testing.T) {
	leaf := certOf(t, "mx.example.org")
	other := certOf(t, "mx.example.org")
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	full := sha256.Sum256(leaf.Raw)
	now := time.Now()
	for _, c := range []struct {
		name string
		recs []*dns.TLSA
		host string
		ok   bool
	}{
		{"3 1 1", []*dns.TLSA{tlsa(3, 1, 1, hex.EncodeToString(spki[:]))}, "mx.example.org", true},
		{"3 0 1", []*dns.TLSA{tlsa(3, 0, 1, hex.EncodeToString(full[:]))}, "mx.example.org", true},
		{"3 0 0", []*dns.TLSA{tlsa(3, 0, 0, hex.EncodeToString(leaf.Raw))}, "mx.example.org", true},
		{"3 1 1 ignores the name", []*dns.TLSA{tlsa(3, 1, 1, hex.EncodeToString(spki[:]))}, "whatever.example", true},
		{"2 1 1 on a self-issued leaf checks the name", []*dns.TLSA{tlsa(2, 1, 1, hex.EncodeToString(spki[:]))}, "mx.example.org", true},
		{"2 1 1 with a wrong name", []*dns.TLSA{tlsa(2, 1, 1, hex.EncodeToString(spki[:]))}, "other.example", false},
		{"wrong hash", []*dns.TLSA{tlsa(3, 1, 1, strings.Repeat("00", 32))}, "mx.example.org", false},
		{"one of several matches", []*dns.TLSA{tlsa(3, 1, 1, strings.Repeat("00", 32)), tlsa(3, 0, 1, hex.EncodeToString(full[:]))}, "mx.example.org", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := verifyDANE([]*x509.Certificate{leaf}, usableTLSA(c.recs), c.host, now)
			if (err == nil) != c.ok {
				t.Errorf("verifyDANE = %v, want ok=%v", err, c.ok)
			}
		})
	}
	if err := verifyDANE([]*x509.Certificate{other}, []*dns.TLSA{tlsa(3, 1, 1, hex.EncodeToString(spki[:]))}, "mx.example.org", now); err == nil {
		t.Error("another key with the same name matched")
	}
}

func TestCertificateFailuresAreNamedForTheDSN(t *testing.T) {
	c := certOf(t, "other.example")
	roots := x509.NewCertPool()
	roots.AddCert(c)
	err := verifyPKIX([]*x509.Certificate{c}, "mx.example.org", roots)
	res, detail := describeCertError(err, "mx.example.org")
	if res != "certificate-host-mismatch" || detail != "mx.example.org offered a certificate for other.example" {
		t.Errorf("got %s: %s", res, detail)
	}
	err = verifyPKIX([]*x509.Certificate{c}, "other.example", x509.NewCertPool())
	if res, _ := describeCertError(err, "other.example"); res != "certificate-not-trusted" {
		t.Errorf("untrusted: got %s (%v)", res, err)
	}
}

// A DANE host whose certificate matches its (DNSSEC-signed) TLSA gets
// the mail; one that does not keeps it deferred and sees no message.
func TestDANEDeliversOnAMatchAndDefersOnAMismatch(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	leaf, err := x509.ParseCertificate(r.srv.TLSConfig.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	name := fmt.Sprintf("_%d._tcp.mx.friends.example.", portOf(r.addr))
	f := newQueueFixture(t, portOf(r.addr), "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1",
		name+" TLSA 3 1 1 "+strings.Repeat("ab", 32))
	f.res.Secure("friends.example")
	f.send(t, "me@example.net", "anna@friends.example")
	waitFor(t, "a deferral", func() bool { q := f.queue(t); return len(q) == 1 && q[0].Attempts > 0 })
	if q := f.queue(t); !strings.Contains(q[0].LastError, "DANE") || !strings.Contains(q[0].LastError, "TLSA") {
		t.Errorf("last error %q does not name DANE", q[0].LastError)
	}
	if len(r.messages()) != 0 {
		t.Fatal("delivered despite the TLSA mismatch")
	}
	res, err := f.st.TLSResults(context.Background(), "2000-01-01", "2999-01-01")
	if err != nil || len(res) == 0 || res[0].PolicyType != "tlsa" || res[0].Result != "validation-failure" {
		t.Errorf("TLS results %+v, %v", res, err)
	}
	if err := f.res.Add(name + " TLSA 3 1 1 " + hex.EncodeToString(spki[:])); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Minute)
	waitFor(t, "delivery", func() bool { return len(r.messages()) == 1 })
}

func TestTLSReportAggregatesADayPerPolicy(t *testing.T) {
	rows := []store.TLSResult{
		{Day: "2026-12-05", Domain: "example.org", PolicyType: "sts", Policy: "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 86400", MXHost: "mx.example.org", Result: "success", Count: 7},
		{Day: "2026-12-05", Domain: "example.org", PolicyType: "sts", Policy: "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 86400", MXHost: "mx.example.org", Result: "certificate-host-mismatch", Detail: "mx.example.org offered a certificate for other.example", Count: 2},
		{Day: "2026-12-05", Domain: "example.org", PolicyType: "no-policy-found", MXHost: "mx2.example.org", Result: "success", Count: 1},
	}
	r, err := buildTLSReport("mail.example.net", "example.org", "2026-12-05", "id1", rows)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(r)
	for _, want := range []string{`"organization-name":"mail.example.net"`, `"start-datetime":"2026-12-05T00:00:00Z"`, `"end-datetime":"2026-12-05T23:59:59Z"`,
		`"policy-type":"sts"`, `"policy-string":["version: STSv1","mode: enforce","mx: mx.example.org","max_age: 86400"]`, `"policy-domain":"example.org"`,
		`"total-successful-session-count":7,"total-failure-session-count":2`, `"result-type":"certificate-host-mismatch","receiving-mx-hostname":"mx.example.org","failed-session-count":2`,
		`"policy-type":"no-policy-found"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("report lacks %s:\n%s", want, js)
		}
	}
	if got := tlsRPTAddresses([]string{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:tls@example.org,https://r.example/x, mailto:bad"}); fmt.Sprint(got) != "[tls@example.org]" {
		t.Errorf("rua addresses %v", got)
	}
}

// The day after, the sessions of a domain that asks for TLS reports go
// to its rua address as gzipped JSON, and are then forgotten.
func TestTheDailyTLSReportIsMailedToTheRUA(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	f := newQueueFixture(t, portOf(r.addr), "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1",
		`_smtp._tls.friends.example. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@friends.example"`)
	f.send(t, "me@example.net", "anna@friends.example")
	waitFor(t, "delivery", func() bool { return len(r.messages()) == 1 })
	f.advance(25 * time.Hour)
	waitFor(t, "the report", func() bool { return len(r.messages()) == 2 })
	rep := r.messages()[1]
	if rep.from != "" || fmt.Sprint(rep.rcpts) != "[tlsrpt@friends.example]" {
		t.Errorf("report envelope %q -> %v", rep.from, rep.rcpts)
	}
	for _, want := range []string{"TLS-Report-Domain: friends.example", "TLS-Report-Submitter: mail.example.net", `report-type="tlsrpt"`, "application/tlsrpt+gzip", ".json.gz"} {
		if !strings.Contains(rep.data, want) {
			t.Errorf("report lacks %q:\n%s", want, rep.data)
		}
	}
	_, b64, _ := strings.Cut(rep.data, "Content-Transfer-Encoding: base64\r\n")
	_, b64, _ = strings.Cut(b64, "\r\n\r\n")
	b64, _, _ = strings.Cut(b64, "\r\n--")
	gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(b64, "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var got tlsReport
	if err := json.Unmarshal(js, &got); err != nil || len(got.Policies) != 1 || got.Policies[0].Policy.Type != "no-policy-found" || got.Policies[0].Summary.Success != 1 {
		t.Errorf("report %s (%v)", js, err)
	}
	if res, _ := f.st.TLSResults(context.Background(), "0000-00-00", "2999-12-31"); len(res) != 1 {
		// Only the report's own session is left (today's).
		t.Errorf("results after reporting: %+v", res)
	}
}

// A policy failure that lasts past the queue lifetime bounces, and the
// DSN says which policy refused which host and why.
func TestAPolicyFailureFinallyBouncesWithTheReason(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	name := fmt.Sprintf("_%d._tcp.mx.friends.example.", portOf(r.addr))
	f := newQueueFixture(t, portOf(r.addr), "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1",
		name+" TLSA 3 1 1 "+strings.Repeat("cd", 32))
	f.res.Secure("friends.example")
	f.send(t, "me@example.net", "anna@friends.example")
	waitFor(t, "a deferral", func() bool { q := f.queue(t); return len(q) == 1 && q[0].Attempts > 0 })
	f.advance(6 * 24 * time.Hour)
	waitFor(t, "the bounce", func() bool { return len(f.inbox(t)) == 1 })
	dsn := f.inbox(t)[0]
	for _, want := range []string{"Action: failed", "DANE (the TLSA records of mx.friends.example) requires TLS; mx.friends.example offered a certificate that none of its TLSA records matches"} {
		if !strings.Contains(strings.Join(strings.Fields(dsn), " "), want) {
			t.Errorf("bounce lacks %q:\n%s", want, dsn)
		}
	}
	if len(r.messages()) != 0 {
		t.Error("delivered despite DANE")
	}
}

// The TLS report the box mails is one a receiving box reads back
// (package reports, which keeps the reports sent to postmaster@).
func TestTheTLSReportSentReadsBackAtTheReceiver(t *testing.T) {
	rows := []store.TLSResult{
		{Day: "2026-12-05", Domain: "example.org", PolicyType: "sts", MXHost: "mx.example.org", Result: "success", Count: 7},
		{Day: "2026-12-05", Domain: "example.org", PolicyType: "sts", MXHost: "mx.example.org", Result: "certificate-host-mismatch", Count: 2},
	}
	r, err := buildTLSReport("mail.example.net", "example.org", "2026-12-05", "id1", rows)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := buildTLSReportMessage("mail.example.net", "example.org", []string{"postmaster@example.org"}, r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !reports.IsReport(msg) {
		t.Fatal("the receiver does not take it for a report")
	}
	got, err := reports.FromMessage(msg)
	if err != nil || len(got) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	want := "mail.example.net saw 9 TLS sessions to example.org: 7 pass, 2 fail: 2 to mx.example.org (certificate-host-mismatch)"
	if s := reports.Summarize(got); len(s) != 1 || s[0].String() != want {
		t.Fatalf("%q, want %q", s, want)
	}
}
