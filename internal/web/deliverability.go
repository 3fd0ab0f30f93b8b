package web

// The admin panel's Deliverability page (issue 22): the status lines
// about transport security and reports (DNSSEC chain, DANE match,
// MTA-STS mode, what the DMARC and TLS reports say: the lines 'boxmail
// status' prints, from Options.Status, kept like the Status page's), the
// DMARC and TLS reports others sent this week (admin's summaries, as
// 'boxmail dmarc report' prints them), and what the box is counting for
// the reports it sends. The same as JSON: GET /admin/api/deliverability.

import (
	"context"
	"net/http"
	"slices"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/dnsrecords"
)

// deliverabilityChecks are the status lines the page shows, by Check.
var deliverabilityChecks = []string{"DNSSEC", "DANE", "MTA-STS", "DMARC-reports", "TLS-reports"}

type deliverabilityData struct {
	Checks    []dnsrecords.Result   `json:"checks"`
	ChecksRan string                `json:"checks_ran,omitempty"`
	ChecksAge string                `json:"-"`
	NoChecks  string                `json:"-"`
	DMARC     []admin.ReportSummary `json:"dmarc_reports"`
	TLS       []admin.ReportSummary `json:"tls_reports"`
	Pending   []admin.PendingReport `json:"sending"`
	Days      int                   `json:"days"`
}

// latestStatus returns the kept status lines, running the checks when
// asked to (run) or when none ran since the server started.
func (s *Server) latestStatus(ctx context.Context, run bool) ([]dnsrecords.Result, time.Time, error) {
	res, at, ok := s.status.get()
	if ok && !run {
		return res, at, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	fresh, err := s.o.Status(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	at = s.o.Now()
	s.status.set(fresh, at)
	return fresh, at, nil
}

func (s *Server) deliverability(r *http.Request) (deliverabilityData, error) {
	ctx := r.Context()
	now := s.o.Now()
	d := deliverabilityData{Days: int(admin.ReportWindow / (24 * time.Hour)), NoChecks: "Status checks are not wired into this server."}
	if s.o.Status != nil {
		res, at, err := s.latestStatus(ctx, r.URL.Query().Get("run") != "")
		if err != nil {
			return d, err
		}
		d.NoChecks = ""
		d.ChecksRan, d.ChecksAge = at.UTC().Format("2006-01-02 15:04:05 UTC"), ageText(now.Sub(at))
		for _, x := range res {
			if slices.Contains(deliverabilityChecks, x.Check) {
				d.Checks = append(d.Checks, x)
			}
		}
	}
	sums, err := admin.ReceivedReportSummaries(ctx, s.o.Store, now.Add(-admin.ReportWindow))
	if err != nil {
		return d, err
	}
	for _, x := range sums {
		if x.Kind == "dmarc" {
			d.DMARC = append(d.DMARC, x)
		} else {
			d.TLS = append(d.TLS, x)
		}
	}
	d.Pending, err = admin.PendingReports(ctx, s.o.Store, now)
	return d, err
}

func loadDeliverability(s *Server, r *http.Request) (any, error) { return s.deliverability(r) }

func (s *Server) apiDeliverability(r *http.Request, _ string) (any, error) {
	return s.deliverability(r)
}
