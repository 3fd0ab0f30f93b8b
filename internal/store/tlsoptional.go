package store

import (
	"context"
	"database/sql"
	"errors"
)

// tlsOptionalSchema is migration 29: the queue entries whose sender, a
// user of the box, said "TLS-Required: No" (RFC 8689 5), which the
// queue delivers where the recipient's TLS policy would defer them.
const tlsOptionalSchema = `
CREATE TABLE IF NOT EXISTS queue_tlsoptional ( -- IF NOT EXISTS: tests that roll the version back keep it
	queue_id INTEGER PRIMARY KEY -- a queue row its sender allowed to go without the TLS policy
);
`

// MarkTLSOptional marks queue entries whose message says "TLS-Required:
// No" and came from an authenticated user (delivery checks both). A
// crash before the mark leaves the entries under the TLS policy, the
// safe side.
func (s *Store) MarkTLSOptional(ctx context.Context, queueIDs []int64) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		for _, id := range queueIDs {
			if _, err := tx.exec(ctx, "INSERT INTO queue_tlsoptional(queue_id) VALUES(?) ON CONFLICT DO NOTHING", id); err != nil {
				return err
			}
		}
		return nil
	})
}

// QueueTLSOptional reports whether the queue entry is marked by
// MarkTLSOptional.
func (s *Store) QueueTLSOptional(ctx context.Context, queueID int64) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM queue_tlsoptional WHERE queue_id = ?", queueID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
