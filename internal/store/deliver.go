package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// LocalTarget is one mailbox a delivered message goes to.
type LocalTarget struct {
	AccountID int64
	Mailbox   string // "" means INBOX; a missing mailbox falls back to INBOX
	Flags     Flags
	Keywords  []string
}

// Delivery is one accepted message: the bytes to store once, the local
// mailboxes it lands in and the remote recipients it is queued for.
type Delivery struct {
	Data     []byte
	Received time.Time
	Local    []LocalTarget
	// Sender is the envelope sender for queued copies ("" for bounces).
	Sender string
	Remote []string
}

// Deliver stores d durably in one transaction: every local copy and the
// queue row become visible together, or nothing does. It returns after the
// commit is fsynced.
func (s *Store) Deliver(ctx context.Context, d Delivery) error {
	if len(d.Local) == 0 && len(d.Remote) == 0 {
		return fmt.Errorf("delivery without recipients: %w", ErrInvalid)
	}
	if d.Received.IsZero() {
		d.Received = time.Now()
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		bid, err := insertBody(ctx, tx, d.Data)
		if err != nil {
			return err
		}
		for _, t := range d.Local {
			name := NormalizeMailboxName(t.Mailbox)
			if name == "" {
				name = "INBOX"
			}
			var mid int64
			err := tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?", t.AccountID, name).Scan(&mid)
			if errors.Is(err, sql.ErrNoRows) && name != "INBOX" {
				err = tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'", t.AccountID).Scan(&mid)
			}
			if err != nil {
				return fmt.Errorf("mailbox of account %d: %w", t.AccountID, err)
			}
			if _, err := addMessage(ctx, tx, t.AccountID, mid, bid, int64(len(d.Data)), t.Flags|FlagRecent, t.Keywords, d.Received); err != nil {
				return err
			}
		}
		if len(d.Remote) > 0 {
			ts := d.Received.Unix()
			if _, err := tx.exec(ctx, "INSERT INTO queue(sender, recipients, body_id, created, next_attempt) VALUES(?, ?, ?, ?, ?)",
				d.Sender, strings.Join(d.Remote, ","), bid, ts, ts); err != nil {
				return err
			}
		}
		return nil
	})
}

// QueueItem is a message waiting for outbound delivery.
type QueueItem struct {
	ID          int64
	Sender      string
	Recipients  []string
	BodyID      int64
	Created     time.Time
	NextAttempt time.Time
	Attempts    int
	LastError   string
}

// Queue lists the outbound queue, oldest first.
func (s *Store) Queue(ctx context.Context) ([]QueueItem, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, sender, recipients, body_id, created, next_attempt, attempts, last_error FROM queue ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []QueueItem
	for rows.Next() {
		var q QueueItem
		var r string
		var c, n int64
		if err := rows.Scan(&q.ID, &q.Sender, &r, &q.BodyID, &c, &n, &q.Attempts, &q.LastError); err != nil {
			return nil, err
		}
		q.Recipients = splitList(r)
		q.Created, q.NextAttempt = time.Unix(c, 0), time.Unix(n, 0)
		out = append(out, q)
	}
	return out, rows.Err()
}

// QueueRemove deletes a queue entry.
func (s *Store) QueueRemove(ctx context.Context, id int64) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "DELETE FROM queue WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("queue entry %d: %w", id, ErrNotFound)
		}
		return nil
	})
}
