package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SetAccountDisabled closes (or reopens) an account without touching its
// mail: a disabled account fails every login (Authenticate) and mail to
// it is refused as for an unknown user (delivery), until it is enabled
// again or removed.
func (s *Store) SetAccountDisabled(ctx context.Context, email string, disabled bool) error {
	return s.updateAccount(ctx, email, "UPDATE accounts SET disabled = ? WHERE email = ?", disabled)
}

// AccountDisabled reports whether the account with that id is disabled.
func (s *Store) AccountDisabled(ctx context.Context, id int64) (bool, error) {
	var off bool
	err := s.rdb.QueryRowContext(ctx, "SELECT disabled FROM accounts WHERE id = ?", id).Scan(&off)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("account %d: %w", id, ErrNotFound)
	}
	return off, err
}

// DisabledAccounts returns the emails of the disabled accounts.
func (s *Store) DisabledAccounts(ctx context.Context) (map[string]bool, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT email FROM accounts WHERE disabled")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out[strings.ToLower(e)] = true
	}
	return out, rows.Err()
}
