package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"boxmail/internal/reports"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// TLS-RPT (RFC 8460): once a day the queue runner sends, to each
// recipient domain whose _smtp._tls TXT record names a mailto: address,
// the aggregate of the previous days' outbound TLS sessions counted in
// the store (noteTLS), as gzipped JSON in a multipart/report. The rows
// of a reported day are then dropped. https: report addresses are not
// used.

// tlsReport is the report's JSON (RFC 8460 4.4).
type tlsReport struct {
	OrganizationName string            `json:"organization-name"`
	DateRange        tlsReportRange    `json:"date-range"`
	ContactInfo      string            `json:"contact-info"`
	ReportID         string            `json:"report-id"`
	Policies         []tlsReportPolicy `json:"policies"`
}

type tlsReportRange struct {
	Start string `json:"start-datetime"`
	End   string `json:"end-datetime"`
}

type tlsReportPolicy struct {
	Policy struct {
		Type   string   `json:"policy-type"`
		String []string `json:"policy-string,omitempty"`
		Domain string   `json:"policy-domain"`
	} `json:"policy"`
	Summary struct {
		Success int `json:"total-successful-session-count"`
		Failure int `json:"total-failure-session-count"`
	} `json:"summary"`
	Failures []tlsReportFailure `json:"failure-details,omitempty"`
}

type tlsReportFailure struct {
	ResultType string `json:"result-type"`
	MXHost     string `json:"receiving-mx-hostname,omitempty"`
	Count      int    `json:"failed-session-count"`
	Info       string `json:"additional-information,omitempty"`
}

// buildTLSReport aggregates one domain's rows of one day.
func buildTLSReport(submitter, domain, day, id string, rows []store.TLSResult) (tlsReport, error) {
	start, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return tlsReport{}, err
	}
	r := tlsReport{OrganizationName: submitter, ContactInfo: "postmaster@" + submitter, ReportID: id,
		DateRange: tlsReportRange{Start: start.Format(time.RFC3339), End: start.Add(24*time.Hour - time.Second).Format(time.RFC3339)}}
	index := map[[2]string]int{}
	for _, row := range rows {
		k := [2]string{row.PolicyType, row.Policy}
		i, ok := index[k]
		if !ok {
			var p tlsReportPolicy
			p.Policy.Type, p.Policy.Domain = row.PolicyType, domain
			if row.Policy != "" {
				p.Policy.String = strings.Split(strings.ReplaceAll(strings.TrimSpace(row.Policy), "\r\n", "\n"), "\n")
			}
			r.Policies = append(r.Policies, p)
			i = len(r.Policies) - 1
			index[k] = i
		}
		p := &r.Policies[i]
		if row.Result == "success" {
			p.Summary.Success += row.Count
			continue
		}
		p.Summary.Failure += row.Count
		p.Failures = append(p.Failures, tlsReportFailure{ResultType: row.Result, MXHost: row.MXHost, Count: row.Count, Info: row.Detail})
	}
	return r, nil
}

// tlsRPTAddresses returns the mailto: addresses of a _smtp._tls record.
func tlsRPTAddresses(txts []string) []string {
	var out []string
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=TLSRPTv1") {
			continue
		}
		for _, f := range strings.Split(t, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			if k != "rua" {
				continue
			}
			for _, u := range strings.Split(v, ",") {
				if a, ok := strings.CutPrefix(strings.TrimSpace(u), "mailto:"); ok {
					if _, err := ParseAddress(a); err == nil {
						out = append(out, a)
					}
				}
			}
		}
	}
	return out
}

// buildTLSReportMessage is the report mail (RFC 8460 5.3).
func buildTLSReportMessage(submitter, domain string, to []string, r tlsReport, now time.Time) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	start, _ := time.Parse(time.RFC3339, r.DateRange.Start)
	end, _ := time.Parse(time.RFC3339, r.DateRange.End)
	return reports.Mail{
		From:        "TLS reports <MAILER-DAEMON@" + submitter + ">",
		To:          to,
		Subject:     fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", domain, submitter, r.ReportID),
		Date:        now,
		MessageID:   r.ReportID + "@" + submitter,
		Headers:     []string{"TLS-Report-Domain: " + domain, "TLS-Report-Submitter: " + submitter},
		ContentType: `multipart/report; report-type="tlsrpt"`,
		Boundary:    "tlsrpt-" + r.ReportID,
		Text:        fmt.Sprintf("This is an aggregate TLS report (RFC 8460) from %s for %s.", submitter, domain),
		FileType:    "application/tlsrpt+gzip",
		FileName:    fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", submitter, domain, start.Unix(), end.Unix(), r.ReportID),
		Report:      js,
	}.Message()
}

