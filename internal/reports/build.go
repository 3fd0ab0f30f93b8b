package reports

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// Evaluation is what the box found for the messages from one source with
// one result, for a DMARC aggregate report it sends (RFC 7489 7.2).
type Evaluation struct {
	SourceIP    string
	HeaderFrom  string
	Count       int64
	Disposition string // none, quarantine, reject
	DKIM, SPF   string // the policy evaluation: pass or fail (aligned)
	// Reason is a policy override (appendix C PolicyOverrideType:
	// sampled_out, local_policy, ...), "" for none.
	Reason string
	// Auth are the raw results: DKIM signatures and SPF, whether aligned
	// or not.
	DKIMAuth []AuthResult
	SPFAuth  AuthResult
}

// AuthResult is one DKIM signature's or the SPF check's result; Scope
// is SPF's ("mfrom" or "helo").
type AuthResult struct {
	Domain, Result, Selector, Scope string
}

// Published is the policy the report is about, as its domain published it.
type Published struct {
	Domain, ADKIM, ASPF, P, SP string
	Pct                        int
}

// Reporter says who sends a report.
type Reporter struct {
	Org, Email string
}

// BuildDMARC writes the XML of an aggregate report (RFC 7489 appendix C)
// about the messages of one policy domain in [begin, end).
func BuildDMARC(by Reporter, id string, pol Published, begin, end time.Time, evals []Evaluation) ([]byte, error) {
	type authDKIM struct {
		Domain   string `xml:"domain"`
		Selector string `xml:"selector,omitempty"`
		Result   string `xml:"result"`
	}
	type authSPF struct {
		Domain string `xml:"domain"`
		Scope  string `xml:"scope"`
		Result string `xml:"result"`
	}
	type reason struct {
		Type string `xml:"type"`
	}
	type record struct {
		Row struct {
			SourceIP string `xml:"source_ip"`
			Count    int64  `xml:"count"`
			Eval     struct {
				Disposition string   `xml:"disposition"`
				DKIM        string   `xml:"dkim"`
				SPF         string   `xml:"spf"`
				Reason      []reason `xml:"reason,omitempty"`
			} `xml:"policy_evaluated"`
		} `xml:"row"`
		HeaderFrom string `xml:"identifiers>header_from"`
		Auth       struct {
			DKIM []authDKIM `xml:"dkim"`
			SPF  authSPF    `xml:"spf"`
		} `xml:"auth_results"`
	}
	type feedback struct {
		XMLName xml.Name `xml:"feedback"`
		Version string   `xml:"version"`
		Meta    struct {
			Org   string `xml:"org_name"`
			Email string `xml:"email"`
			ID    string `xml:"report_id"`
			Begin int64  `xml:"date_range>begin"`
			End   int64  `xml:"date_range>end"`
		} `xml:"report_metadata"`
		Policy struct {
			Domain string `xml:"domain"`
			ADKIM  string `xml:"adkim"`
			ASPF   string `xml:"aspf"`
			P      string `xml:"p"`
			SP     string `xml:"sp"`
			Pct    int    `xml:"pct"`
		} `xml:"policy_published"`
		Records []record `xml:"record"`
	}
	if len(evals) == 0 {
		return nil, fmt.Errorf("DMARC report for %s: no messages", pol.Domain)
	}
	f := feedback{Version: "1.0"}
	f.Meta.Org, f.Meta.Email, f.Meta.ID = by.Org, by.Email, id
	f.Meta.Begin, f.Meta.End = begin.Unix(), end.Unix()-1
	f.Policy.Domain, f.Policy.ADKIM, f.Policy.ASPF, f.Policy.P, f.Policy.SP, f.Policy.Pct = pol.Domain, or(pol.ADKIM, "r"), or(pol.ASPF, "r"), or(pol.P, "none"), or(pol.SP, pol.P, "none"), pol.Pct
	for _, e := range evals {
		var r record
		r.Row.SourceIP, r.Row.Count, r.HeaderFrom = e.SourceIP, e.Count, e.HeaderFrom
		r.Row.Eval.Disposition, r.Row.Eval.DKIM, r.Row.Eval.SPF = e.Disposition, e.DKIM, e.SPF
		if e.Reason != "" {
			r.Row.Eval.Reason = []reason{{Type: e.Reason}}
		}
		for _, d := range e.DKIMAuth {
			r.Auth.DKIM = append(r.Auth.DKIM, authDKIM{Domain: d.Domain, Selector: d.Selector, Result: d.Result})
		}
		r.Auth.SPF = authSPF{Domain: e.SPFAuth.Domain, Scope: or(e.SPFAuth.Scope, "mfrom"), Result: or(e.SPFAuth.Result, "none")}
		f.Records = append(f.Records, r)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", " ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// DMARCMail is the message that carries an aggregate report (RFC 7489
// 7.2.1.1): the XML gzipped as the one attachment, named
// submitter!policy-domain!begin!end.xml.gz, under the subject "Report
// Domain: D Submitter: S Report-ID: <ID>".
type DMARCMail struct {
	From, Submitter, Domain, ID string
	To                          []string
	Begin, End                  time.Time
	Date                        time.Time
}

// Message returns the message with doc (BuildDMARC's XML) attached.
func (m DMARCMail) Message(doc []byte) ([]byte, error) {
	return Mail{
		From:        "DMARC reports <" + m.From + ">",
		To:          m.To,
		Subject:     fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", m.Domain, m.Submitter, m.ID),
		Date:        m.Date,
		MessageID:   m.ID + "@" + m.Submitter,
		Headers:     []string{"Auto-Submitted: auto-generated"},
		ContentType: "multipart/mixed",
		Boundary:    "dmarc-" + m.ID,
		Text: fmt.Sprintf("This is a DMARC aggregate report (RFC 7489) from %s for %s,\r\n%s to %s.", m.Submitter, m.Domain,
			m.Begin.UTC().Format(time.RFC3339), m.End.UTC().Format(time.RFC3339)),
		FileType: "application/gzip",
		FileName: fmt.Sprintf("%s!%s!%d!%d.xml.gz", m.Submitter, m.Domain, m.Begin.Unix(), m.End.Unix()-1),
		Report:   doc,
	}.Message()
}

// Mail is the envelope both kinds of aggregate report travel in (RFC 7489
// 7.2.1.1, RFC 8460 5.3): a multipart message with a short text part and
// the report, gzipped, as its one base64 attachment. The fields are the
// box's own values (domains, ids it made), never a stranger's text.
type Mail struct {
	From        string   // the whole From: value, e.g. `TLS reports <MAILER-DAEMON@box>`
	To          []string // addresses
	Subject     string
	Date        time.Time
	MessageID   string   // without the angle brackets
	Headers     []string // more header lines, "Name: value"
	ContentType string   // the multipart type and its parameters, without the boundary
	Boundary    string
	Text        string // the text part, lines ended by CRLF
	FileType    string // the attachment's media type
	FileName    string
	Report      []byte // the report before gzip
}

// Message gzips the report and returns the whole message.
func (m Mail) Message() ([]byte, error) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(m.Report); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: %s", m.From)
	w("To: %s", strings.Join(m.To, ", "))
	w("Subject: %s", m.Subject)
	w("Date: %s", m.Date.Format(time.RFC1123Z))
	w("Message-ID: <%s>", m.MessageID)
	for _, h := range m.Headers {
		w("%s", h)
	}
	w("MIME-Version: 1.0")
	w("Content-Type: %s; boundary=\"%s\"", m.ContentType, m.Boundary)
	w("")
	w("--%s", m.Boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("")
	w("%s", m.Text)
	w("--%s", m.Boundary)
	w("Content-Type: %s; name=\"%s\"", m.FileType, m.FileName)
	w("Content-Transfer-Encoding: base64")
	w("Content-Disposition: attachment; filename=\"%s\"", m.FileName)
	w("")
	enc := base64.StdEncoding.EncodeToString(gz.Bytes())
	for len(enc) > 76 {
		w("%s", enc[:76])
		enc = enc[76:]
	}
	w("%s", enc)
	w("--%s--", m.Boundary)
	return []byte(b.String()), nil
}
