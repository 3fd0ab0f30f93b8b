package store

// The DMARC evaluations of inbound mail, kept for the aggregate reports
// the box sends (RFC 7489 7.2) to the domains that ask for them (rua=):
// counted per day, policy domain, source address and identical results,
// not per message; the policy each domain published that day beside.
// The count of a delivered message rides in its delivery's transaction
// (Delivery.DMARC), so recording costs the SMTP path no commit of its
// own; a refused message's is a write of its own (AddDMARCEvaluation).
// A day keeps at most MaxDMARCRowsPerDay rows and a domain's day
// MaxDMARCRowsPerDomainDay: past them, new kinds of rows are dropped
// (existing ones still count). Rows leave when their report is queued
// (SettleDMARCReport) or, unsent, after PruneDMARCRecords' age.
// Plain SQL with ? placeholders and ON CONFLICT, for the PostgreSQL port.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Caps of the DMARC rows kept per day (see the file comment).
const (
	MaxDMARCRowsPerDay       = 20000
	MaxDMARCRowsPerDomainDay = 500
)

// DMARCPolicyRow is a policy as its domain published it on a day.
type DMARCPolicyRow struct {
	Day, Domain string
	P, SP       string
	ADKIM, ASPF string
	Pct         int
	RUA         []string
}

// DMARCAuth is one DKIM signature's result.
type DMARCAuth struct {
	Domain, Selector, Result string
}

// DMARCEvaluation is what the box found for one message (Count 1) or,
// read back (DMARCRecords), for Count messages with the same results.
type DMARCEvaluation struct {
	At     time.Time      // when (its UTC day is the row's); read back: zero
	Policy DMARCPolicyRow // Day is filled from At
	// The row: where from, the identifiers and the results.
	SourceIP, HeaderFrom string
	SPFDomain, SPFScope  string // the MAIL FROM domain ("mfrom") or HELO name ("helo")
	SPFResult            string
	DKIM                 []DMARCAuth
	Disposition          string // none, quarantine, reject
	DKIMEval, SPFEval    string // pass or fail (aligned)
	Reason               string // a policy override (RFC 7489 appendix C), e.g. sampled_out
	Count                int64
}

// ErrReported is SettleDMARCReport's answer when the rows were reported
// by another process meanwhile: nothing was queued.
var ErrReported = errors.New("these DMARC rows were already reported")

// dkimColumn is the DKIM results as one key column: "domain selector
// result" per signature, sorted, joined by ";".
func dkimColumn(as []DMARCAuth) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		parts = append(parts, strings.Join([]string{a.Domain, a.Selector, a.Result}, " "))
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

func parseDKIMColumn(s string) []DMARCAuth {
	var out []DMARCAuth
	for _, p := range strings.Split(s, ";") {
		f := strings.Split(p, " ")
		if len(f) == 3 {
			out = append(out, DMARCAuth{Domain: f[0], Selector: f[1], Result: f[2]})
		}
	}
	return out
}

// dmarcKey is the WHERE of one row, and its arguments.
const dmarcKey = `day = ? AND domain = ? AND source_ip = ? AND header_from = ? AND spf_domain = ? AND spf_scope = ? AND spf_result = ?
	AND dkim = ? AND disposition = ? AND dkim_eval = ? AND spf_eval = ? AND reason = ?`

func (e DMARCEvaluation) key(day string) []any {
	return []any{day, e.Policy.Domain, e.SourceIP, e.HeaderFrom, e.SPFDomain, e.SPFScope, e.SPFResult, dkimColumn(e.DKIM), e.Disposition, e.DKIMEval, e.SPFEval, e.Reason}
}

// AddDMARCEvaluation counts one message's evaluation in a write of its
// own (a refused message has no delivery to ride in).
func (s *Store) AddDMARCEvaluation(ctx context.Context, e DMARCEvaluation) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error { return addDMARCEvaluation(ctx, tx, e) })
}

