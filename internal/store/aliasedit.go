package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SetAlias replaces the targets and permitted senders of an existing
// alias in place (one transaction: mail to it never finds it missing).
// Permitted senders must be accounts.
func (s *Store) SetAlias(ctx context.Context, al Alias) error {
	addr := strings.ToLower(al.Address)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var one int
		if err := tx.queryRow(ctx, "SELECT 1 FROM aliases WHERE address = ?", addr).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("alias %s: %w", addr, ErrNotFound)
		} else if err != nil {
			return err
		}
		for _, p := range al.Permit {
			if err := tx.queryRow(ctx, "SELECT 1 FROM accounts WHERE email = ?", strings.ToLower(p)).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("permitted sender %s is not an account: %w", p, ErrNotFound)
			} else if err != nil {
				return err
			}
		}
		_, err := tx.exec(ctx, "UPDATE aliases SET targets = ?, permit = ? WHERE address = ?", joinLower(al.Targets), joinLower(al.Permit), addr)
		return err
	})
}
