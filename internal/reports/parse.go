package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxRows is how many rows (records, failure details) one report may
// hold; a bigger one is refused rather than kept in part.
const maxRows = 100_000

// ParseDMARC reads a DMARC aggregate report (RFC 7489 appendix C).
func ParseDMARC(doc []byte) (Report, error) {
	var f struct {
		Meta struct {
			Org   string `xml:"org_name"`
			ID    string `xml:"report_id"`
			Range struct {
				Begin string `xml:"begin"`
				End   string `xml:"end"`
			} `xml:"date_range"`
		} `xml:"report_metadata"`
		Policy struct {
			Domain string `xml:"domain"`
		} `xml:"policy_published"`
		Records []struct {
			Row struct {
				Source string `xml:"source_ip"`
				Count  string `xml:"count"`
				Eval   struct {
					Disposition string `xml:"disposition"`
					DKIM        string `xml:"dkim"`
					SPF         string `xml:"spf"`
				} `xml:"policy_evaluated"`
			} `xml:"row"`
		} `xml:"record"`
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	if err := d.Decode(&f); err != nil {
		return Report{}, fmt.Errorf("DMARC report: not the XML of RFC 7489: %w", err)
	}
	r := Report{Kind: DMARC, Org: clean(f.Meta.Org), ID: clean(f.Meta.ID), Domain: strings.ToLower(clean(f.Policy.Domain))}
	if r.Org == "" || r.ID == "" || r.Domain == "" {
		return Report{}, errors.New("DMARC report: org_name, report_id or the published policy's domain is missing")
	}
	var err error
	if r.Begin, err = unixTime(f.Meta.Range.Begin); err != nil {
		return Report{}, fmt.Errorf("DMARC report %s: date_range begin: %w", r.ID, err)
	}
	if r.End, err = unixTime(f.Meta.Range.End); err != nil {
		return Report{}, fmt.Errorf("DMARC report %s: date_range end: %w", r.ID, err)
	}
	if len(f.Records) > maxRows {
		return Report{}, fmt.Errorf("DMARC report %s: %d records, more than %d", r.ID, len(f.Records), maxRows)
	}
	for i, rec := range f.Records {
		n, err := strconv.ParseInt(strings.TrimSpace(rec.Row.Count), 10, 64)
		if err != nil || n < 0 {
			return Report{}, fmt.Errorf("DMARC report %s: record %d: count %q is not a number", r.ID, i+1, rec.Row.Count)
		}
		e := rec.Row.Eval
		dkim, spf := strings.ToLower(clean(e.DKIM)), strings.ToLower(clean(e.SPF))
		r.Rows = append(r.Rows, Row{
			Source: clean(rec.Row.Source), Count: n, Pass: dkim == "pass" || spf == "pass",
			Detail: fmt.Sprintf("dkim=%s spf=%s disposition=%s", or(dkim, "none"), or(spf, "none"), or(strings.ToLower(clean(e.Disposition)), "none")),
		})
	}
	return r, nil
}

// ParseTLS reads an SMTP TLS report (RFC 8460 section 4).
func ParseTLS(doc []byte) (Report, error) {
	var f struct {
		Org   string `json:"organization-name"`
		ID    string `json:"report-id"`
		Range struct {
			Start time.Time `json:"start-datetime"`
			End   time.Time `json:"end-datetime"`
		} `json:"date-range"`
		Policies []struct {
			Policy struct {
				Type   string `json:"policy-type"`
				Domain string `json:"policy-domain"`
			} `json:"policy"`
			Summary struct {
				OK   int64 `json:"total-successful-session-count"`
				Fail int64 `json:"total-failure-session-count"`
			} `json:"summary"`
			Failures []struct {
				Result string `json:"result-type"`
				MX     string `json:"receiving-mx-hostname"`
				IP     string `json:"receiving-ip"`
				Count  int64  `json:"failed-session-count"`
			} `json:"failure-details"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(doc, &f); err != nil {
		return Report{}, fmt.Errorf("TLS report: not the JSON of RFC 8460: %w", err)
	}
	r := Report{Kind: TLS, Org: clean(f.Org), ID: clean(f.ID), Begin: f.Range.Start.UTC(), End: f.Range.End.UTC()}
	if r.Org == "" || r.ID == "" || len(f.Policies) == 0 {
		return Report{}, errors.New("TLS report: organization-name, report-id or policies missing")
	}
	r.Domain = strings.ToLower(clean(f.Policies[0].Policy.Domain))
	for _, p := range f.Policies {
		dom := strings.ToLower(clean(p.Policy.Domain))
		if dom != r.Domain {
			return Report{}, fmt.Errorf("TLS report %s: policies for %s and %s in one report", r.ID, r.Domain, dom)
		}
		if p.Summary.OK < 0 || p.Summary.Fail < 0 {
			return Report{}, fmt.Errorf("TLS report %s: negative session counts", r.ID)
		}
		kind := clean(p.Policy.Type)
		r.Rows = append(r.Rows, Row{Source: dom, Count: p.Summary.OK, Pass: true, Detail: kind})
		var detailed int64
		for _, fd := range p.Failures {
			if len(r.Rows) >= maxRows {
				return Report{}, fmt.Errorf("TLS report %s: more than %d failure details", r.ID, maxRows)
			}
			if fd.Count < 0 {
				return Report{}, fmt.Errorf("TLS report %s: a negative failed-session-count", r.ID)
			}
			r.Rows = append(r.Rows, Row{Source: or(clean(fd.MX), clean(fd.IP), dom), Count: fd.Count, Detail: clean(fd.Result)})
			detailed += fd.Count
		}
		if rest := p.Summary.Fail - detailed; rest > 0 { // failures without details
			r.Rows = append(r.Rows, Row{Source: dom, Count: rest, Detail: "unspecified"})
		}
	}
	if r.Domain == "" {
		return Report{}, errors.New("TLS report: the policy domain is missing")
	}
	return r, nil
}

// unixTime reads the seconds since 1970 of a DMARC date_range.
func unixTime(s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("%q is not a time in seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// clean trims a stranger's field and cuts it to a sane length, without
// control characters (it ends up on the admin's terminal).
func clean(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 255 {
		s = s[:255]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// or is the first non-empty string.
func or(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
