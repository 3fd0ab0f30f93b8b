package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Identities (migration 19) are how an account writes as each of its
// From addresses in the webmail: a display name for the From field and a
// signature appended to new messages and replies. The webmail's compose
// page reads them (Identities); its settings page writes them
// (SetIdentity). Which addresses an account may write as is not decided
// here but by delivery.MayUseSender: a row for an address the account
// may no longer use is simply not offered.

// Identity is the display name and signature of one From address.
type Identity struct {
	Address   string // lower case
	Name      string // display name, one line, at most MaxIdentityName bytes
	Signature string // plain text, at most MaxSignature bytes; "" for none
}

// Caps of an identity.
const (
	MaxIdentityName = 200
	MaxSignature    = 4 << 10
)

// ErrBadIdentity: SetIdentity refused a name or signature (too long, a
// line break or control character in the name, not UTF-8).
var ErrBadIdentity = errors.New("invalid identity")

// Identities returns an account's identities, by address.
func (s *Store) Identities(ctx context.Context, accountID int64) ([]Identity, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT address, name, signature FROM identities WHERE account_id = ? ORDER BY address", accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Identity
	for rows.Next() {
		var id Identity
		if err := rows.Scan(&id.Address, &id.Name, &id.Signature); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// IdentityOf returns the identity of one address of an account; an
// address without a row has an empty one (no name, no signature).
func (s *Store) IdentityOf(ctx context.Context, accountID int64, address string) (Identity, error) {
	id := Identity{Address: strings.ToLower(address)}
	err := s.rdb.QueryRowContext(ctx, "SELECT name, signature FROM identities WHERE account_id = ? AND address = ?", accountID, id.Address).Scan(&id.Name, &id.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return id, err
}

// SetIdentity stores the name and signature of id.Address for an
// account, replacing what was there; an empty name and signature remove
// the row. The caller checks that the account may use the address.
// Signature line ends are stored as "\n".
func (s *Store) SetIdentity(ctx context.Context, accountID int64, id Identity) error {
	id.Address = strings.ToLower(strings.TrimSpace(id.Address))
	id.Name = strings.TrimSpace(id.Name)
	id.Signature = strings.TrimRight(strings.ReplaceAll(id.Signature, "\r\n", "\n"), "\n ")
	if err := checkIdentity(id); err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		if id.Name == "" && id.Signature == "" {
			_, err := tx.exec(ctx, "DELETE FROM identities WHERE account_id = ? AND address = ?", accountID, id.Address)
			return err
		}
		_, err := tx.exec(ctx, "INSERT INTO identities(account_id, address, name, signature) VALUES(?, ?, ?, ?) ON CONFLICT(account_id, address) DO UPDATE SET name = excluded.name, signature = excluded.signature",
			accountID, id.Address, id.Name, id.Signature)
		return err
	})
}

func checkIdentity(id Identity) error {
	switch {
	case id.Address == "" || !strings.Contains(id.Address, "@") || strings.ContainsAny(id.Address, " \t\r\n<>,\""):
		return fmt.Errorf("address %q: %w", id.Address, ErrBadIdentity)
	case len(id.Name) > MaxIdentityName || !utf8.ValidString(id.Name) || strings.ContainsFunc(id.Name, isControl):
		return fmt.Errorf("display name: %w", ErrBadIdentity)
	case len(id.Signature) > MaxSignature || !utf8.ValidString(id.Signature) || strings.ContainsRune(id.Signature, '\r'):
		return fmt.Errorf("signature: %w", ErrBadIdentity)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
