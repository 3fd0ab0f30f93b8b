package reports

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

const gmailReport = `<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <report_id>1234567890123456789</report_id>
    <date_range><begin>1764892800</begin><end>1764979199</end></date_range>
  </report_metadata>
  <policy_published><domain>Example.org</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><pct>100</pct></policy_published>
  <record>
    <row><source_ip>198.51.100.7</source_ip><count>410</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers>
  </record>
  <record>
    <row><source_ip>203.0.113.9</source_ip><count>2</count>
      <policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers>
  </record>
</feedback>`

const tlsReport = `{"organization-name":"Mail Corp","date-range":{"start-datetime":"2026-12-05T00:00:00Z","end-datetime":"2026-12-05T23:59:59Z"},
"contact-info":"tlsrpt@mail.example","report-id":"2026-12-05T00:00:00Z_example.org",
"policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce"],"policy-domain":"example.org","mx-host":["mail.example.org"]},
"summary":{"total-successful-session-count":97,"total-failure-session-count":3},
"failure-details":[{"result-type":"certificate-host-mismatch","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mail.example.org","failed-session-count":3}]}]}`

// A DMARC report from Gmail sums up to one line the admin can act on.
func TestGmailSawTwoFailures(t *testing.T) {
	r, err := ParseDMARC([]byte(gmailReport))
	if err != nil {
		t.Fatal(err)
	}
	if r.Domain != "example.org" || r.Org != "google.com" || len(r.Rows) != 2 || r.Begin.Unix() != 1764892800 {
		t.Fatalf("%+v", r)
	}
	s := Summarize([]Report{r})
	want := "google.com saw 412 messages from example.org: 410 pass, 2 fail: 2 from 203.0.113.9 (dkim=fail spf=fail disposition=quarantine)"
	if len(s) != 1 || s[0].String() != want {
		t.Fatalf("summary %q\nwant    %q", s, want)
	}
}

func TestTLSReportCountsSessions(t *testing.T) {
	r, err := ParseTLS([]byte(tlsReport))
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize([]Report{r})
	want := "Mail Corp saw 100 TLS sessions to example.org: 97 pass, 3 fail: 3 to mail.example.org (certificate-host-mismatch)"
	if len(s) != 1 || s[0].String() != want {
		t.Fatalf("summary %q\nwant    %q", s, want)
	}
}

// Reports arrive zipped (Gmail), gzipped (Microsoft, TLS reports) or
// plain; each is found in its message.
func TestReportsInTheirMessages(t *testing.T) {
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	f, _ := zw.Create("google.com!example.org!1764892800!1764979199.xml")
	f.Write([]byte(gmailReport))
	zw.Close()
	for _, tc := range []struct {
		name, subject, ctype, file string
		body                       []byte
		kind                       Kind
	}{
		{"zip", "Report Domain: example.org Submitter: google.com Report-ID: 1", "application/zip", "r.zip", zbuf.Bytes(), DMARC},
		{"gzip", "Report Domain: example.org Submitter: outlook.com Report-ID: <2>", "application/gzip", "r.xml.gz", gz([]byte(gmailReport)), DMARC},
		{"plain xml", "Report domain: example.org", "text/xml", "r.xml", []byte(gmailReport), DMARC},
		{"tls gzip", "Report Domain: example.org Submitter: mail.example", "application/tlsrpt+gzip", "r.json.gz", gz([]byte(tlsReport)), TLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := reportMessage(tc.subject, tc.ctype, tc.file, tc.body)
			if !IsReport(msg) {
				t.Fatal("IsReport false")
			}
			rs, err := FromMessage(msg)
			if err != nil || len(rs) != 1 || rs[0].Kind != tc.kind || rs[0].Domain != "example.org" {
				t.Fatalf("%+v %v", rs, err)
			}
		})
	}
	if IsReport([]byte("Subject: Re: report domain\r\n\r\nhi\r\n")) {
		t.Error("an ordinary message looks like a report")
	}
	if !IsReport([]byte("TLS-Report-Domain: example.org\r\nSubject: x\r\n\r\n")) {
		t.Error("TLS-Report-Domain not seen")
	}
}