// sendDailyReports, once a day (the queue loop calls it on every pass),
// reports every day before today that still has rows: TLS-RPT (this
// file) and DMARC aggregate reports (dmarcreport.go).
func (q *Queue) sendDailyReports(ctx context.Context) {
	now := q.o.now().UTC()
	yesterday := now.Add(-24 * time.Hour).Format(time.DateOnly)
	if q.reportedThrough == yesterday || q.o.Resolver == nil {
		return
	}
	q.sendTLSReports(ctx, yesterday)
	q.sendDMARCReports(ctx, yesterday, now)
	q.reportedThrough = yesterday
}

// SendReports queues the TLS and DMARC aggregate reports of every day
// before today with rows, and of today so far when today is set, and
// says how many of each it queued ('boxmail dmarc send-reports'; the
// daily pass reports what is counted after). It may run in another
// process than the queue runner, which delivers what it queued.
func (q *Queue) SendReports(ctx context.Context, today bool) (tls, dmarc int, err error) {
	if q.o.Resolver == nil {
		return 0, 0, errors.New("no DNS resolver: the report addresses cannot be looked up")
	}
	now := q.o.now().UTC()
	until := now.Add(-24 * time.Hour).Format(time.DateOnly)
	if today {
		until = now.Format(time.DateOnly)
	}
	return q.sendTLSReports(ctx, until), q.sendDMARCReports(ctx, until, now), nil
}

// sendTLSReports queues the reports of the days up to until (inclusive)
// and returns how many it queued.
func (q *Queue) sendTLSReports(ctx context.Context, until string) int {
	rows, err := q.d.st.TLSResults(ctx, "0000-00-00", until)
	if err != nil {
		q.log.Error("reading TLS results", "err", err)
		return 0
	}
	type key struct{ day, domain string }
	by := map[key][]store.TLSResult{}
	var order []key
	for _, r := range rows {
		k := key{r.Day, r.Domain}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	sent := 0
	for _, k := range order {
		ok, err := q.sendTLSReport(ctx, k.domain, k.day, by[k])
		if err != nil {
			q.log.Warn("TLS report not sent; tried again tomorrow", "domain", k.domain, "day", k.day, "err", err)
			continue
		}
		if ok {
			sent++
		}
		if err := q.d.st.DeleteTLSResults(ctx, k.day, k.domain); err != nil {
			q.log.Error("dropping reported TLS results", "domain", k.domain, "err", err)
		}
	}
	return sent
}

// sendTLSReport queues the report of domain's day to the addresses of
// its _smtp._tls record (false: it has none, which is no error).
func (q *Queue) sendTLSReport(ctx context.Context, domain, day string, rows []store.TLSResult) (bool, error) {
	txts, err := resolver.LookupTXT(ctx, q.o.Resolver, "_smtp._tls."+domain)
	if resolver.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	to := tlsRPTAddresses(txts)
	if len(to) == 0 {
		return false, nil
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return false, err
	}
	rep, err := buildTLSReport(q.d.hostname, domain, day, day+"-"+hex.EncodeToString(id), rows)
	if err != nil {
		return false, err
	}
	msg, err := buildTLSReportMessage(q.d.hostname, domain, to, rep, q.o.now())
	if err != nil {
		return false, err
	}
	if q.d.signBounces {
		if h, err := q.d.DKIMSign(ctx, msg, q.d.hostname); err != nil {
			q.log.Warn("signing a TLS report", "err", err)
		} else {
			msg = append(h, msg...)
		}
	}
	del := store.Delivery{Data: msg, Received: q.o.now(), Sender: "", Remote: to}
	if err := q.d.st.Deliver(ctx, del); err != nil {
		return false, err
	}
	q.log.Info("TLS report queued", "domain", domain, "day", day, "to", strings.Join(to, ","))
	q.Kick()
	return true, nil
}
