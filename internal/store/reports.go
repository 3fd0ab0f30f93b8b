package store

import (
	"context"
	"time"
)

// ReceivedReport is an aggregate report another mail system sent about
// one of the box's domains (package reports reads them); Data is the
// parsed report as JSON, which the store keeps without reading.
type ReceivedReport struct {
	Kind, Org, ReportID, Domain string
	Begin, End, Received        time.Time
	Data                        []byte
}

// AddReceivedReport keeps a report once: the same kind, sender and
// report ID again (a resent report) is not kept twice, and false says so.
func (s *Store) AddReceivedReport(ctx context.Context, r ReceivedReport) (bool, error) {
	added := false
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, `INSERT INTO received_reports(kind, org, report_id, domain, begin_at, end_at, received, data)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(kind, org, report_id) DO NOTHING`,
			r.Kind, r.Org, r.ReportID, r.Domain, r.Begin.Unix(), r.End.Unix(), now(), r.Data)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added = n == 1
		return err
	})
	return added, err
}

// ReceivedReports lists the reports of a kind whose period ended after
// since, oldest first.
func (s *Store) ReceivedReports(ctx context.Context, kind string, since time.Time) ([]ReceivedReport, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT org, report_id, domain, begin_at, end_at, received, data FROM received_reports
		WHERE kind = ? AND end_at > ? ORDER BY end_at, id`, kind, since.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ReceivedReport
	for rows.Next() {
		r := ReceivedReport{Kind: kind}
		var b, e, rc int64
		if err := rows.Scan(&r.Org, &r.ReportID, &r.Domain, &b, &e, &rc, &r.Data); err != nil {
			return nil, err
		}
		r.Begin, r.End, r.Received = time.Unix(b, 0).UTC(), time.Unix(e, 0).UTC(), time.Unix(rc, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
