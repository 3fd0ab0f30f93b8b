package admin

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// The DANE line: no record, a match outside a signed zone, a mismatch
// in one (fail) and a match in one (ok).
func TestDANECheck(t *testing.T) {
	ctx := context.Background()
	leaf, err := x509.ParseCertificate(testutil.Cert(t, "mail.example.test").Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	good := "_25._tcp.mail.example.test. TLSA " + dnsrecords.TLSAValue(leaf)
	bad := "_25._tcp.mail.example.test. TLSA 3 1 1 " + strings.Repeat("ab", 32)
	for _, c := range []struct {
		name   string
		rec    string
		secure bool
		want   dnsrecords.Level
		found  string
	}{
		{"none", "", false, dnsrecords.Warn, "no TLSA record"},
		{"unsigned match", good, false, dnsrecords.Warn, "not validated"},
		{"signed mismatch", bad, true, dnsrecords.Fail, "matches none"},
		{"signed match", good, true, dnsrecords.OK, "in a signed zone"},
	} {
		var f *resolver.Fake
		if c.rec == "" {
			f = resolver.NewFake()
		} else {
			f = resolver.NewFake(c.rec)
		}
		if c.secure {
			f.Secure("mail.example.test", "example.test", "_tcp.mail.example.test", "_25._tcp.mail.example.test")
		}
		r := DANECheck(ctx, f, "mail.example.test", leaf)
		if r.Level != c.want || !strings.Contains(r.Found, c.found) || r.Check != "DANE" {
			t.Errorf("%s: %+v", c.name, r)
		}
	}
	if r := DANECheck(ctx, resolver.NewFake(), "mail.example.test", nil); r.Level != dnsrecords.Warn {
		t.Errorf("no certificate: %+v", r)
	}
}

// What the box counts for its own reports is listed per kind and
// domain.
func TestPendingReports(t *testing.T) {
	ctx := context.Background()
	st := testutil.Store(t)
	now := time.Now()
	e := store.DMARCEvaluation{At: now, Policy: store.DMARCPolicyRow{Domain: "bee.test", P: "none"}, SourceIP: "192.0.2.1", HeaderFrom: "bee.test",
		Disposition: "none", DKIMEval: "pass", SPFEval: "pass"}
	for range 3 {
		if err := st.AddDMARCEvaluation(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddTLSResult(ctx, now, store.TLSResult{Domain: "bee.test", PolicyType: "no-policy-found", MXHost: "mx.bee.test", Result: "success"}); err != nil {
		t.Fatal(err)
	}
	got, err := PendingReports(ctx, st, now)
	if err != nil || len(got) != 2 || got[0].Kind != "dmarc" || got[0].Messages != 3 || got[1].Kind != "tlsrpt" || got[1].Messages != 1 || got[1].Days != 1 {
		t.Fatalf("%+v %v", got, err)
	}
}
