package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Mailbox is a folder of an account. Names use "/" as the hierarchy
// separator; "INBOX" is always spelled so.
type Mailbox struct {
	ID          int64
	AccountID   int64
	Name        string
	UIDValidity uint32
	UIDNext     uint32
	ModSeq      int64
	SpecialUse  string // `\Sent`, `\Trash`, ... or ""
	// Subscribed tells whether the account subscribes to the mailbox's
	// name (subscription.go; read from the subscriptions table).
	Subscribed bool
}

// MailboxCounts are the STATUS numbers of a mailbox.
type MailboxCounts struct {
	Messages uint32
	Unseen   uint32
	Recent   uint32
	Deleted  uint32
	Size     int64
	// HighestModSeq is the mailbox's MODSEQ (STATUS HIGHESTMODSEQ).
	HighestModSeq int64
}

type originKey struct{}

// WithOrigin marks writes made with ctx as coming from origin (for example
// an IMAP session), so change-feed subscribers can recognise their own.
func WithOrigin(ctx context.Context, origin uintptr) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func originOf(ctx context.Context) uintptr {
	o, _ := ctx.Value(originKey{}).(uintptr)
	return o
}

// NormalizeMailboxName spells any case of "inbox" as INBOX.
func NormalizeMailboxName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX" + name[5:]
	}
	return name
}

func validMailboxName(name string) error {
	if name == "" || len(name) > 512 || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return fmt.Errorf("mailbox name %q: %w", name, ErrInvalid)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return fmt.Errorf("mailbox name %q: %w", name, ErrInvalid)
		}
	}
	return nil
}

func createMailbox(ctx context.Context, tx *Tx, accountID int64, name, specialUse string) (int64, error) {
	uv := uint32(rand.Uint32N(1<<31-1) + 1)
	id, err := tx.insertID(ctx, "INSERT INTO mailboxes(account_id, name, uidvalidity, special_use) VALUES(?, ?, ?, ?)", accountID, name, uv, specialUse)
	if isUnique(err) {
		return 0, fmt.Errorf("mailbox %s: %w", name, ErrExists)
	} else if err != nil {
		return 0, err
	}
	// A new mailbox is subscribed, as it always was here (Dovecot's
	// CREATE does not subscribe; its default folders are).
	if err := subscribe(ctx, tx, accountID, name); err != nil {
		return 0, err
	}
	tx.emit(Event{Kind: EventMailboxes, AccountID: accountID, Origin: originOf(ctx)})
	return id, nil
}

const mailboxCols = "id, account_id, name, uidvalidity, uidnext, modseq, special_use, " +
	"EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name)"

func scanMailbox(sc interface{ Scan(...any) error }) (Mailbox, error) {
	var m Mailbox
	err := sc.Scan(&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.ModSeq, &m.SpecialUse, &m.Subscribed)
	return m, err
}

// Mailboxes lists an account's mailboxes by name.
func (s *Store) Mailboxes(ctx context.Context, accountID int64) ([]Mailbox, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? ORDER BY name", accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MailboxByName returns an account's mailbox, or ErrNotFound.
func (s *Store) MailboxByName(ctx context.Context, accountID int64, name string) (Mailbox, error) {
	m, err := scanMailbox(s.rdb.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? AND name = ?", accountID, NormalizeMailboxName(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("mailbox %s: %w", name, ErrNotFound)
	}
	return m, err
}

// MailboxByID returns a mailbox by id, checking it belongs to accountID.
func (s *Store) MailboxByID(ctx context.Context, accountID, id int64) (Mailbox, error) {
	m, err := scanMailbox(s.rdb.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? AND id = ?", accountID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotFound
	}
	return m, err
}

// CreateMailbox creates a mailbox (and any missing parents).
func (s *Store) CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) error {
	name = NormalizeMailboxName(name)
	if err := validMailboxName(name); err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		parts := strings.Split(name, "/")
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], "/")
			var one int
			if err := tx.queryRow(ctx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, parent).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				if _, err := createMailbox(ctx, tx, accountID, parent, ""); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
		}
		_, err := createMailbox(ctx, tx, accountID, name, specialUse)
		return err
	})
}

