package store

import (
	"context"
	"database/sql"
	"slices"
)

// POP3Update is the UPDATE state of a POP3 session (RFC 1939 6) in one
// transaction: the messages in seen get \Seen, those in remove are removed
// whatever their flags. UIDs no longer in the mailbox are skipped (an IMAP
// session may have expunged them meanwhile). It returns the removed UIDs.
func (s *Store) POP3Update(ctx context.Context, accountID, mailboxID int64, seen, remove []uint32) ([]uint32, error) {
	var out []uint32
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = out[:0]
		var owner int64
		if err := tx.queryRow(ctx, "SELECT account_id FROM mailboxes WHERE id = ?", mailboxID).Scan(&owner); err != nil || owner != accountID {
			return ErrNotFound
		}
		var modseq int64
		for _, u := range seen {
			if slices.Contains(remove, u) {
				continue
			}
			var f Flags
			var kw sql.NullString
			if err := tx.queryRow(ctx, "SELECT flags, keywords FROM messages WHERE mailbox_id = ? AND uid = ?", mailboxID, u).Scan(&f, &kw); err != nil {
				continue // gone
			}
			if f&FlagSeen != 0 {
				continue
			}
			if modseq == 0 {
				if err := tx.queryRow(ctx, "UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ? RETURNING modseq", mailboxID).Scan(&modseq); err != nil {
					return err
				}
			}
			if _, err := tx.exec(ctx, "UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?", f|FlagSeen, modseq, mailboxID, u); err != nil {
				return err
			}
			tx.emit(Event{Kind: EventFlags, AccountID: accountID, MailboxID: mailboxID, UID: u, ModSeq: modseq, Flags: f | FlagSeen, Keywords: splitKeywords(kw), Origin: originOf(ctx)})
		}
		for _, u := range remove {
			var one int
			if err := tx.queryRow(ctx, "SELECT 1 FROM messages WHERE mailbox_id = ? AND uid = ?", mailboxID, u).Scan(&one); err == nil {
				out = append(out, u)
			}
		}
		slices.Sort(out)
		return removeMessages(ctx, tx, accountID, mailboxID, out)
	})
	return out, err
}
