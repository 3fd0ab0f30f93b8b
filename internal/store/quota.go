package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ErrOverQuota means an account has no room left for a message.
var ErrOverQuota = errors.New("mailbox full: over quota")

// Usage is an account's storage: bytes used by its messages and its
// quota (0: unlimited).
type Usage struct {
	Email string
	Used  int64
	Quota int64
}

// SetQuota sets an account's quota in bytes (0: unlimited).
func (s *Store) SetQuota(ctx context.Context, email string, bytes int64) error {
	if bytes < 0 {
		return fmt.Errorf("quota %d: %w", bytes, ErrInvalid)
	}
	return s.updateAccount(ctx, email, "UPDATE accounts SET quota = ? WHERE email = ?", bytes)
}

const usageQuery = `SELECT a.email, a.quota, coalesce((SELECT sum(m.size) FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id WHERE b.account_id = a.id), 0)
	FROM accounts a`

// Usages lists every account's usage and quota.
func (s *Store) Usages(ctx context.Context) ([]Usage, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (Usage, error) {
		var u Usage
		err := rows.Scan(&u.Email, &u.Quota, &u.Used)
		return u, err
	}, usageQuery+" ORDER BY a.email")
}

// AccountUsage returns one account's usage and quota.
func (s *Store) AccountUsage(ctx context.Context, accountID int64) (Usage, error) {
	var u Usage
	err := s.rdb.QueryRowContext(ctx, usageQuery+" WHERE a.id = ?", accountID).Scan(&u.Email, &u.Quota, &u.Used)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	return u, err
}

// QuotaFits reports whether size more bytes fit an account's quota, with
// its usage. Usage is summed only for an account that has a quota: the
// sum reads every message row of the account, which a delivery to a big
// mailbox without a quota must not pay for.
func (s *Store) QuotaFits(ctx context.Context, accountID, size int64) (bool, Usage, error) {
	var u Usage
	err := s.rdb.QueryRowContext(ctx, "SELECT email, quota FROM accounts WHERE id = ?", accountID).Scan(&u.Email, &u.Quota)
	if errors.Is(err, sql.ErrNoRows) {
		return false, u, ErrNotFound
	} else if err != nil || u.Quota <= 0 {
		return err == nil, u, err
	}
	if u, err = s.AccountUsage(ctx, accountID); err != nil {
		return false, u, err
	}
	return u.Fits(size), u, nil
}

// Fits reports whether size more bytes fit the quota.
func (u Usage) Fits(size int64) bool { return u.Quota <= 0 || u.Used+size <= u.Quota }

// checkQuota fails with ErrOverQuota inside a write when adding size
// bytes to the account would exceed its quota (read by the caller with
// what else it reads of the account).
func checkQuota(ctx context.Context, tx *Tx, accountID, quota, size int64) error {
	if quota <= 0 {
		return nil // no quota: nothing to sum
	}
	var used int64
	err := tx.queryRow(ctx, `SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id WHERE b.account_id = ?`, accountID).Scan(&used)
	if err != nil {
		return err
	}
	if quota > 0 && used+size > quota {
		return fmt.Errorf("%w (%d of %d bytes used)", ErrOverQuota, used, quota)
	}
	return nil
}

// FormatBytes renders a size for people: 1.5 GiB, 300 MiB, 12 KiB.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/(1<<30)), ".0") + " GiB"
	case n >= 1<<20:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/(1<<20)), ".0") + " MiB"
	case n >= 1<<10:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/(1<<10)), ".0") + " KiB"
	}
	return fmt.Sprintf("%d B", n)
}
