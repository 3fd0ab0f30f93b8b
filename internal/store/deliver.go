package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LocalTarget is one mailbox a delivered message goes to.
type LocalTarget struct {
	AccountID int64
	Mailbox   string // "" means INBOX; a missing mailbox falls back to INBOX
	Flags     Flags
	Keywords  []string
	Create    bool // create a missing mailbox instead of falling back to INBOX
}

// Delivery is one accepted message: the bytes to store once, the local
// mailboxes it lands in and the remote recipients it is queued for.
type Delivery struct {
	Data []byte
	// Trace is put in front of Data in the stored local copies (the trace
	// fields of final delivery), so a large message is not copied to
	// gain a few lines. Queued copies never carry it.
	Trace    []byte
	Received time.Time
	Local    []LocalTarget
	// Sender is the envelope sender for queued copies ("" for bounces).
	Sender string
	Remote []string
	// RequireTLS marks the queue entries of Remote: their sender asked
	// for REQUIRETLS (RFC 8689; store/tlspolicy.go).
	RequireTLS bool
	// Copies are more queue entries with their own sender (sieve.go).
	Copies []QueuedCopy
	// DMARC, when set, is counted for the aggregate reports in the same
	// transaction (store/dmarcrecords.go).
	DMARC *DMARCEvaluation
}

// Deliver stores d durably in one transaction: every local copy and the
// queue row become visible together, or nothing does. It returns after the
// commit is fsynced.
func (s *Store) Deliver(ctx context.Context, d Delivery) error {
	_, err := s.DeliverQueued(ctx, d)
	return err
}

// DeliverQueued is Deliver that also returns the ids of the queue
// entries it made (one per remote recipient domain and queued copy), in
// the order made: what the queue's log lines call queue_id.
func (s *Store) DeliverQueued(ctx context.Context, d Delivery) ([]int64, error) {
	if len(d.Local) == 0 && len(d.Remote) == 0 && len(d.Copies) == 0 {
		return nil, fmt.Errorf("delivery without recipients: %w", ErrInvalid)
	}
	if len(d.Trace) > 0 && len(d.Remote) > 0 {
		return nil, fmt.Errorf("trace fields on a queued message: %w", ErrInvalid)
	}
	b, err := s.prepareBody(d.Trace, d.Data)
	if err != nil {
		return nil, err
	}
	var ids []int64
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		ids, err = deliverTx(ctx, tx, d, b)
		return err
	})
	if err != nil {
		s.discardBody(b)
		return nil, err
	}
	return ids, nil
}

// deliverTx stores d inside an open transaction: one body (b, from
// d.Data), a message row per local target, a queue row per remote
// recipient domain. It returns the ids of the queue rows.
func deliverTx(ctx context.Context, tx *Tx, d Delivery, b body) ([]int64, error) {
	if d.Received.IsZero() {
		d.Received = time.Now()
	}
	bid, err := insertBody(ctx, tx, b)
	if err != nil {
		return nil, err
	}
	if d.DMARC != nil {
		if err := addDMARCEvaluation(ctx, tx, *d.DMARC); err != nil {
			return nil, err
		}
	}
	for _, t := range d.Local {
		name := NormalizeMailboxName(t.Mailbox)
		if name == "" {
			name = "INBOX"
		}
		var mid int64
		err := tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?", t.AccountID, name).Scan(&mid)
		if errors.Is(err, sql.ErrNoRows) && name != "INBOX" && t.Create && validMailboxName(name) == nil {
			mid, err = createMailbox(ctx, tx, t.AccountID, name, "")
		}
		if errors.Is(err, sql.ErrNoRows) && name != "INBOX" {
			err = tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'", t.AccountID).Scan(&mid)
		}
		if err != nil {
			return nil, fmt.Errorf("mailbox of account %d: %w", t.AccountID, err)
		}
		if _, err := addMessage(ctx, tx, t.AccountID, mid, bid, int64(len(d.Trace)+len(d.Data)), t.Flags|FlagRecent, t.Keywords, d.Received); err != nil {
			return nil, err
		}
	}
	var ids []int64
	if err := enqueue(ctx, tx, &ids, bid, d.Sender, d.Remote, d.Received); err != nil {
		return nil, err
	}
	if d.RequireTLS {
		if err := markRequireTLS(ctx, tx, ids); err != nil {
			return nil, err
		}
	}
	if len(d.Copies) == 0 {
		return ids, nil
	}
	if err := queueCopies(ctx, tx, &ids, bid, d.Copies, d.Received); err != nil {
		return nil, err
	}
	_, err = tx.exec(ctx, "DELETE FROM bodies WHERE id = ? AND refs <= 0", bid) // every copy was skipped
	return ids, err
}
