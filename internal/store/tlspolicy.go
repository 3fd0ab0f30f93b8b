package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Outbound transport security (issue 22): the MTA-STS policy cache
// (RFC 8461 5.1), the REQUIRETLS mark of queued messages (RFC 8689) and
// the daily counts of outbound TLS session results that TLS-RPT
// (RFC 8460) reports. delivery decides; the store only keeps.

// MTASTSPolicy is a cached MTA-STS policy of a recipient domain.
type MTASTSPolicy struct {
	Domain  string
	ID      string // the id= of the _mta-sts TXT record it was fetched for
	Text    string // the policy file as served
	Fetched time.Time
	Expires time.Time
}

// MTASTSPolicy returns the cached policy of domain; ok is false when
// none is cached.
func (s *Store) MTASTSPolicy(ctx context.Context, domain string) (p MTASTSPolicy, ok bool, err error) {
	var f, e int64
	err = s.rdb.QueryRowContext(ctx, "SELECT domain, policy_id, policy, fetched, expires FROM mtasts_policies WHERE domain = ?", domain).
		Scan(&p.Domain, &p.ID, &p.Text, &f, &e)
	if errors.Is(err, sql.ErrNoRows) {
		return MTASTSPolicy{}, false, nil
	}
	if err != nil {
		return MTASTSPolicy{}, false, err
	}
	p.Fetched, p.Expires = time.Unix(f, 0), time.Unix(e, 0)
	return p, true, nil
}

// PutMTASTSPolicy stores (replaces) the cached policy of p.Domain.
func (s *Store) PutMTASTSPolicy(ctx context.Context, p MTASTSPolicy) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO mtasts_policies(domain, policy_id, policy, fetched, expires) VALUES(?, ?, ?, ?, ?)
			ON CONFLICT(domain) DO UPDATE SET policy_id = excluded.policy_id, policy = excluded.policy, fetched = excluded.fetched, expires = excluded.expires`,
			p.Domain, p.ID, p.Text, p.Fetched.Unix(), p.Expires.Unix())
		return err
	})
}

// DeleteMTASTSPolicy drops the cached policy of domain (its _mta-sts
// record is gone and the policy expired).
func (s *Store) DeleteMTASTSPolicy(ctx context.Context, domain string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM mtasts_policies WHERE domain = ?", domain)
		return err
	})
}

// markRequireTLS marks queue rows whose sender asked for REQUIRETLS, in
// the transaction that made them, so the queue never sees them unmarked.
func markRequireTLS(ctx context.Context, tx *Tx, ids []int64) error {
	for _, id := range ids {
		if _, err := tx.exec(ctx, "INSERT INTO queue_requiretls(queue_id) VALUES(?) ON CONFLICT DO NOTHING", id); err != nil {
			return err
		}
	}
	return nil
}

// QueueRequiresTLS reports whether the queue entry's sender asked for
// REQUIRETLS (RFC 8689).
func (s *Store) QueueRequiresTLS(ctx context.Context, queueID int64) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM queue_requiretls WHERE queue_id = ?", queueID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// TLSResult is one outcome of an outbound TLS session, or a day's count
// of them (TLSResults).
type TLSResult struct {
	Day        string // YYYY-MM-DD, UTC
	Domain     string
	PolicyType string // "sts", "tlsa", "no-policy-found"
	Policy     string
	MXHost     string
	Result     string // "success" or an RFC 8460 result type
	Detail     string
	Count      int
}

// AddTLSResult counts one session outcome on its day (r.Count ignored).
func (s *Store) AddTLSResult(ctx context.Context, at time.Time, r TLSResult) error {
	day := at.UTC().Format(time.DateOnly)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO tls_results(day, domain, policy_type, policy, mx_host, result, detail, count) VALUES(?, ?, ?, ?, ?, ?, ?, 1)
			ON CONFLICT(day, domain, policy_type, mx_host, result) DO UPDATE SET count = tls_results.count + 1, policy = excluded.policy, detail = excluded.detail`,
			day, r.Domain, r.PolicyType, r.Policy, r.MXHost, r.Result, r.Detail)
		return err
	})
}

// TLSResults returns the counted outcomes of the days from since to
// until (inclusive, YYYY-MM-DD), by day, domain, policy type, host and
// result.
func (s *Store) TLSResults(ctx context.Context, since, until string) ([]TLSResult, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT day, domain, policy_type, policy, mx_host, result, detail, count FROM tls_results
		WHERE day >= ? AND day <= ? ORDER BY day, domain, policy_type, mx_host, result`, since, until)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TLSResult
	for rows.Next() {
		var r TLSResult
		if err := rows.Scan(&r.Day, &r.Domain, &r.PolicyType, &r.Policy, &r.MXHost, &r.Result, &r.Detail, &r.Count); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteTLSResults drops the counts of domain's day (once reported).
func (s *Store) DeleteTLSResults(ctx context.Context, day, domain string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM tls_results WHERE day = ? AND domain = ?", day, domain)
		return err
	})
}
