package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"boxmail/internal/reports"
)

// TestTheDeliverabilityPageInABrowser: Gmail's DMARC report and a TLS
// report arrive at postmaster@; the admin opens the Deliverability page
// on a computer (1280 px) and a phone (390 px): the status lines about
// DNSSEC, DANE and MTA-STS are there, each report's summary is, the
// nav links to the page, and nothing scrolls sideways. Screenshots go
// to a temp dir, or to WEB_SCREENSHOTS=DIR.
func TestTheDeliverabilityPageInABrowser(t *testing.T) {
	b := newBox(t)
	if out, err := b.Python("send_report.py", "127.0.0.1", fmt.Sprint(b.SMTP), "tls", "example.test", "tls-1", "gzip", "postmaster@example.test"); err != nil {
		t.Fatalf("send_report: %v\n%s", err, out)
	}
	sendDMARCReport(t, b) // send_report.py's DMARC report is of last year: this one is of yesterday
	br := newBrowser(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	shots := t.TempDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	br.Go(base + "/account")
	br.Type("#email", b.Admin)
	br.Type("#password", b.Password)
	br.Click("#login-button")
	br.WaitURL("/admin/users")
	br.Click(`nav.tabs a[href="/admin/deliverability"]`)
	br.WaitURL("/admin/deliverability")
	for _, size := range []struct{ w, h int }{{1280, 900}, {390, 844}} {
		br.Resize(size.w, size.h)
		name := fmt.Sprintf("deliverability-%d", size.w)
		br.Go(base + "/admin/deliverability")
		got := br.WaitText("#dmarc-reports", "google.com")
		if !strings.Contains(got, "google.com saw 824 messages from example.test: 820 pass, 4 fail") {
			t.Errorf("%s: the DMARC section says %q", name, got)
		}
		if got := br.Text("#tls-reports"); !strings.Contains(got, "Mail Corp saw 100 TLS sessions to example.test: 97 pass, 3 fail") {
			t.Errorf("%s: the TLS section says %q", name, got)
		}
		checks := br.Text("#deliverability-checks")
		for _, want := range []string{"DNSSEC", "DANE", "MTA-STS", "DMARC-reports", "TLS-reports"} {
			if !strings.Contains(checks, want) {
				t.Errorf("%s: no %s line in %q", name, want, checks)
			}
		}
		var v struct{ InnerWidth, ScrollWidth float64 }
		br.Exec(`return {InnerWidth: innerWidth, ScrollWidth: document.documentElement.scrollWidth};`, &v)
		if size.w == 390 && v.InnerWidth > 400 {
			t.Fatalf("%s: the window is %.0f px wide, not a phone's", name, v.InnerWidth)
		}
		if v.ScrollWidth > v.InnerWidth {
			t.Errorf("%s: the page is %.0f px wide in a %.0f px window: it scrolls sideways", name, v.ScrollWidth, v.InnerWidth)
		}
		br.Screenshot(filepath.Join(shots, name+".png"))
	}
	t.Logf("screenshots in %s", shots)
}

// sendDMARCReport mails postmaster@ of the box Gmail's report of
// yesterday: 820 messages passed from 192.0.2.1, 4 failed from
// 203.0.113.9.
func sendDMARCReport(t *testing.T, b *Box) {
	t.Helper()
	end := time.Now().UTC().Truncate(24 * time.Hour)
	begin := end.Add(-24 * time.Hour)
	doc, err := reports.BuildDMARC(reports.Reporter{Org: "google.com", Email: "noreply-dmarc-support@google.com"}, "gmail-now",
		reports.Published{Domain: "example.test", P: "quarantine", Pct: 100}, begin, end, []reports.Evaluation{
			{SourceIP: "192.0.2.1", HeaderFrom: "example.test", Count: 820, Disposition: "none", DKIM: "pass", SPF: "pass"},
			{SourceIP: "203.0.113.9", HeaderFrom: "example.test", Count: 4, Disposition: "quarantine", DKIM: "fail", SPF: "fail"},
		})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := reports.DMARCMail{From: "noreply-dmarc-support@google.com", Submitter: "google.com", Domain: "example.test", ID: "gmail-now",
		To: []string{"postmaster@example.test"}, Begin: begin, End: end, Date: time.Now()}.Message(doc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", b.SMTP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("", []string{"postmaster@example.test"}, bytes.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}
