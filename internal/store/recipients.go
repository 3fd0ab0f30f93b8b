package store

import (
	"context"
	"net/mail"
	"strings"
)

// PastRecipients returns up to limit addresses an account wrote to, the
// most recent first: the To, Cc and Bcc addresses of the latest 500
// messages in its \Sent mailbox (whatever program sent them), from the
// header_search table, so no message is parsed. Addresses are lower case
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
	return out, rows.Err()
}
