package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Evaluations with the same results count on one row, in a delivery's
// transaction or alone; a report settles exactly the counts it read, and
// a second settle of the same rows is ErrReported.
func TestDMARCRecordsCountAndSettle(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	e := DMARCEvaluation{At: at, Policy: DMARCPolicyRow{Domain: "bee.test", P: "none", SP: "none", ADKIM: "r", ASPF: "r", Pct: 100, RUA: []string{"mailto:postmaster@bee.test"}},
		SourceIP: "192.0.2.1", HeaderFrom: "bee.test", SPFDomain: "bee.test", SPFScope: "mfrom", SPFResult: "pass",
		DKIM: []DMARCAuth{{Domain: "bee.test", Selector: "s1", Result: "pass"}}, Disposition: "none", DKIMEval: "pass", SPFEval: "pass"}
	acc := newAccount(t, s, "me@example.test").ID
	if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nhi\r\n"), Local: []LocalTarget{{AccountID: acc}}, DMARC: &e}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDMARCEvaluation(ctx, e); err != nil {
		t.Fatal(err)
	}
	other := e
	other.SourceIP, other.SPFResult, other.SPFEval, other.DKIM, other.DKIMEval, other.Disposition = "198.51.100.7", "fail", "fail", nil, "fail", "reject"
	if err := s.AddDMARCEvaluation(ctx, other); err != nil {
		t.Fatal(err)
	}
	rows, err := s.DMARCRecords(ctx, "2026-12-05")
	if err != nil || len(rows) != 2 {
		t.Fatalf("%+v %v", rows, err)
	}
	if r := rows[0]; r.Count != 2 || r.SourceIP != "192.0.2.1" || len(r.DKIM) != 1 || r.DKIM[0].Selector != "s1" || r.Policy.RUA[0] != "mailto:postmaster@bee.test" || r.Policy.Day != "2026-12-05" {
		t.Errorf("row 0: %+v", r)
	}
	if r := rows[1]; r.Count != 1 || r.Disposition != "reject" || len(r.DKIM) != 0 {
		t.Errorf("row 1: %+v", r)
	}
	if err := s.AddDMARCEvaluation(ctx, e); err != nil { // after the read: kept for the next report
		t.Fatal(err)
	}
	rep := &Delivery{Data: []byte("Subject: Report Domain: bee.test\r\n\r\nreport\r\n"), Remote: []string{"postmaster@bee.test"}}
	if err := s.SettleDMARCReport(ctx, rows, rep); err != nil {
		t.Fatal(err)
	}
	if err := s.SettleDMARCReport(ctx, rows, rep); !errors.Is(err, ErrReported) {
		t.Fatalf("second settle: %v", err)
	}
	if q, err := s.Queue(ctx); err != nil || len(q) != 1 {
		t.Fatalf("queue %+v %v", q, err)
	}
	left, err := s.DMARCRecords(ctx, "2026-12-05")
	if err != nil || len(left) != 1 || left[0].Count != 1 || left[0].SourceIP != "192.0.2.1" {
		t.Fatalf("left %+v %v", left, err)
	}
	if err := s.PruneDMARCRecords(ctx, "2026-12-06"); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.DMARCRecords(ctx, "2999-01-01"); len(left) != 0 {
		t.Fatalf("after prune %+v", left)
	}
}

// A domain's day keeps at most MaxDMARCRowsPerDomainDay rows; those kept
// still count.
func TestDMARCRecordsCapped(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	e := DMARCEvaluation{At: at, Policy: DMARCPolicyRow{Domain: "bee.test", P: "none"}, HeaderFrom: "bee.test", Disposition: "none", DKIMEval: "fail", SPFEval: "fail"}
	for i := range MaxDMARCRowsPerDomainDay + 5 {
		e.SourceIP = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		if err := s.AddDMARCEvaluation(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	e.SourceIP = "10.0.0.0"
	if err := s.AddDMARCEvaluation(ctx, e); err != nil {
		t.Fatal(err)
	}
	rows, err := s.DMARCRecords(ctx, "2026-12-05")
	if err != nil || len(rows) != MaxDMARCRowsPerDomainDay || rows[0].Count != 2 {
		t.Fatalf("%d rows, first %+v, %v", len(rows), rows[0], err)
	}
}

// BenchmarkDeliverBlobWithDMARC is BenchmarkDeliverBlob with each
// message's DMARC evaluation counted in its delivery (16 sources): the
// commits per message must stay those of BenchmarkDeliverBlob.
func BenchmarkDeliverBlobWithDMARC(b *testing.B) {
	s, accounts := benchAccounts(b)
	body := benchBody()
	ctx := context.Background()
	runWriters(b, s, accounts, func(w int, account int64) error {
		e := DMARCEvaluation{Policy: DMARCPolicyRow{Domain: "bee.test", P: "none", RUA: []string{"mailto:postmaster@bee.test"}},
			SourceIP: fmt.Sprintf("192.0.2.%d", w%16), HeaderFrom: "bee.test", SPFResult: "pass", Disposition: "none", DKIMEval: "pass", SPFEval: "pass"}
		return s.Deliver(ctx, Delivery{Data: body, Local: []LocalTarget{{AccountID: account}}, DMARC: &e})
	})
}
