package test

import (
	"fmt"
	"strings"
	"testing"
)

// Gmail's DMARC report and a TLS report arrive at postmaster@ over SMTP
// (Python's smtplib, zipped and gzipped as the providers send them);
// 'boxmail dmarc report' says what they found, a report sent twice counts
// once, one about a domain the box does not host is not kept, and the
// mail itself reaches the admin like any other.
func TestDMARCAndTLSReportsAreSummedUp(t *testing.T) {
	b := newBox(t)
	send := func(kind, domain, id, packing string) {
		t.Helper()
		if out, err := b.Python("send_report.py", "127.0.0.1", fmt.Sprint(b.SMTP), kind, domain, id, packing, "postmaster@example.test"); err != nil {
			t.Fatalf("send_report %s %s: %v\n%s", kind, packing, err, out)
		}
	}
	send("dmarc", "example.test", "gmail-1", "zip")
	send("dmarc", "example.test", "gmail-1", "gzip") // resent: the same report
	send("dmarc", "example.test", "gmail-2", "plain")
	send("tls", "example.test", "tls-1", "gzip")
	send("dmarc", "not-hosted.example", "gmail-3", "zip")

	out := mustRun(t, "", "dmarc", "report", "--days", "3660", "--dir", b.Dir)
	for _, want := range []string{
		"DMARC aggregate reports, last 3660 days: 2",
		"google.com saw 824 messages from example.test: 820 pass, 4 fail: 4 from 203.0.113.9 (dkim=fail spf=fail disposition=quarantine)",
		"TLS reports (RFC 8460), last 3660 days: 1",
		"Mail Corp saw 100 TLS sessions to example.test: 97 pass, 3 fail: 3 to mail.example.test (certificate-host-mismatch)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dmarc report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not-hosted") {
		t.Errorf("a report about another domain was kept:\n%s", out)
	}
	if got := findMail(b, "INBOX", "Report Domain: "); len(got) != 5 {
		t.Errorf("%d report messages in the admin's INBOX, want 5", len(got))
	}
	if _, stderr, code := b.Cmd("", "dmarc", "report", "--days", "0"); code == 0 || !strings.Contains(stderr, "--days") {
		t.Errorf("--days 0: exit %d, %s", code, stderr)
	}
}
