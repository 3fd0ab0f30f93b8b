package main

// The deliverability lines of 'boxmail status': the MTA-STS mode the box
// serves, and what the DMARC and TLS reports other mail systems sent
// this week say (internal/reports; 'boxmail dmarc report' has them all).

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/reports"
	"boxmail/internal/store"
)

// reportWindow is how far back the status lines look at reports.
const reportWindow = 7 * 24 * time.Hour

func reportChecks(ctx context.Context, st *store.Store, in dnsrecords.Input, now time.Time) ([]dnsrecords.Result, error) {
	mode := dnsrecords.Result{Level: dnsrecords.Warn, Subject: in.Hostname, Check: "MTA-STS",
		Found: "policy served in mode testing: senders report TLS failures but still deliver without TLS",
		Fix:   "get a trusted certificate (acme = on) and the box serves mode enforce by itself"}
	if in.MTASTSEnforce {
		mode = dnsrecords.Result{Level: dnsrecords.OK, Subject: in.Hostname, Check: "MTA-STS", Found: "policy served in mode enforce"}
	}
	out := []dnsrecords.Result{mode}
	for _, k := range []struct {
		kind        reports.Kind
		check, fix  string
		describeNon string
	}{
		{reports.DMARC, "DMARC-reports", "if a failing address is yours (a newsletter service, a printer, another server), list it in SPF or have it sign with DKIM; otherwise someone is forging the domain and DMARC keeps it out", "no DMARC reports in the last 7 days (receivers mail them to postmaster@ once mail has flowed a day)"},
		{reports.TLS, "TLS-reports", "senders could not use TLS to the box: check the certificate ('boxmail tls') and the MTA-STS policy", "no TLS reports in the last 7 days"},
	} {
		kept, err := st.ReceivedReports(ctx, string(k.kind), now.Add(-reportWindow))
		if err != nil {
			return nil, err
		}
		var rs []reports.Report
		for _, s := range kept {
			var r reports.Report
			if err := json.Unmarshal(s.Data, &r); err != nil {
				return nil, fmt.Errorf("report %s from %s: %w", s.ReportID, s.Org, err)
			}
			rs = append(rs, r)
		}
		sums := reports.Summarize(rs)
		if len(sums) == 0 {
			out = append(out, dnsrecords.Result{Level: dnsrecords.OK, Subject: in.Hostname, Check: k.check, Found: k.describeNon})
		}
		for _, s := range sums {
			r := dnsrecords.Result{Level: dnsrecords.OK, Subject: s.Domain, Check: k.check, Found: s.String()}
			if s.Pass < s.Total {
				r.Level, r.Fix = dnsrecords.Warn, k.fix
			}
			out = append(out, r)
		}
	}
	return out, nil
}
