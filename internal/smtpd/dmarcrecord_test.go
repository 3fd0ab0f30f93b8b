package smtpd

import (
	"context"
	"strings"
	"testing"
	"time"

	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
)

// Mail from domains that ask for aggregate reports (rua=) is counted,
// delivered or refused, with the published policy and both alignment
// results; a domain without rua= is not.
func TestDMARCEvaluationsAreCountedForTheReports(t *testing.T) {
	fake := resolver.NewFake(
		`asks.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.asks.example. 300 IN TXT "v=DMARC1; p=quarantine; adkim=s; pct=100; rua=mailto:dmarc@asks.example!10m"`,
		`strict.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all exp=why.strict.example"`,
		`why.strict.example. 300 IN TXT "You are not %{i}, go away"`,
		`_dmarc.strict.example. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:agg@reports.example"`,
		`silent.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.silent.example. 300 IN TXT "v=DMARC1; p=none"`,
	)
	addr, st := newCheckingServer(t, fake, false)
	for i := 0; i < 2; i++ {
		if out := send(t, addr, "a@asks.example", "From: a@asks.example\r\n"); !strings.Contains(out, "250 2.0.0") {
			t.Fatalf("asks: %s", out)
		}
	}
	out := send(t, addr, "a@strict.example", "From: a@strict.example\r\n")
	if !strings.Contains(out, "550 5.7.1") || !strings.Contains(out, "SPF: You are not 127.0.0.1, go away") {
		t.Errorf("p=reject with exp=: %s", out)
	}
	if out := send(t, addr, "a@silent.example", "From: a@silent.example\r\n"); !strings.Contains(out, "250 2.0.0") {
		t.Fatalf("silent: %s", out)
	}
	rows, err := st.DMARCRecords(context.Background(), time.Now().UTC().Format(time.DateOnly))
	if err != nil || len(rows) != 2 {
		t.Fatalf("%+v %v", rows, err)
	}
	a, s := rows[0], rows[1]
	if a.Policy.Domain != "asks.example" || a.Count != 2 || a.SourceIP != "127.0.0.1" || a.SPFResult != "pass" || a.SPFScope != "mfrom" ||
		a.SPFEval != "pass" || a.DKIMEval != "fail" || a.Disposition != "none" || a.Policy.ADKIM != "s" || a.Policy.P != "quarantine" ||
		len(a.Policy.RUA) != 1 || a.Policy.RUA[0] != "mailto:dmarc@asks.example!10m" {
		t.Errorf("asks.example: %+v", a)
	}
	if s.Policy.Domain != "strict.example" || s.Count != 1 || s.Disposition != "reject" || s.SPFResult != "fail" || s.SPFEval != "fail" {
		t.Errorf("strict.example: %+v", s)
	}
}

// The exp= text is the sender's DNS: only printable ASCII reaches the
// reply, and not much of it.
func TestSPFExplanationIsSanitised(t *testing.T) {
	if got := spfExplanation(mailauth.SPFResult{Status: mailauth.SPFPass, Explanation: "x"}); got != "" {
		t.Errorf("pass: %q", got)
	}
	got := spfExplanation(mailauth.SPFResult{Status: mailauth.SPFFail, Explanation: "bad\r\n250 ok\x00é" + strings.Repeat("a", 500)})
	if strings.ContainsAny(got, "\r\n\x00é") || len(got) > 220 || !strings.HasPrefix(got, "; SPF: bad??250 ok?") {
		t.Errorf("%q", got)
	}
}
