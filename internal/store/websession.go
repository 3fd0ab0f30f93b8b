package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"
)

// WebSession is a logged-in web session as the store keeps it, so that a
// restart does not log anyone out. The store never sees the cookie
// value itself: rows are keyed by its SHA-256, so a copy of the database
// does not let anyone in. The web keeps the session rules (timeouts,
// the password stamp); these methods are the login path's own writes,
// like RecordLogin, not admin changes.
type WebSession struct {
	AccountID int64
	Email     string // the account's address, read with the session
	Stamp     string // SessionStamp at login
	CSRF      string
	Created   time.Time
	Seen      time.Time
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// RecordWebSession keeps a new session under token (hashed).
func (s *Store) RecordWebSession(ctx context.Context, token string, ws WebSession) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO web_sessions(token_hash, account_id, stamp, csrf, created, seen) VALUES(?, ?, ?, ?, ?, ?)
			ON CONFLICT(token_hash) DO UPDATE SET stamp = excluded.stamp, seen = excluded.seen`,
			tokenHash(token), ws.AccountID, ws.Stamp, ws.CSRF, ws.Created.Unix(), ws.Seen.Unix())
		return err
	})
}

// TouchWebSession records that a session was used at seen, and its
// stamp (a session keeps itself across its own password change).
func (s *Store) TouchWebSession(ctx context.Context, token, stamp string, seen time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "UPDATE web_sessions SET seen = ?, stamp = ? WHERE token_hash = ?", seen.Unix(), stamp, tokenHash(token))
		return err
	})
}

// WebSessionByToken returns the session kept under token, or ErrNotFound.
func (s *Store) WebSessionByToken(ctx context.Context, token string) (WebSession, error) {
	var ws WebSession
	var c, seen int64
	err := s.rdb.QueryRowContext(ctx, `SELECT w.account_id, a.email, w.stamp, w.csrf, w.created, w.seen
		FROM web_sessions w JOIN accounts a ON a.id = w.account_id WHERE w.token_hash = ?`, tokenHash(token)).
		Scan(&ws.AccountID, &ws.Email, &ws.Stamp, &ws.CSRF, &c, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return ws, ErrNotFound
	}
	ws.Created, ws.Seen = time.Unix(c, 0), time.Unix(seen, 0)
	return ws, err
}

// EndWebSession forgets the session kept under token (a logout).
func (s *Store) EndWebSession(ctx context.Context, token string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM web_sessions WHERE token_hash = ?", tokenHash(token))
		return err
	})
}

// EndWebSessions forgets every session of the account with address email
// except the one kept under except ("" for none), and those that began
// before notBefore or were last seen before idleSince (expired ones), and
// returns how many of the account's ended.
func (s *Store) EndWebSessions(ctx context.Context, email, except string, notBefore, idleSince time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM web_sessions WHERE created < ? OR seen < ?", notBefore.Unix(), idleSince.Unix()); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM web_sessions WHERE token_hash != ?
			AND account_id = (SELECT id FROM accounts WHERE email = ?)`, tokenHash(except), email)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
