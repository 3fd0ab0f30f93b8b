package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Held submissions (migration 19) are messages an account sent that wait
// before they leave, so the sender can take them back ("undo send" in
// the webmail). delivery.Deliverer.Hold checks a submission and stores it
// here; the queue runner releases it when release_at has passed
// (ClaimHeld, then the normal submission, then DeleteHeld), and Cancel
// deletes it while it is unclaimed. A claimed row whose release did not
// finish (a crash) is released again at the next start: a held message
// is never lost, and at worst sent twice.

// HeldSubmission is one held message and its envelope.
type HeldSubmission struct {
	ID         int64
	AccountID  int64
	Account    string // the account's address
	Sender     string // envelope sender
	Recipients []string
	Client     string // the client's IP address, "" if unknown
	Via        string
	Data       []byte
	ReleaseAt  time.Time
	Claimed    bool
}

// HoldSubmission stores h and returns its id.
func (s *Store) HoldSubmission(ctx context.Context, h HeldSubmission) (int64, error) {
	var id int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.queryRow(ctx, "INSERT INTO held_submissions(account_id, account, sender, recipients, client, via, data, release_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
			h.AccountID, h.Account, h.Sender, strings.Join(h.Recipients, ","), h.Client, h.Via, h.Data, h.ReleaseAt.UnixMilli()).Scan(&id)
	})
	return id, err
}

const heldCols = "id, account_id, account, sender, recipients, client, via, data, release_at, claimed"

func scanHeld(row interface{ Scan(...any) error }) (HeldSubmission, error) {
	var h HeldSubmission
	var rcpts string
	var at int64
	err := row.Scan(&h.ID, &h.AccountID, &h.Account, &h.Sender, &rcpts, &h.Client, &h.Via, &h.Data, &at, &h.Claimed)
	h.Recipients, h.ReleaseAt = splitList(rcpts), time.UnixMilli(at)
	return h, err
}

// DueHeld returns up to limit held submissions to release at t: those
// whose time has come, and claimed ones (a release a crash cut short).
func (s *Store) DueHeld(ctx context.Context, t time.Time, limit int) ([]HeldSubmission, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (HeldSubmission, error) { return scanHeld(rows) },
		"SELECT "+heldCols+" FROM held_submissions WHERE release_at <= ? OR claimed = 1 ORDER BY release_at, id LIMIT ?", t.UnixMilli(), limit)
}

// NextHeldRelease returns the earliest release time of a held
// submission; ok is false when none is held.
func (s *Store) NextHeldRelease(ctx context.Context) (t time.Time, ok bool, err error) {
	var n sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT min(release_at) FROM held_submissions").Scan(&n); err != nil {
		return time.Time{}, false, err
	}
	return time.UnixMilli(n.Int64), n.Valid, nil
}

// ClaimHeld marks a held submission as being released; false if it was
// cancelled (or is gone) before. A claimed one can no longer be
// cancelled.
func (s *Store) ClaimHeld(ctx context.Context, id int64) (bool, error) {
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		// A row claimed already (a restart after a crash) stays claimed.
		return tx.execOne(ctx, "", "UPDATE held_submissions SET claimed = 1 WHERE id = ?", id)
	})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeleteHeld removes a released (or failed) held submission.
func (s *Store) DeleteHeld(ctx context.Context, id int64) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM held_submissions WHERE id = ?", id)
		return err
	})
}

// CancelHeld removes an account's held submission that has not been
// claimed and returns it; ErrNotFound when it is not the account's, was
// cancelled, or its release began (the message is leaving).
func (s *Store) CancelHeld(ctx context.Context, accountID, id int64) (HeldSubmission, error) {
	var h HeldSubmission
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		h, err = scanHeld(tx.queryRow(ctx, "DELETE FROM held_submissions WHERE id = ? AND account_id = ? AND claimed = 0 RETURNING "+heldCols, id, accountID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("held submission %d: %w", id, ErrNotFound)
		}
		return err
	})
	return h, err
}

// HeldOf returns an account's held submission; ErrNotFound if it is not
// held (any more).
func (s *Store) HeldOf(ctx context.Context, accountID, id int64) (HeldSubmission, error) {
	h, err := scanHeld(s.rdb.QueryRowContext(ctx, "SELECT "+heldCols+" FROM held_submissions WHERE id = ? AND account_id = ?", id, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("held submission %d: %w", id, ErrNotFound)
	}
	return h, err
}