// addDMARCEvaluation counts e in tx: one more on its row, or a new row
// within the caps (over them, nothing: the message is not reported).
func addDMARCEvaluation(ctx context.Context, tx *Tx, e DMARCEvaluation) error {
	if e.Policy.Domain == "" {
		return fmt.Errorf("DMARC evaluation without a policy domain: %w", ErrInvalid)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	day := e.At.UTC().Format(time.DateOnly)
	key := e.key(day)
	res, err := tx.exec(ctx, `UPDATE dmarc_records SET count = count + 1 WHERE `+dmarcKey, key...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var inDay, inDomain int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM dmarc_records WHERE day = ?`, day).Scan(&inDay); err != nil {
		return err
	}
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM dmarc_records WHERE day = ? AND domain = ?`, day, e.Policy.Domain).Scan(&inDomain); err != nil {
		return err
	}
	if inDay >= MaxDMARCRowsPerDay || inDomain >= MaxDMARCRowsPerDomainDay {
		return nil
	}
	p := e.Policy
	if _, err := tx.exec(ctx, `INSERT INTO dmarc_policies(day, domain, p, sp, adkim, aspf, pct, rua) VALUES(?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(day, domain) DO UPDATE SET p = excluded.p, sp = excluded.sp, adkim = excluded.adkim, aspf = excluded.aspf, pct = excluded.pct, rua = excluded.rua`,
		day, p.Domain, p.P, p.SP, p.ADKIM, p.ASPF, p.Pct, strings.Join(p.RUA, ",")); err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO dmarc_records(day, domain, source_ip, header_from, spf_domain, spf_scope, spf_result, dkim, disposition, dkim_eval, spf_eval, reason, count)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT(day, domain, source_ip, header_from, spf_domain, spf_scope, spf_result, dkim, disposition, dkim_eval, spf_eval, reason) DO UPDATE SET count = dmarc_records.count + 1`, key...)
	return err
}

// DMARCRecords returns the counted rows of the days up to until
// (inclusive, YYYY-MM-DD), each with its day's policy, by day and domain.
func (s *Store) DMARCRecords(ctx context.Context, until string) ([]DMARCEvaluation, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT r.day, r.domain, r.source_ip, r.header_from, r.spf_domain, r.spf_scope, r.spf_result, r.dkim, r.disposition,
		r.dkim_eval, r.spf_eval, r.reason, r.count, p.p, p.sp, p.adkim, p.aspf, p.pct, p.rua
		FROM dmarc_records r JOIN dmarc_policies p ON p.day = r.day AND p.domain = r.domain
		WHERE r.day <= ? AND r.count > 0
		ORDER BY r.day, r.domain, r.source_ip, r.header_from, r.spf_domain, r.spf_scope, r.spf_result, r.dkim, r.disposition, r.dkim_eval, r.spf_eval, r.reason`, until)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DMARCEvaluation
	for rows.Next() {
		var e DMARCEvaluation
		var dkim, rua string
		p := &e.Policy
		if err := rows.Scan(&p.Day, &p.Domain, &e.SourceIP, &e.HeaderFrom, &e.SPFDomain, &e.SPFScope, &e.SPFResult, &dkim, &e.Disposition,
			&e.DKIMEval, &e.SPFEval, &e.Reason, &e.Count, &p.P, &p.SP, &p.ADKIM, &p.ASPF, &p.Pct, &rua); err != nil {
			return nil, err
		}
		e.DKIM = parseDKIMColumn(dkim)
		if rua != "" {
			p.RUA = strings.Split(rua, ",")
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SettleDMARCReport takes rows (as DMARCRecords read them, all of one
// day and domain) off the counts and, in the same transaction, queues
// report (nil: the rows are only dropped, as for a domain whose report
// cannot be sent). Counts added since the read stay for the next report.
// When another process settled the rows first, it is ErrReported and
// nothing is queued.
func (s *Store) SettleDMARCReport(ctx context.Context, rows []DMARCEvaluation, report *Delivery) error {
	if len(rows) == 0 {
		return nil
	}
	var b body
	if report != nil {
		var err error
		if b, err = s.prepareBody(nil, report.Data); err != nil {
			return err
		}
	}
	day, domain := rows[0].Policy.Day, rows[0].Policy.Domain
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		for _, r := range rows {
			if r.Policy.Day != day || r.Policy.Domain != domain {
				return fmt.Errorf("DMARC rows of several days or domains: %w", ErrInvalid)
			}
			res, err := tx.exec(ctx, `UPDATE dmarc_records SET count = count - ? WHERE `+dmarcKey+` AND count >= ?`,
				append(append([]any{r.Count}, r.key(day)...), r.Count)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return ErrReported
			}
		}
		if _, err := tx.exec(ctx, `DELETE FROM dmarc_records WHERE day = ? AND domain = ? AND count <= 0`, day, domain); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM dmarc_policies WHERE day = ? AND domain = ?
			AND NOT EXISTS (SELECT 1 FROM dmarc_records WHERE day = ? AND domain = ?)`, day, domain, day, domain); err != nil {
			return err
		}
		if report == nil {
			return nil
		}
		_, err := deliverTx(ctx, tx, *report, b)
		return err
	})
	if err != nil && report != nil {
		s.discardBody(b)
	}
	return err
}

// PruneDMARCRecords drops the rows of the days before day (YYYY-MM-DD):
// those never reported in time.
func (s *Store) PruneDMARCRecords(ctx context.Context, before string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM dmarc_records WHERE day < ?`, before); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `DELETE FROM dmarc_policies WHERE day < ?`, before)
		return err
	})
}

// DMARCPendingDomain is what is counted for one domain's reports.
type DMARCPendingDomain struct {
	Domain string
	Count  int64 // messages
	Days   int
}

// DMARCPending sums the unreported rows per policy domain, the busiest
// first (at most 100 domains).
func (s *Store) DMARCPending(ctx context.Context) ([]DMARCPendingDomain, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT domain, SUM(count), COUNT(DISTINCT day) FROM dmarc_records WHERE count > 0
		GROUP BY domain ORDER BY SUM(count) DESC, domain LIMIT 100`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DMARCPendingDomain
	for rows.Next() {
		var p DMARCPendingDomain
		if err := rows.Scan(&p.Domain, &p.Count, &p.Days); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
