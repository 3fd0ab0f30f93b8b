package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// QueueStats returns the outbound queue's entry count and when its
// oldest entry was queued (zero when empty), for the metrics scrape: the
// count walks the queue_next index, the oldest is the lowest id (ids
// grow with time), so both stay cheap.
func (s *Store) QueueStats(ctx context.Context) (n int64, oldest time.Time, err error) {
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM queue").Scan(&n); err != nil {
		return 0, time.Time{}, err
	}
	var c int64
	err = s.rdb.QueryRowContext(ctx, "SELECT created FROM queue ORDER BY id LIMIT 1").Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return n, time.Time{}, nil
	} else if err != nil {
		return 0, time.Time{}, err
	}
	return n, time.Unix(c, 0), nil
}
