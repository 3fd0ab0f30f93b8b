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
//
// Disabling publishes EventAccountDisabled, so that open sessions end at
// once, in this process and (through the change log) in others.
func (s *Store) SetAccountDisabled(ctx context.Context, email string, disabled bool) error {
	defer s.auth.forget() // authcache.go: logins with the old secret are verified anew
	email = strings.ToLower(email)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var id int64
		err := tx.queryRow(ctx, "UPDATE accounts SET disabled = ? WHERE email = ? RETURNING id", disabled, email).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %s: %w", email, ErrNotFound)
		} else if err != nil {
			return err
		}
		if disabled {
			tx.emit(Event{Kind: EventAccountDisabled, AccountID: id})
		}
		return nil
	})
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
	rows, err := s.rdb.QueryContext(ctx, "SELECT email FROM accounts WHERE disabled != 0")
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
