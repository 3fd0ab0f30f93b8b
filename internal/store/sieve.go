package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SieveScript is one named Sieve script of an account. At most one
// script per account is active (ManageSieve semantics, RFC 5804).
type SieveScript struct {
	Name    string
	Content string
	Active  bool
}

// ErrScriptActive: the active script cannot be deleted (RFC 5804 2.10).
var ErrScriptActive = errors.New("script is active")

// SieveScripts lists an account's scripts by name.
func (s *Store) SieveScripts(ctx context.Context, accountID int64) ([]SieveScript, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (SieveScript, error) {
		var sc SieveScript
		err := rows.Scan(&sc.Name, &sc.Content, &sc.Active)
		return sc, err
	}, "SELECT name, content, active FROM sieve_scripts WHERE account_id = ? ORDER BY name", accountID)
}

// SieveScriptByName returns one script.
func (s *Store) SieveScriptByName(ctx context.Context, accountID int64, name string) (SieveScript, error) {
	sc := SieveScript{Name: name}
	err := s.rdb.QueryRowContext(ctx, "SELECT content, active FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, name).Scan(&sc.Content, &sc.Active)
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("script %q: %w", name, ErrNotFound)
	}
	return sc, err
}

// ActiveSieveScript returns the account's active script, ErrNotFound if
// none is active.
func (s *Store) ActiveSieveScript(ctx context.Context, accountID int64) (SieveScript, error) {
	sc := SieveScript{Active: true}
	err := s.rdb.QueryRowContext(ctx, "SELECT name, content FROM sieve_scripts WHERE account_id = ? AND active = 1", accountID).Scan(&sc.Name, &sc.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("active script: %w", ErrNotFound)
	}
	return sc, err
}

// PutSieveScript creates or replaces a script; an active script stays
// active.
func (s *Store) PutSieveScript(ctx context.Context, accountID int64, name, content string) error {
	if name == "" {
		return fmt.Errorf("empty script name: %w", ErrInvalid)
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO sieve_scripts(account_id, name, content, created) VALUES(?, ?, ?, ?)
ON CONFLICT(account_id, name) DO UPDATE SET content = excluded.content`, accountID, name, content, now())
		return err
	})
}

// SetActiveSieveScript makes name the active script; "" deactivates all.
func (s *Store) SetActiveSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		if name != "" {
			var id int64
			err := tx.queryRow(ctx, "SELECT id FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, name).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("script %q: %w", name, ErrNotFound)
			} else if err != nil {
				return err
			}
		}
		if _, err := tx.exec(ctx, "UPDATE sieve_scripts SET active = CASE WHEN name = ? THEN 1 ELSE 0 END WHERE account_id = ?", name, accountID); err != nil {
			return err
		}
		return nil
	})
}

// DeleteSieveScript removes a script that is not active.
func (s *Store) DeleteSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var active bool
		err := tx.queryRow(ctx, "SELECT active FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, name).Scan(&active)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("script %q: %w", name, ErrNotFound)
		} else if err != nil {
			return err
		}
		if active {
			return fmt.Errorf("script %q: %w", name, ErrScriptActive)
		}
		_, err = tx.exec(ctx, "DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, name)
		return err
	})
}

// RenameSieveScript renames a script, keeping its active state.
func (s *Store) RenameSieveScript(ctx context.Context, accountID int64, from, to string) error {
	if to == "" {
		return fmt.Errorf("empty script name: %w", ErrInvalid)
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE sieve_scripts SET name = ? WHERE account_id = ? AND name = ?", to, accountID, from)
		if isUnique(err) {
			return fmt.Errorf("script %q: %w", to, ErrExists)
		} else if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("script %q: %w", from, ErrNotFound)
		}
		return nil
	})
}

// Once makes a queued copy conditional: it is queued only if no copy with
// the same account, handle and sender was queued whose period has not
// ended (vacation, RFC 5230 4.2). Queuing records Until.
type Once struct {
	AccountID      int64
	Handle, Sender string
	At, Until      time.Time // now (zero: the delivery's time), end of the period
}

// QueuedCopy is an extra outbound queue entry of a delivery with its own
// envelope sender (a Sieve redirect with an SRS sender, a vacation reply
// with the null sender) and, when Data is set, its own message.
type QueuedCopy struct {
	Sender     string
	Recipients []string
	Data       []byte // nil: the delivery's message
	Once       *Once
}

// queueCopies stores the extra queue entries of a delivery inside its
// transaction, appending their ids to *ids; bodyID is the delivery's
// message.
func queueCopies(ctx context.Context, tx *Tx, ids *[]int64, bodyID int64, cs []QueuedCopy, at time.Time) error {
	for _, c := range cs {
		if c.Once != nil {
			var until int64
			err := tx.queryRow(ctx, "SELECT until FROM vacation_sent WHERE account_id = ? AND handle = ? AND sender = ?",
				c.Once.AccountID, c.Once.Handle, c.Once.Sender).Scan(&until)
			t := at
			if !c.Once.At.IsZero() {
				t = c.Once.At
			}
			if err == nil && until > t.Unix() {
				continue
			} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.exec(ctx, `INSERT INTO vacation_sent(account_id, handle, sender, until) VALUES(?, ?, ?, ?)
ON CONFLICT(account_id, handle, sender) DO UPDATE SET until = excluded.until`, c.Once.AccountID, c.Once.Handle, c.Once.Sender, c.Once.Until.Unix()); err != nil {
				return err
			}
		}
		bid := bodyID
		if c.Data != nil {
			var err error
			if bid, err = insertBody(ctx, tx, inline(c.Data)); err != nil {
				return err
			}
		}
		if err := enqueue(ctx, tx, ids, bid, c.Sender, c.Recipients, at); err != nil {
			return err
		}
	}
	return nil
}

// AccountByID returns one account.
func (s *Store) AccountByID(ctx context.Context, id int64) (Account, error) {
	var a Account
	var c int64
	err := s.rdb.QueryRowContext(ctx, "SELECT id, email, admin, created FROM accounts WHERE id = ?", id).Scan(&a.ID, &a.Email, &a.Admin, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("account %d: %w", id, ErrNotFound)
	}
	a.Created = time.Unix(c, 0)
	return a, err
}
