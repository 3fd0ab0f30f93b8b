package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"boxmail/internal/reports"
	"boxmail/internal/store"
)

// The day after, each policy domain's counted evaluations go as one
// gzipped aggregate report to the rua= addresses that may take it: the
// domain's own, an outside one that agreed (RFC 7489 7.1); not one that
// did not agree, one whose !size is too small, one of the box's own
// domains, nor an https: URI. The receiver reads the report back, and
// the rows are gone.
func TestTheDailyDMARCReportGoesToTheAddressesThatTakeIt(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	f := newQueueFixture(t, portOf(r.addr), "friends.example. MX 10 mx.friends.example.", "thirdparty.example. MX 10 mx.friends.example.",
		"mx.friends.example. A 127.0.0.1", `friends.example._report._dmarc.thirdparty.example. TXT "v=DMARC1"`)
	ctx := context.Background()
	// Counted today (from midnight UTC on): an hour ago is yesterday
	// between 00:00 and 01:00, and the queue's first pass would report it
	// at once.
	at := f.clock().UTC().Truncate(24 * time.Hour)
	pol := store.DMARCPolicyRow{Domain: "friends.example", P: "quarantine", ADKIM: "r", ASPF: "r", Pct: 100,
		RUA: []string{"mailto:dmarc@friends.example", "mailto:agg@thirdparty.example", "mailto:agg@elsewhere.example", "mailto:tiny@friends.example!100",
			"mailto:me@example.net", "https://reports.friends.example/dmarc"}}
	pass := store.DMARCEvaluation{At: at, Policy: pol, SourceIP: "192.0.2.1", HeaderFrom: "friends.example", SPFDomain: "friends.example", SPFScope: "mfrom", SPFResult: "pass",
		DKIM: []store.DMARCAuth{{Domain: "friends.example", Selector: "s1", Result: "pass"}}, Disposition: "none", DKIMEval: "pass", SPFEval: "pass"}
	fail := pass
	fail.SourceIP, fail.SPFResult, fail.SPFEval, fail.DKIM, fail.DKIMEval, fail.Disposition = "203.0.113.9", "fail", "fail", nil, "fail", "quarantine"
	for _, e := range []store.DMARCEvaluation{pass, pass, fail} {
		if err := f.st.AddDMARCEvaluation(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	f.advance(25 * time.Hour)
	// One queue entry per recipient domain: two copies.
	waitFor(t, "the reports", func() bool { return len(r.messages()) == 2 })
	var rcpts []string
	for _, m := range r.messages() {
		if m.from != "" {
			t.Errorf("report from %q", m.from)
		}
		rcpts = append(rcpts, m.rcpts...)
	}
	slices.Sort(rcpts)
	if fmt.Sprint(rcpts) != "[agg@thirdparty.example dmarc@friends.example]" {
		t.Errorf("reports to %v", rcpts)
	}
	rep := r.messages()[0]
	for _, want := range []string{"From: DMARC reports <postmaster@example.net>", "Subject: Report Domain: friends.example Submitter: example.net Report-ID: <",
		"Content-Type: application/gzip", "filename=\"example.net!friends.example!", ".xml.gz\""} {
		if !strings.Contains(rep.data, want) {
			t.Errorf("report lacks %q:\n%s", want, rep.data)
		}
	}
	got, err := reports.FromMessage([]byte(rep.data))
	if err != nil || len(got) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	want := "example.net saw 3 messages from friends.example: 2 pass, 1 fail: 1 from 203.0.113.9 (dkim=fail spf=fail disposition=quarantine)"
	if s := reports.Summarize(got); len(s) != 1 || s[0].String() != want {
		t.Errorf("%q, want %q", s, want)
	}
	if left, _ := f.st.DMARCRecords(ctx, "2999-12-31"); len(left) != 0 {
		t.Errorf("rows after reporting: %+v", left)
	}
}

func TestParseRUA(t *testing.T) {
	for in, want := range map[string]ruaDest{
		"mailto:a@b.example":      {addr: "a@b.example"},
		" MAILTO:a@b.example!10m": {addr: "a@b.example", max: 10 << 20},
		"mailto:a@b.example!500":  {addr: "a@b.example", max: 500},
	} {
		if got, ok := parseRUA(in); !ok || got != want {
			t.Errorf("%q: %+v %v", in, got, ok)
		}
	}
	for _, in := range []string{"https://b.example/", "mailto:", "mailto:a@b.example!", "mailto:a@b.example!x", "mailto:a@b.example!-1k"} {
		if got, ok := parseRUA(in); ok {
			t.Errorf("%q taken: %+v", in, got)
		}
	}
}

// FuzzParseRUA: a rua= URI from anyone's DNS gives an address with a
// sane limit, or nothing; never a panic.
func FuzzParseRUA(f *testing.F) {
	for _, s := range []string{"mailto:a@b.example", "mailto:a@b.example!10m", "mailto:x!99999999999999t", "https://x/", "mailto:!", "MAILTO:a@b!0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		d, ok := parseRUA(uri)
		if ok && (d.addr == "" || d.max < 0) {
			t.Fatalf("%q: %+v", uri, d)
		}
	})
}
