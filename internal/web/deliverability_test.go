package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// The Deliverability page shows the transport-security status lines
// (and no others), the reports received this week and what the box is
// counting for its own; the API gives the same.
func TestTheDeliverabilityPageAndItsAPI(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	runs := 0
	ts, st, _ := newServerWith(t, func(o *Options) {
		o.Status = func(context.Context) ([]dnsrecords.Result, error) {
			runs++
			return []dnsrecords.Result{
				{Level: dnsrecords.OK, Subject: "example.net", Check: "DNSSEC", Found: "keys present; chain validates"},
				{Level: dnsrecords.Fail, Subject: "mail.example.net", Check: "DANE", Found: "TLSA matches none of the certificate's key"},
				{Level: dnsrecords.OK, Subject: "example.net", Check: "MX", Found: "MX points at the box"},
			}, nil
		}
	})
	js := `{"kind":"dmarc","org":"google.com","id":"g1","domain":"example.net","begin":"` + now.Add(-48*time.Hour).UTC().Format(time.RFC3339) +
		`","end":"` + now.Add(-24*time.Hour).UTC().Format(time.RFC3339) + `","rows":[{"source":"192.0.2.1","count":410,"pass":true},{"source":"203.0.113.9","count":2,"pass":false,"detail":"dkim=fail"}]}`
	if _, err := st.AddReceivedReport(ctx, store.ReceivedReport{Kind: "dmarc", Org: "google.com", ReportID: "g1", Domain: "example.net",
		Begin: now.Add(-48 * time.Hour), End: now.Add(-24 * time.Hour), Data: []byte(js)}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDMARCEvaluation(ctx, store.DMARCEvaluation{At: now, Policy: store.DMARCPolicyRow{Domain: "friends.example", P: "none"},
		SourceIP: "198.51.100.1", HeaderFrom: "friends.example", Disposition: "none", DKIMEval: "pass", SPFEval: "fail"}); err != nil {
		t.Fatal(err)
	}
	c := client(ts)
	login(t, ts, c, "admin@example.net", adminPW)
	code, body := get(t, c, ts.URL+"/admin/deliverability")
	if code != http.StatusOK {
		t.Fatalf("%d\n%s", code, body)
	}
	for _, want := range []string{`href="/admin/deliverability" class="on"`, "keys present; chain validates", "TLSA matches none", "google.com saw 412 messages from example.net: 410 pass, 2 fail",
		"No TLS reports", "friends.example", "1 messages over 1 day(s)"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "MX points at the box") {
		t.Error("the page shows a status line that is not about deliverability")
	}
	code, m := api(t, c, "GET", ts.URL+"/admin/api/deliverability", "", "")
	checks, _ := m["checks"].([]any)
	dm, _ := m["dmarc_reports"].([]any)
	sending, _ := m["sending"].([]any)
	if code != http.StatusOK || len(checks) != 2 || len(dm) != 1 || len(sending) != 1 {
		t.Fatalf("API %d: %v", code, m)
	}
	if d := dm[0].(map[string]any); d["org"] != "google.com" || d["total"] != float64(412) || d["pass"] != float64(410) {
		t.Errorf("API DMARC summary %v", d)
	}
	if runs != 1 {
		t.Errorf("the checks ran %d times; the page and API share the last run", runs)
	}
	kid := client(ts)
	login(t, ts, kid, "kid@example.net", userPW)
	if code, _ := get(t, kid, ts.URL+"/admin/deliverability"); code == http.StatusOK {
		t.Error("a user sees the deliverability page")
	}
}
