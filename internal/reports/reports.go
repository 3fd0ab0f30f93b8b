// Package reports reads the aggregate reports other mail systems send
// about the box's domains, DMARC aggregate reports (RFC 7489 section 7.2:
// XML, mostly zipped or gzipped) and SMTP TLS reports (RFC 8460: JSON,
// mostly gzipped), out of the message that carries them, and sums them
// up for the admin ("google.com saw 412 messages from example.org: 410
// pass, 2 fail from 203.0.113.9").
//
// It also writes the box's own DMARC aggregate reports (BuildDMARC, and
// DMARCMail for the message that carries one); it is not where reports
// are kept (store), does not decide to whom or when they go (delivery),
// and fetches nothing. Everything it reads comes from a stranger:
// each attachment, decompressed size and XML/JSON document is capped, and
// a malformed one is an error naming what is wrong, never a panic.
package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind tells the two kinds of report apart.
type Kind string

const (
	DMARC Kind = "dmarc"  // RFC 7489 aggregate report
	TLS   Kind = "tlsrpt" // RFC 8460 SMTP TLS report
)

// Report is one received aggregate report, reduced to what the summary
// shows.
type Report struct {
	Kind   Kind      `json:"kind"`
	Org    string    `json:"org"`    // who sent it ("google.com")
	ID     string    `json:"id"`     // the sender's report ID
	Domain string    `json:"domain"` // the box's domain it is about
	Begin  time.Time `json:"begin"`
	End    time.Time `json:"end"`
	Rows   []Row     `json:"rows"`
}

// Row is one line of a report: for DMARC, the messages from one sending
// address with one result; for TLS, the successful sessions to a policy
// domain or the failed ones to one MX host with one result type.
type Row struct {
	Source string `json:"source"` // DMARC: the sending IP; TLS: the MX host or the policy domain
	Count  int64  `json:"count"`  // messages (DMARC) or sessions (TLS)
	Pass   bool   `json:"pass"`   // DMARC: DKIM or SPF passed aligned; TLS: the sessions succeeded
	Detail string `json:"detail,omitempty"`
}

// Summary is what the reports of one sender say about one domain.
type Summary struct {
	Kind        Kind
	Org, Domain string
	Reports     int
	Begin, End  time.Time
	Total, Pass int64
	// Failing are the sources of failures, most first.
	Failing []SourceCount
}

// SourceCount is how many failures came from (or went to) one source.
type SourceCount struct {
	Source, Detail string
	Count          int64
}

// Summarize groups reports by kind, sender and domain, the busiest first.
func Summarize(rs []Report) []Summary {
	type key struct {
		kind        Kind
		org, domain string
	}
	byKey := map[key]*Summary{}
	fails := map[key]map[[2]string]int64{}
	for _, r := range rs {
		k := key{r.Kind, r.Org, r.Domain}
		s := byKey[k]
		if s == nil {
			s = &Summary{Kind: r.Kind, Org: r.Org, Domain: r.Domain, Begin: r.Begin, End: r.End}
			byKey[k], fails[k] = s, map[[2]string]int64{}
		}
		s.Reports++
		if r.Begin.Before(s.Begin) {
			s.Begin = r.Begin
		}
		if r.End.After(s.End) {
			s.End = r.End
		}
		for _, row := range r.Rows {
			s.Total += row.Count
			if row.Pass {
				s.Pass += row.Count
			} else if row.Count > 0 {
				fails[k][[2]string{row.Source, row.Detail}] += row.Count
			}
		}
	}
	out := make([]Summary, 0, len(byKey))
	for k, s := range byKey {
		for src, n := range fails[k] {
			s.Failing = append(s.Failing, SourceCount{Source: src[0], Detail: src[1], Count: n})
		}
		slices.SortFunc(s.Failing, func(a, b SourceCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Source, b.Source), strings.Compare(a.Detail, b.Detail))
		})
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), cmp.Compare(b.Total, a.Total), strings.Compare(a.Org, b.Org), strings.Compare(a.Domain, b.Domain))
	})
	return out
}

// maxFailingShown is how many failing sources String names.
const maxFailingShown = 5

// String is the summary in one sentence, with up to maxFailingShown
// failing sources.
func (s Summary) String() string {
	what := "messages from"
	if s.Kind == TLS {
		what = "TLS sessions to"
	}
	line := fmt.Sprintf("%s saw %d %s %s: %d pass, %d fail", s.Org, s.Total, what, s.Domain, s.Pass, s.Total-s.Pass)
	var parts []string
	for i, f := range s.Failing {
		if i == maxFailingShown {
			parts = append(parts, fmt.Sprintf("%d more", len(s.Failing)-i))
			break
		}
		p := fmt.Sprintf("%d from %s", f.Count, f.Source)
		if s.Kind == TLS {
			p = fmt.Sprintf("%d to %s", f.Count, f.Source)
		}
		if f.Detail != "" {
			p += " (" + f.Detail + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, ", ")
	}
	return line
}
