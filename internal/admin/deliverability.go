package admin

// Deliverability: what 'boxmail status' and the admin panel's
// Deliverability page say about the box's standing with other mail
// systems: the MTA-STS mode it serves, whether the TLSA record of its
// SMTP port matches its certificate (DANE), what the DMARC and TLS
// aggregate reports others sent say, and what the box is counting for
// the reports it sends. One implementation for the command line and the
// web (cmd/boxmail/reportcheck.go, web's deliverability page).

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/reports"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// ReportWindow is how far back the status lines and the page look at
// received reports.
const ReportWindow = 7 * 24 * time.Hour

// ReceivedSummaries sums up the reports of a kind received about the
// box's domains whose period ended after since, and says how many there
// were.
func ReceivedSummaries(ctx context.Context, st *store.Store, kind reports.Kind, since time.Time) ([]reports.Summary, int, error) {
	kept, err := st.ReceivedReports(ctx, string(kind), since)
	if err != nil {
		return nil, 0, err
	}
	rs := make([]reports.Report, 0, len(kept))
	for _, s := range kept {
		var r reports.Report
		if err := json.Unmarshal(s.Data, &r); err != nil {
			return nil, 0, fmt.Errorf("report %s from %s: %w", s.ReportID, s.Org, err)
		}
		rs = append(rs, r)
	}
	return reports.Summarize(rs), len(rs), nil
}