// DeleteMailbox deletes a mailbox and its messages. INBOX cannot be
// deleted. Children are kept (RFC 3501 6.3.4 lets the parent go), and so
// is the name's subscription (RFC 9051 6.3.7; Dovecot keeps it too).
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	name = NormalizeMailboxName(name)
	if name == "INBOX" {
		return fmt.Errorf("INBOX cannot be deleted: %w", ErrInvalid)
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var id int64
		if err := tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?", accountID, name).Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %s: %w", name, ErrNotFound)
		} else if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM messages WHERE mailbox_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM mailboxes WHERE id = ?", id); err != nil {
			return err
		}
		tx.emit(Event{Kind: EventMailboxes, AccountID: accountID, MailboxID: id, Origin: originOf(ctx)})
		return nil
	})
}

// RenameMailbox renames a mailbox and its children. Renaming INBOX moves
// its messages to a new mailbox and leaves INBOX empty (RFC 3501 6.3.5).
// Subscriptions stay with the old names, as Dovecot's do (a client that
// wants them moved subscribes the new names itself, as Thunderbird does);
// a parent created for the new name is subscribed like any new mailbox.
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, from, to string) error {
	from, to = NormalizeMailboxName(from), NormalizeMailboxName(to)
	if err := validMailboxName(to); err != nil {
		return err
	}
	if to == "INBOX" {
		return fmt.Errorf("cannot rename to INBOX: %w", ErrExists)
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var id int64
		if err := tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?", accountID, from).Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %s: %w", from, ErrNotFound)
		} else if err != nil {
			return err
		}
		var one int
		if err := tx.queryRow(ctx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, to).Scan(&one); err == nil {
			return fmt.Errorf("mailbox %s: %w", to, ErrExists)
		}
		if from == "INBOX" {
			nid, err := createMailbox(ctx, tx, accountID, to, "")
			if err != nil {
				return err
			}
			// The new mailbox's MODSEQ too: its messages keep theirs.
			if _, err := tx.exec(ctx, `UPDATE mailboxes SET (uidnext, modseq) = (SELECT uidnext, modseq FROM mailboxes WHERE id = ?) WHERE id = ?`, id, nid); err != nil {
				return err
			}
			_, err = tx.exec(ctx, "UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?", nid, id)
			if err != nil {
				return err
			}
			// INBOX gets a new UIDVALIDITY since its messages vanished; its
			// tombstones name UIDs of the old one (condstore.go).
			if _, err := tx.exec(ctx, "DELETE FROM expunged WHERE mailbox_id = ?", id); err != nil {
				return err
			}
			_, err = tx.exec(ctx, "UPDATE mailboxes SET uidvalidity = ?, vanished_floor = modseq WHERE id = ?", rand.Uint32N(1<<31-1)+1, id)
			return err
		}
		// Children first, then the mailbox itself.
		if _, err := tx.exec(ctx, `UPDATE mailboxes SET name = ? || substr(name, ?) WHERE account_id = ? AND substr(name, 1, ?) = ?`,
			to+"/", len(from)+2, accountID, len(from)+1, from+"/"); err != nil {
			if isUnique(err) {
				return fmt.Errorf("a child of %s: %w", to, ErrExists)
			}
			return err
		}
		if _, err := tx.exec(ctx, "UPDATE mailboxes SET name = ? WHERE id = ?", to, id); err != nil {
			return err
		}
		// Create missing parents of the new name.
		parts := strings.Split(to, "/")
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], "/")
			if err := tx.queryRow(ctx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, parent).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				if _, err := createMailbox(ctx, tx, accountID, parent, ""); err != nil {
					return err
				}
			}
		}
		tx.emit(Event{Kind: EventMailboxes, AccountID: accountID, MailboxID: id, Origin: originOf(ctx)})
		return nil
	})
}

// Counts returns the STATUS numbers of a mailbox.
//
// Its counts are count(*) FILTER, not SQLite's sum() of comparisons:
// PostgreSQL's sum(boolean) (pgschema.go) calls an SQL function per row.
func (s *Store) Counts(ctx context.Context, mailboxID int64) (MailboxCounts, error) {
	var c MailboxCounts
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*),
		count(*) FILTER (WHERE flags & ? = 0), count(*) FILTER (WHERE flags & ? != 0), count(*) FILTER (WHERE flags & ? != 0), coalesce(sum(size), 0),
		coalesce((SELECT modseq FROM mailboxes WHERE id = ?), 0)
		FROM messages WHERE mailbox_id = ?`, FlagSeen, FlagRecent, FlagDeleted, mailboxID, mailboxID).Scan(&c.Messages, &c.Unseen, &c.Recent, &c.Deleted, &c.Size, &c.HighestModSeq)
	return c, err
}