// What a stranger can send: every case is an error, never a panic or a
// half-read report.
func TestHostileReports(t *testing.T) {
	bomb := gz(bytes.Repeat([]byte{' '}, maxDoc+10))
	for _, tc := range []struct {
		name, ctype string
		body        []byte
		want        string
	}{
		{"gzip bomb", "application/gzip", bomb, "MiB once decompressed"},
		{"not gzip", "application/gzip", []byte("plain"), "not gzip"},
		{"not zip", "application/zip", []byte("plain"), "not a zip"},
		{"broken xml", "text/xml", []byte("<feedback><report_metadata>"), "not the XML"},
		{"entity", "text/xml", []byte(`<!DOCTYPE f [<!ENTITY a "aaaa">]><feedback>&a;</feedback>`), "not the XML"},
		{"no domain", "text/xml", []byte("<feedback><report_metadata><org_name>x</org_name><report_id>1</report_id></report_metadata></feedback>"), "missing"},
		{"bad count", "text/xml", []byte(strings.Replace(gmailReport, "<count>2</count>", "<count>two</count>", 1)), "not a number"},
		{"bad time", "text/xml", []byte(strings.Replace(gmailReport, "1764892800", "yesterday", 1)), "not a time"},
		{"broken json", "application/json", []byte(`{"organization-name":`), "not the JSON"},
		{"negative sessions", "application/json", []byte(strings.Replace(tlsReport, `"failed-session-count":3`, `"failed-session-count":-3`, 1)), "negative"},
		{"neither", "application/json", []byte("hello"), "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromMessage(reportMessage("Report Domain: example.org", tc.ctype, "r", tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	var many strings.Builder
	many.WriteString("Subject: Report Domain: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range maxParts + 5 {
		many.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	many.WriteString("--b--\r\n")
	if _, err := FromMessage([]byte(many.String())); err == nil || !strings.Contains(err.Error(), "MIME parts") {
		t.Fatalf("many parts: %v", err)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// reportMessage is a report mail as the big providers send it: a short
// text and the report as a base64 attachment.
func reportMessage(subject, ctype, file string, body []byte) []byte {
	return []byte(fmt.Sprintf("From: noreply@reporter.example\r\nTo: postmaster@example.org\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate report.\r\n"+
		"--zz\r\nContent-Type: %s; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--zz--\r\n",
		subject, ctype, file, file, base64.StdEncoding.EncodeToString(body)))
}

// The report the box sends reads back as the report it meant, through
// the same parser that reads the reports the box receives.
func TestBuiltReportReadsBack(t *testing.T) {
	day := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	doc, err := BuildDMARC(Reporter{Org: "mail.example.test", Email: "postmaster@example.test"}, "r-1",
		Published{Domain: "sender.example", P: "quarantine", Pct: 100}, day, day.Add(24*time.Hour), []Evaluation{
			{SourceIP: "192.0.2.25", HeaderFrom: "sender.example", Count: 7, Disposition: "none", DKIM: "pass", SPF: "pass",
				DKIMAuth: []AuthResult{{Domain: "sender.example", Selector: "s1", Result: "pass"}}, SPFAuth: AuthResult{Domain: "sender.example", Result: "pass"}},
			{SourceIP: "203.0.113.66", HeaderFrom: "sender.example", Count: 1, Disposition: "quarantine", DKIM: "fail", SPF: "fail",
				SPFAuth: AuthResult{Domain: "evil.example", Result: "fail"}},
		})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseDMARC(doc)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	s := Summarize([]Report{r})
	want := "mail.example.test saw 8 messages from sender.example: 7 pass, 1 fail: 1 from 203.0.113.66 (dkim=fail spf=fail disposition=quarantine)"
	if len(s) != 1 || s[0].String() != want || !r.Begin.Equal(day) || !bytes.Contains(doc, []byte("<selector>s1</selector>")) {
		t.Fatalf("%q\n%s", s, doc)
	}
	if _, err := BuildDMARC(Reporter{}, "r-2", Published{Domain: "x.example"}, day, day, nil); err == nil {
		t.Error("an empty report was built")
	}
}
