package test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// The report round trip (issue 22): box B (bee.test) publishes, from its
// own DNS server, _dmarc and _smtp._tls records asking for reports at
// postmaster@bee.test; box A (example.test) asks B's DNS server for
// everything and reaches B's SMTP port by a transport. B mails A (so A
// counts a DMARC evaluation of bee.test) and A mails B (so A counts a TLS
// session to bee.test). 'boxmail dmarc send-reports --now' on A queues
// both reports; A delivers them; B keeps them, and 'boxmail dmarc
// report' on B says what A saw. A does not trust loopback (B's mail
// comes from 127.0.0.1), so its checks run.
func TestDMARCAndTLSReportsTravelFromBoxAToBoxB(t *testing.T) {
	bee := newBoxFor(t, "bee.test", nil)
	a := newBoxWith(t, map[string]string{"resolvers": fmt.Sprintf("127.0.0.1:%d", bee.DNS), "trusted_networks": "",
		"transports": fmt.Sprintf("bee.test=127.0.0.1:%d", bee.SMTP), "retry_schedule": "1s"})
	bee.Stop()
	bee.configure(map[string]string{"transports": fmt.Sprintf("example.test=127.0.0.1:%d", a.SMTP), "retry_schedule": "1s"})
	bee.Start()

	submitTo(t, bee, a.Admin, "From the bees")
	submitTo(t, a, bee.Admin, "To the bees")
	testutil.WaitFor(t, "B's mail at A", 20*time.Second, func() bool { return len(findMail(a, "INBOX", "From the bees")) == 1 })
	testutil.WaitFor(t, "both queues empty", 20*time.Second, func() bool { return len(a.Queue()) == 0 && len(bee.Queue()) == 0 })
	if m := findMail(a, "INBOX", "From the bees")[0]; !strings.Contains(m, "dmarc=pass") {
		t.Fatalf("A did not check B's mail:\n%s", m)
	}

	out := mustRun(t, "", "dmarc", "send-reports", "--now", "--dir", a.Dir)
	if !strings.Contains(out, "queued 1 DMARC aggregate report(s) and 1 TLS report(s)") {
		t.Fatalf("send-reports: %s", out)
	}
	testutil.WaitFor(t, "the reports at B", 30*time.Second, func() bool {
		out, _, _ := bee.Cmd("", "dmarc", "report")
		return strings.Contains(out, "DMARC aggregate reports, last 7 days: 1") && strings.Contains(out, "TLS reports (RFC 8460), last 7 days: 1")
	})
	out, _, _ = bee.Cmd("", "dmarc", "report")
	for _, want := range []string{
		"example.test saw 1 messages from bee.test: 1 pass, 0 fail",
		"mail.example.test saw 1 TLS sessions to bee.test: 1 pass, 0 fail",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dmarc report on B lacks %q:\n%s", want, out)
		}
	}
	t.Logf("B's dmarc report:\n%s", out)
	// B's Deliverability page (its API) shows both.
	var page struct {
		DMARC []struct{ Org, Line string } `json:"dmarc_reports"`
		TLS   []struct{ Org, Line string } `json:"tls_reports"`
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/admin/api/deliverability", bee.HTTPS), nil)
	req.SetBasicAuth(bee.Admin, bee.Password)
	c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil || len(page.DMARC) != 1 || len(page.TLS) != 1 ||
		page.DMARC[0].Org != "example.test" || page.TLS[0].Line != "mail.example.test saw 1 TLS sessions to bee.test: 1 pass, 0 fail" {
		t.Errorf("B's deliverability API: %s %+v %v", res.Status, page, err)
	}
	// Sent once: nothing is left to report.
	if out := mustRun(t, "", "dmarc", "send-reports", "--now", "--dir", a.Dir); !strings.Contains(out, "queued 0 DMARC aggregate report(s)") {
		t.Errorf("second send-reports: %s", out)
	}
}
