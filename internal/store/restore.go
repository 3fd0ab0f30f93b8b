package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"
)

// Putting one account's or one mailbox's messages back from a backup
// into a live box (internal/backup, 'boxmail restore --user').
//
// The backup package opens the snapshot's database as a Store of its own
// (in a temporary directory, migrated like any) and reads it with
// Mailboxes, Messages, Body and MessageBodyFiles; it writes into the live
// box only through RestoreMailbox and RestoreMessages, so the running
// server's sessions see the restored mailboxes and messages through the
// change feed like any other change.
//
// Identity: a message of the snapshot is already in the live mailbox when
// the mailbox holds one of the same internal date (seconds), size and
// SHA-256 of its bytes (RestoreKey), counted: two copies in the snapshot
// and one left live puts one back. Flags are not compared (a message the
// user read since is the same message), and the match is per mailbox: a
// message moved to another mailbox since the backup comes back into the
// one it was in, as a second copy.

// RestoreKey identifies a message for a restore.
type RestoreKey struct {
	InternalDate int64 // unix seconds
	Size         int64
	SHA256       [sha256.Size]byte
}

// RestoreKeys returns the keys of the messages of a mailbox, counted. Only
// the bodies of messages whose date and size want accepts are read and
// hashed (want nil: all), so a restore into a big mailbox reads only the
// few candidates.
func (s *Store) RestoreKeys(ctx context.Context, mailboxID int64, want func(idate, size int64) bool) (map[RestoreKey]int, error) {
	msgs, err := s.Messages(ctx, mailboxID, 1, 0)
	if err != nil {
		return nil, err
	}
	keys := map[RestoreKey]int{}
	for _, m := range msgs {
		k := RestoreKey{InternalDate: m.InternalDate.Unix(), Size: m.Size}
		if want != nil && !want(k.InternalDate, k.Size) {
			continue
		}
		r, _, err := s.OpenBody(ctx, m.BodyID)
		if errors.Is(err, ErrNotFound) {
			continue // expunged meanwhile
		} else if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		if err = errors.Join(err, r.Close()); err != nil {
			return nil, fmt.Errorf("message UID %d: %w", m.UID, err)
		}
		copy(k.SHA256[:], h.Sum(nil))
		keys[k]++
	}
	return keys, nil
}

// MessageBodyFiles returns, by UID, the body file names of the messages
// of a mailbox whose bodies are kept in files (bodyfile.go); the others'
// bytes come from Body.
func (s *Store) MessageBodyFiles(ctx context.Context, mailboxID int64) (map[uint32]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT m.uid, b.file FROM messages m JOIN bodies b ON b.id = m.body_id
		WHERE m.mailbox_id = ? AND b.file IS NOT NULL`, mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var uid uint32
		var name string
		if err := rows.Scan(&uid, &name); err != nil {
			return nil, err
		}
		out[uid] = name
	}
	return out, rows.Err()
}

// RestoreMailbox returns the account's mailbox called name, creating it
// (and missing parents) when it is gone, with a new UIDVALIDITY, the
// given subscription, and the special use when no other mailbox of the
// account has taken it since. created tells whether it was made.
func (s *Store) RestoreMailbox(ctx context.Context, accountID int64, name, specialUse string, subscribed bool) (mb Mailbox, created bool, err error) {
	name = NormalizeMailboxName(name)
	if err := validMailboxName(name); err != nil {
		return mb, false, err
	}
	if mb, err = s.MailboxByName(ctx, accountID, name); err == nil || !errors.Is(err, ErrNotFound) {
		return mb, false, err
	}
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var one int
		err := tx.queryRow(ctx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, name).Scan(&one)
		if err == nil {
			return nil // made in the meantime: not ours
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if specialUse != "" {
			err := tx.queryRow(ctx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND special_use = ?", accountID, specialUse).Scan(&one)
			if err == nil {
				specialUse = ""
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if err := createParents(ctx, tx, accountID, name); err != nil {
			return err
		}
		_, err = createMailbox(ctx, tx, accountID, name, specialUse)
		if err != nil {
			return err
		}
		created = true
		if !subscribed {
			_, err = tx.exec(ctx, "DELETE FROM subscriptions WHERE account_id = ? AND name = ?", accountID, name)
		}
		return err
	})
	if err != nil {
		return mb, false, err
	}
	mb, err = s.MailboxByName(ctx, accountID, name)
	return mb, created, err
}

// createParents creates the missing parents of a mailbox name.
func createParents(ctx context.Context, tx *Tx, accountID int64, name string) error {
	for i := range len(name) {
		if name[i] != '/' {
			continue
		}
		var one int
		parent := name[:i]
		err := tx.queryRow(ctx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, parent).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = createMailbox(ctx, tx, accountID, parent, "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RestoreItem is one message to put back: its bytes (Data) or a body
// already streamed into the store (Body, NewBodyWriter), with the flags,
// keywords and internal date it had in the snapshot.
type RestoreItem struct {
	Data         []byte
	Body         *SpooledBody
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
}

// RestoreMessages adds items to a mailbox of the account in one
// transaction, each under a new UID above the mailbox's UIDNEXT (so a
// client's cache stays valid: no UIDVALIDITY change), with its flags
// (never \Recent) and internal date, and returns the UIDs. Like an
// import, it bypasses Sieve and the quota: the admin restores what the
// account held. Every item's Body is stored or, on error, discarded.
func (s *Store) RestoreMessages(ctx context.Context, accountID, mailboxID int64, items []RestoreItem) (uids []uint32, err error) {
	bodies := make([]body, len(items))
	defer func() {
		if err != nil {
			for _, b := range bodies {
				s.discardBody(b)
			}
		}
	}()
	for i, it := range items {
		if it.Body != nil {
			bodies[i] = it.Body.b
			continue
		}
		if bodies[i], err = s.prepareBody(nil, it.Data); err != nil {
			return nil, err
		}
	}
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		uids = uids[:0]
		var one int
		if err := tx.queryRow(ctx, "SELECT 1 FROM mailboxes WHERE id = ? AND account_id = ?", mailboxID, accountID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
		} else if err != nil {
			return err
		}
		for i, it := range items {
			bid, err := insertBody(ctx, tx, bodies[i])
			if err != nil {
				return err
			}
			uid, err := addMessage(ctx, tx, accountID, mailboxID, bid, bodies[i].size, it.Flags&^FlagRecent, it.Keywords, it.InternalDate)
			if err != nil {
				return err
			}
			uids = append(uids, uid)
		}
		return nil
	})
	return uids, err
}