// ReportChecks are the status lines of the MTA-STS mode the box serves
// (mtaSTSEnforce) and of what the reports received in the ReportWindow
// before now say: a failing source is a warning with what to do.
func ReportChecks(ctx context.Context, st *store.Store, hostname string, mtaSTSEnforce bool, now time.Time) ([]dnsrecords.Result, error) {
	mode := dnsrecords.Result{Level: dnsrecords.Warn, Subject: hostname, Check: "MTA-STS",
		Found: "policy served in mode testing: senders report TLS failures but still deliver without TLS",
		Fix:   "get a trusted certificate (acme = on) and the box serves mode enforce by itself"}
	if mtaSTSEnforce {
		mode = dnsrecords.Result{Level: dnsrecords.OK, Subject: hostname, Check: "MTA-STS", Found: "policy served in mode enforce"}
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
		sums, _, err := ReceivedSummaries(ctx, st, k.kind, now.Add(-ReportWindow))
		if err != nil {
			return nil, err
		}
		if len(sums) == 0 {
			out = append(out, dnsrecords.Result{Level: dnsrecords.OK, Subject: hostname, Check: k.check, Found: k.describeNon})
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

// DANECheck is the status line of the TLSA record of the box's SMTP
// port (_25._tcp.HOSTNAME) against the certificate it serves (leaf; nil:
// not known to this process, e.g. ACME's held by the server).
func DANECheck(ctx context.Context, r resolver.Resolver, hostname string, leaf *x509.Certificate) dnsrecords.Result {
	res := dnsrecords.Result{Subject: hostname, Check: "DANE"}
	name := "_25._tcp." + strings.TrimSuffix(hostname, ".")
	if leaf == nil {
		res.Level, res.Found = dnsrecords.Warn, "the certificate is held by the running server: the TLSA record is not compared here"
		res.Fix = "see the Deliverability page of the admin panel, which asks the running server"
		return res
	}
	want := dnsrecords.TLSAValue(leaf)
	rrs, secure, err := resolver.LookupTLSA(ctx, r, 25, "tcp", strings.TrimSuffix(hostname, "."))
	switch {
	case resolver.IsNotFound(err):
		res.Level, res.Found = dnsrecords.Warn, "no TLSA record at "+name+": senders that use DANE cannot pin the box's certificate"
		res.Fix = fmt.Sprintf("publish TLSA %s %s (the box's own DNS does, once it serves the zone)", name, want)
		return res
	case err != nil:
		res.Level, res.Found, res.Fix = dnsrecords.Warn, "could not check: "+err.Error(), "check the resolvers in boxmail.conf and try again"
		return res
	}
	var got []string
	match := false
	for _, rr := range rrs {
		v := fmt.Sprintf("%d %d %d %s", rr.Usage, rr.Selector, rr.MatchingType, strings.ToLower(rr.Certificate))
		got = append(got, v)
		match = match || v == want
	}
	switch {
	case !secure && !match:
		res.Level, res.Found = dnsrecords.Warn, fmt.Sprintf("TLSA %s (%s) matches none of the certificate's key; the answer was not validated (no DNSSEC AD bit), so DANE senders ignore it for now", name, strings.Join(got, ", "))
		res.Fix = fmt.Sprintf("publish TLSA %s %s and drop the others, before the zone is signed", name, want)
	case !secure:
		res.Level, res.Found = dnsrecords.Warn, fmt.Sprintf("TLSA %s matches the certificate's key, but the answer was not validated (no DNSSEC AD bit): DANE senders ignore it", name)
		res.Fix = "sign the zone (the box's DNS does) and give the registrar the DS record; ask through a validating resolver"
	case !match:
		res.Level, res.Found = dnsrecords.Fail, fmt.Sprintf("TLSA %s (%s) matches none of the certificate's key: senders that use DANE will not deliver", name, strings.Join(got, ", "))
		res.Fix = fmt.Sprintf("publish TLSA %s %s and drop the others", name, want)
	default:
		res.Level, res.Found = dnsrecords.OK, fmt.Sprintf("TLSA %s matches the certificate's key, in a signed zone", name)
	}
	return res
}

// PendingReport is what the box has counted for the aggregate reports
// it sends about one domain and not sent yet.
type PendingReport struct {
	Kind     reports.Kind `json:"kind"`
	Domain   string       `json:"domain"`
	Messages int64        `json:"count"` // messages (DMARC) or sessions (TLS)
	Days     int          `json:"days"`
}

// PendingReports lists what the next daily reports will carry, per kind
// and domain, the busiest first.
func PendingReports(ctx context.Context, st *store.Store, now time.Time) ([]PendingReport, error) {
	var out []PendingReport
	dm, err := st.DMARCPending(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range dm {
		out = append(out, PendingReport{Kind: reports.DMARC, Domain: p.Domain, Messages: p.Count, Days: p.Days})
	}
	tls, err := st.TLSResults(ctx, now.Add(-30*24*time.Hour).Format(time.DateOnly), now.Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	days := map[string]map[string]bool{}
	for _, r := range tls {
		i, ok := idx[r.Domain]
		if !ok {
			i = len(out)
			idx[r.Domain] = i
			days[r.Domain] = map[string]bool{}
			out = append(out, PendingReport{Kind: reports.TLS, Domain: r.Domain})
		}
		out[i].Messages += int64(r.Count)
		days[r.Domain][r.Day] = true
		out[i].Days = len(days[r.Domain])
	}
	slices.SortStableFunc(out, func(a, b PendingReport) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), cmp.Compare(b.Messages, a.Messages), strings.Compare(a.Domain, b.Domain))
	})
	return out, nil
}

// ReportSummary is one sender's received reports about one domain, for
// the web page and its JSON.
type ReportSummary struct {
	Kind    reports.Kind          `json:"kind"`
	Org     string                `json:"org"`
	Domain  string                `json:"domain"`
	Reports int                   `json:"reports"`
	Begin   time.Time             `json:"begin"`
	End     time.Time             `json:"end"`
	Total   int64                 `json:"total"`
	Pass    int64                 `json:"pass"`
	Failing []reports.SourceCount `json:"failing,omitempty"`
	// Line is the summary in one sentence ('boxmail dmarc report').
	Line string `json:"line"`
}

// ReceivedReportSummaries are the summaries of both kinds of reports
// received since, DMARC first.
func ReceivedReportSummaries(ctx context.Context, st *store.Store, since time.Time) ([]ReportSummary, error) {
	var out []ReportSummary
	for _, k := range []reports.Kind{reports.DMARC, reports.TLS} {
		sums, _, err := ReceivedSummaries(ctx, st, k, since)
		if err != nil {
			return nil, err
		}
		for _, s := range sums {
			out = append(out, ReportSummary{Kind: s.Kind, Org: s.Org, Domain: s.Domain, Reports: s.Reports, Begin: s.Begin, End: s.End,
				Total: s.Total, Pass: s.Pass, Failing: s.Failing, Line: s.String()})
		}
	}
	return out, nil
}
