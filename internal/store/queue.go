package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// QueueItem is a message waiting for outbound delivery to the recipients
// of one domain.
type QueueItem struct {
	ID          int64
	Sender      string // "" for a bounce
	Recipients  []string
	Domain      string
	BodyID      int64
	Created     time.Time
	NextAttempt time.Time
	Attempts    int
	LastError   string
	Warned      bool // a delay warning was sent
}

func domainOfAddr(a string) string {
	return strings.ToLower(domainOf(a))
}

// enqueue adds queue rows for remote recipients, one per domain, and
// appends their ids to *ids. An id is never used twice (the table is
// AUTOINCREMENT since migration 15), so it names one entry in the logs
// for the life of the box.
func enqueue(ctx context.Context, tx *Tx, ids *[]int64, bodyID int64, sender string, rcpts []string, at time.Time) error {
	var domains []string
	by := map[string][]string{}
	for _, r := range rcpts {
		d := domainOfAddr(r)
		if _, ok := by[d]; !ok {
			domains = append(domains, d)
		}
		by[d] = append(by[d], r)
	}
	ts := at.Unix()
	for _, d := range domains {
		var id int64
		if err := tx.queryRow(ctx, "INSERT INTO queue(sender, recipients, domain, body_id, created, next_attempt) VALUES(?, ?, ?, ?, ?, ?) RETURNING id",
			sender, strings.Join(by[d], ","), d, bodyID, ts, ts).Scan(&id); err != nil {
			return err
		}
		*ids = append(*ids, id)
	}
	return nil
}

const queueCols = "id, sender, recipients, domain, body_id, created, next_attempt, attempts, last_error, warned"

func scanQueue(rows *sql.Rows) ([]QueueItem, error) {
	defer rows.Close()
	var out []QueueItem
	for rows.Next() {
		var q QueueItem
		var r string
		var c, n int64
		if err := rows.Scan(&q.ID, &q.Sender, &r, &q.Domain, &q.BodyID, &c, &n, &q.Attempts, &q.LastError, &q.Warned); err != nil {
			return nil, err
		}
		q.Recipients = splitList(r)
		q.Created, q.NextAttempt = time.Unix(c, 0), time.Unix(n, 0)
		out = append(out, q)
	}
	return out, rows.Err()
}

// Queue lists the outbound queue, oldest first.
func (s *Store) Queue(ctx context.Context) ([]QueueItem, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+queueCols+" FROM queue ORDER BY id")
	if err != nil {
		return nil, err
	}
	return scanQueue(rows)
}

// QueueItemByID returns one queue entry.
func (s *Store) QueueItemByID(ctx context.Context, id int64) (QueueItem, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+queueCols+" FROM queue WHERE id = ?", id)
	if err != nil {
		return QueueItem{}, err
	}
	l, err := scanQueue(rows)
	if err != nil {
		return QueueItem{}, err
	}
	if len(l) == 0 {
		return QueueItem{}, fmt.Errorf("queue entry %d: %w", id, ErrNotFound)
	}
	return l[0], nil
}

// DueQueue returns up to limit entries whose next attempt is at or before
// t, earliest first.
func (s *Store) DueQueue(ctx context.Context, t time.Time, limit int) ([]QueueItem, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+queueCols+" FROM queue WHERE next_attempt <= ? ORDER BY next_attempt, id LIMIT ?", t.Unix(), limit)
	if err != nil {
		return nil, err
	}
	return scanQueue(rows)
}

// NextQueueAttempt returns when the earliest entry is due, or for a
// claimed entry when its claim ends (lease.go), whichever is later (ok
// false when the queue is empty).
func (s *Store) NextQueueAttempt(ctx context.Context) (t time.Time, ok bool, err error) {
	var n sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT min(max(next_attempt, (lease_until + 999) / 1000)) FROM queue").Scan(&n); err != nil {
		return time.Time{}, false, err
	}
	if !n.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(n.Int64, 0), true, nil
}

// QueueOutcome is the result of one delivery attempt of a queue entry.
type QueueOutcome struct {
	// Done are recipients finished with: delivered or bounced. When no
	// recipient is left, the entry is deleted.
	Done []string
	// For the recipients left: when to try again and why the last try
	// failed.
	NextAttempt time.Time
	LastError   string
	Warned      bool
	// Bounce, if set, is stored in the same transaction: the DSN for the
	// failed recipients (or the delay warning), so a crash cannot lose
	// it nor send it twice.
	Bounce *Delivery
	// Owner, if set, is the node that claimed the entry (QueueClaim): the
	// outcome is applied only while the entry is still its (else
	// ErrLeaseLost), and the claim ends with it.
	Owner string
}

// QueueResult records an attempt atomically: removes finished
// recipients (deleting the entry when none is left), reschedules the rest
// and stores the bounce, if any.
func (s *Store) QueueResult(ctx context.Context, id int64, o QueueOutcome) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		q := "SELECT recipients, owner FROM queue WHERE id = ?"
		if tx.s.pg {
			q += " FOR UPDATE" // no claim can slip in between the check and the update
		}
		var r, owner string
		if err := tx.queryRow(ctx, q, id).Scan(&r, &owner); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("queue entry %d: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		if o.Owner != "" && owner != o.Owner {
			return fmt.Errorf("queue entry %d: %w", id, ErrLeaseLost)
		}
		var left []string
		for _, x := range splitList(r) {
			if !slices.ContainsFunc(o.Done, func(d string) bool { return strings.EqualFold(d, x) }) {
				left = append(left, x)
			}
		}
		if len(left) == 0 {
			if err := deleteQueueRow(ctx, tx, id); err != nil {
				return err
			}
		} else if _, err := tx.exec(ctx, "UPDATE queue SET recipients = ?, next_attempt = ?, attempts = attempts + 1, last_error = ?, warned = max(warned, ?), owner = '', lease_until = 0 WHERE id = ?",
			strings.Join(left, ","), o.NextAttempt.Unix(), o.LastError, o.Warned, id); err != nil {
			return err
		}
		if o.Bounce != nil {
			_, err := deliverTx(ctx, tx, *o.Bounce, inline(o.Bounce.Data))
			return err
		}
		return nil
	})
}

// deleteQueueRow deletes a finished queue entry and its TLS-optional mark.
func deleteQueueRow(ctx context.Context, tx *Tx, id int64) error {
	if _, err := tx.exec(ctx, "DELETE FROM queue WHERE id = ?", id); err != nil {
		return err
	}
	_, err := tx.exec(ctx, "DELETE FROM queue_tlsoptional WHERE queue_id = ?", id)
	return err
}

// QueueRetry makes an entry (every entry when id is 0) due now.
func (s *Store) QueueRetry(ctx context.Context, id int64) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE queue SET next_attempt = ? WHERE ? = 0 OR id = ?", now(), id, id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n == 0 && id != 0 {
			return fmt.Errorf("queue entry %d: %w", id, ErrNotFound)
		}
		return nil
	})
	return int(n), err
}

// QueueRemove deletes a queue entry, storing bounce (if not nil) in the
// same transaction.
func (s *Store) QueueRemove(ctx context.Context, id int64, bounce *Delivery) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		if err := tx.execOne(ctx, fmt.Sprintf("queue entry %d", id), "DELETE FROM queue WHERE id = ?", id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM queue_tlsoptional WHERE queue_id = ?", id); err != nil {
			return err
		}
		if bounce != nil {
			_, err := deliverTx(ctx, tx, *bounce, inline(bounce.Data))
			return err
		}
		return nil
	})
}
