package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
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
	// Auth are the raw results: DKIM signatures and SPF, whether aligned
	// or not.
	DKIMAuth []AuthResult
	SPFAuth  AuthResult
}

// AuthResult is one DKIM signature's or the SPF check's result.
type AuthResult struct {
	Domain, Result, Selector string
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
		Result string `xml:"result"`
	}
	type record struct {
		Row struct {
			SourceIP string `xml:"source_ip"`
			Count    int64  `xml:"count"`
			Eval     struct {
				Disposition string `xml:"disposition"`
				DKIM        string `xml:"dkim"`
				SPF         string `xml:"spf"`
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
		for _, d := range e.DKIMAuth {
			r.Auth.DKIM = append(r.Auth.DKIM, authDKIM{Domain: d.Domain, Selector: d.Selector, Result: d.Result})
		}
		r.Auth.SPF = authSPF{Domain: e.SPFAuth.Domain, Result: or(e.SPFAuth.Result, "none")}
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
