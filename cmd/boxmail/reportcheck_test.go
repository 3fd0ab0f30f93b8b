package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/reports"
	"boxmail/internal/store"
)

// status tells the admin what this week's reports found: a failing
// source is a warning with what to do, and the MTA-STS mode is said.
func TestStatusSaysWhatTheReportsFound(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	in := dnsrecords.Input{Hostname: "mail.example.org"}
	res, err := reportChecks(ctx, st, in, now)
	if err != nil || len(res) != 3 || res[0].Level != dnsrecords.Warn || !strings.Contains(res[0].Found, "testing") ||
		res[1].Level != dnsrecords.OK || !strings.Contains(res[1].Found, "no DMARC reports") {
		t.Fatalf("%+v %v", res, err)
	}
	r := reports.Report{Kind: reports.DMARC, Org: "google.com", ID: "1", Domain: "example.org", Begin: now.Add(-24 * time.Hour), End: now,
		Rows: []reports.Row{{Source: "198.51.100.7", Count: 40, Pass: true}, {Source: "203.0.113.9", Count: 2, Detail: "dkim=fail spf=fail disposition=quarantine"}}}
	js, _ := json.Marshal(r)
	if _, err := st.AddReceivedReport(ctx, store.ReceivedReport{Kind: "dmarc", Org: r.Org, ReportID: r.ID, Domain: r.Domain, Begin: r.Begin, End: r.End, Data: js}); err != nil {
		t.Fatal(err)
	}
	in.MTASTSEnforce = true
	res, err = reportChecks(ctx, st, in, now)
	if err != nil || len(res) != 3 || res[0].Level != dnsrecords.OK {
		t.Fatalf("%+v %v", res, err)
	}
	if d := res[1]; d.Level != dnsrecords.Warn || d.Subject != "example.org" || !strings.Contains(d.Found, "2 from 203.0.113.9") || !strings.Contains(d.Fix, "SPF") {
		t.Errorf("DMARC line %+v", d)
	}
}
