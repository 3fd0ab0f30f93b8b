package store

// Shared contacts and calendars: an admin grants another account read,
// or read and write, access to one account's address book or calendar
// (the family's). A grant is a row of dav_shares (migration 24); the
// collection stays its owner's, with its objects, modseq and tombstones,
// so every account that sees it syncs the same rows. Removing the
// collection or either account removes the grant.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DAVShare is one grant of a collection to an account.
type DAVShare struct {
	Collection DAVCollection // the shared collection, AccountID its owner
	Owner      string        // the owner's address
	AccountID  int64         // the account it is shared with
	Email      string        // that account's address
	Write      bool          // it may also change and remove objects
}

// ShareDAVCollection grants an account access to a collection, or
// changes the access of an existing grant. The owner cannot be granted
// its own collection (ErrInvalid); ErrNotFound if either is missing.
func (s *Store) ShareDAVCollection(ctx context.Context, collectionID, accountID int64, write bool) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var owner int64
		err := tx.queryRow(ctx, "SELECT account_id FROM dav_collections WHERE id = ?", collectionID).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("collection %d: %w", collectionID, ErrNotFound)
		} else if err != nil {
			return err
		}
		if owner == accountID {
			return fmt.Errorf("a collection is not shared with its owner: %w", ErrInvalid)
		}
		var exists int
		err = tx.queryRow(ctx, "SELECT 1 FROM accounts WHERE id = ?", accountID).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %d: %w", accountID, ErrNotFound)
		} else if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO dav_shares(collection_id, account_id, write) VALUES(?, ?, ?)
			ON CONFLICT(collection_id, account_id) DO UPDATE SET write = excluded.write`, collectionID, accountID, write)
		return err
	})
}

// UnshareDAVCollection removes a grant; ErrNotFound if there is none.
func (s *Store) UnshareDAVCollection(ctx context.Context, collectionID, accountID int64) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.execOne(ctx, "share", "DELETE FROM dav_shares WHERE collection_id = ? AND account_id = ?", collectionID, accountID)
	})
}

const davShareQuery = "SELECT c.id, c.account_id, c.kind, c.name, c.display_name, c.description, c.modseq, c.created, o.email, s.account_id, a.email, s.write" +
	" FROM dav_shares s JOIN dav_collections c ON c.id = s.collection_id JOIN accounts o ON o.id = c.account_id JOIN accounts a ON a.id = s.account_id"

func (s *Store) davShares(ctx context.Context, where string, args ...any) ([]DAVShare, error) {
	rows, err := s.rdb.QueryContext(ctx, davShareQuery+where+" ORDER BY o.email, c.kind, c.name, a.email", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DAVShare
	for rows.Next() {
		var sh DAVShare
		var kind string
		var created int64
		c := &sh.Collection
		if err := rows.Scan(&c.ID, &c.AccountID, &kind, &c.Name, &c.DisplayName, &c.Description, &c.ModSeq, &created,
			&sh.Owner, &sh.AccountID, &sh.Email, &sh.Write); err != nil {
			return nil, err
		}
		c.Kind = DAVKind(kind)
		c.Created = time.Unix(created, 0)
		out = append(out, sh)
	}
	return out, rows.Err()
}

// DAVShares lists every grant, by owner, kind, collection and account.
func (s *Store) DAVShares(ctx context.Context) ([]DAVShare, error) {
	return s.davShares(ctx, "")
}

// DAVSharedWith lists the collections of kind shared with an account.
func (s *Store) DAVSharedWith(ctx context.Context, accountID int64, kind DAVKind) ([]DAVShare, error) {
	return s.davShares(ctx, " WHERE s.account_id = ? AND c.kind = ?", accountID, string(kind))
}

// DAVShared returns the grant of a collection of kind to an account, or
// ErrNotFound (no such collection, or not shared with it).
func (s *Store) DAVShared(ctx context.Context, accountID int64, kind DAVKind, collectionID int64) (DAVShare, error) {
	shs, err := s.davShares(ctx, " WHERE s.account_id = ? AND c.kind = ? AND c.id = ?", accountID, string(kind), collectionID)
	if err != nil {
		return DAVShare{}, err
	}
	if len(shs) == 0 {
		return DAVShare{}, ErrNotFound
	}
	return shs[0], nil
}
