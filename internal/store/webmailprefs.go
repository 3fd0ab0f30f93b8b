package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// The webmail's per-account reading preferences. Today one: the senders
// whose remote images an account always wants shown (through the
// webmail's image proxy). Addresses are kept in lower case; the webmail
// decides what a sender is (the From address), the store only keeps the
// list.

// maxImageSenderLen bounds a kept address (RFC 5321's path limit).
const maxImageSenderLen = 256

// normSender is the form an address is kept and looked up in.
func normSender(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// AllowImagesFrom records that the account wants remote images of mail
// from sender shown. Recording it again changes nothing.
func (s *Store) AllowImagesFrom(ctx context.Context, accountID int64, sender string) error {
	sender = normSender(sender)
	if sender == "" || len(sender) > maxImageSenderLen {
		return errors.New("store: no valid sender address to remember")
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO webmail_image_senders(account_id, sender, created) VALUES(?, ?, ?)
			ON CONFLICT(account_id, sender) DO NOTHING`, accountID, sender, time.Now().Unix())
		return err
	})
}

// ForgetImagesFrom undoes AllowImagesFrom; forgetting an address not
// kept is no error.
func (s *Store) ForgetImagesFrom(ctx context.Context, accountID int64, sender string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM webmail_image_senders WHERE account_id = ? AND sender = ?", accountID, normSender(sender))
		return err
	})
}

// ImagesAllowedFrom reports whether the account wants remote images of
// mail from sender shown.
func (s *Store) ImagesAllowedFrom(ctx context.Context, accountID int64, sender string) (bool, error) {
	sender = normSender(sender)
	if sender == "" {
		return false, nil
	}
	var one int
	err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM webmail_image_senders WHERE account_id = ? AND sender = ?", accountID, sender).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
