package store

import (
	"context"
	"net/mail"
	"strings"
)

// PastRecipients returns up to limit addresses an account wrote to, the
// most recent first: the To, Cc and Bcc addresses of the latest 500
// messages in its \Sent mailbox (whatever program sent them), from the
// header_search table, so no message is parsed; then the addresses of
// the account's contacts (contactAddresses). Addresses are lower case
// (the table keeps folded values). The webmail's recipient autocomplete
// uses it.
func (s *Store) PastRecipients(ctx context.Context, accountID int64, limit int) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT h.hto, h.cc, h.bcc FROM messages m
		JOIN mailboxes b ON b.id = m.mailbox_id JOIN header_search h ON h.body_id = m.body_id
		WHERE b.account_id = ? AND b.special_use = '\Sent' ORDER BY m.id DESC LIMIT 500`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() {
		var to, cc, bcc []byte
		if err := rows.Scan(&to, &cc, &bcc); err != nil {
			return nil, err
		}
		for _, v := range [][]byte{to, cc, bcc} {
			for line := range strings.SplitSeq(string(v), "\n") {
				list, err := mail.ParseAddressList(line)
				if err != nil {
					continue
				}
				for _, a := range list {
					if addr := strings.ToLower(a.Address); !seen[addr] && len(out) < limit {
						seen[addr] = true
						out = append(out, addr)
					}
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return s.contactAddresses(ctx, accountID, limit, seen, out)
}

// maxContactScan bounds the contacts read for suggestions.
const maxContactScan = 5000

// contactAddresses appends to out the EMAIL addresses of the account's
// contacts (CardDAV address books, store/dav.go) that are not in seen,
// up to limit in all. A vCard is read only for its EMAIL lines (folded
// lines joined, parameters dropped); a value that is not an address is
// skipped.
func (s *Store) contactAddresses(ctx context.Context, accountID int64, limit int, seen map[string]bool, out []string) ([]string, error) {
	if len(out) >= limit {
		return out, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT o.data FROM dav_objects o JOIN dav_collections c ON c.id = o.collection_id
		WHERE c.account_id = ? AND c.kind = 'card' ORDER BY o.modified DESC LIMIT ?`, accountID, maxContactScan)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() && len(out) < limit {
		var card []byte
		if err := rows.Scan(&card); err != nil {
			return nil, err
		}
		for _, v := range vcardEmails(card) {
			a, err := mail.ParseAddress(v)
			if err != nil {
				continue
			}
			if addr := strings.ToLower(a.Address); !seen[addr] && len(out) < limit {
				seen[addr] = true
				out = append(out, addr)
			}
		}
	}
	return out, rows.Err()
}

// vcardEmails returns the values of a vCard's EMAIL properties (RFC 6350
// 3.2 unfolding; group prefixes and parameters dropped).
func vcardEmails(card []byte) []string {
	unfolded := strings.NewReplacer("\r\n ", "", "\r\n\t", "", "\n ", "", "\n\t", "").Replace(string(card))
	var out []string
	for line := range strings.SplitSeq(unfolded, "\n") {
		name, value, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, ";")
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		if strings.EqualFold(name, "EMAIL") {
			out = append(out, strings.TrimSpace(value))
		}
	}
	return out
}
