package store

import (
	"context"
	"database/sql"
	"time"
)

// QueueStats returns the outbound queue's entry count and when its
// oldest entry was queued (zero when empty), for the metrics scrape: one
// query; the count walks the queue_next index and the oldest is the
// lowest id (ids grow with time), so it stays cheap.
func (s *Store) QueueStats(ctx context.Context) (n int64, oldest time.Time, err error) {
	var c sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*), (SELECT created FROM queue ORDER BY id LIMIT 1) FROM queue").Scan(&n, &c); err != nil {
		return 0, time.Time{}, err
	}
	if c.Valid {
		oldest = time.Unix(c.Int64, 0)
	}
	return n, oldest, nil
}
