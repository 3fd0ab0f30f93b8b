package store

import (
	"context"
	"net/mail"
	"strings"
	"time"
)

// maxSenderCandidates bounds the messages SenderSeenBefore parses: the
// folded From values that merely contain the address (a longer address,
// a display name quoting it) are checked one by one.
const maxSenderCandidates = 200

// SenderSeenBefore reports whether the account holds, in any mailbox, a
// message other than body exceptBody whose From names addr and whose
// internal date is before before: the webmail's trust panel says "first
// message from this sender" when it does not. Candidates come from the
// header_search table (FoldHeaderValue of From, lower case) and each is
// parsed to compare the address exactly, case-insensitively. A message
// without a header_search row is not counted.
func (s *Store) SenderSeenBefore(ctx context.Context, accountID int64, addr string, before time.Time, exceptBody int64) (bool, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return false, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT h.hfrom FROM messages m
		JOIN mailboxes b ON b.id = m.mailbox_id
		JOIN header_search h ON h.body_id = m.body_id
		WHERE b.account_id = ? AND m.body_id != ? AND m.idate < ? AND instr(h.hfrom, ?) > 0
		LIMIT ?`, accountID, exceptBody, before.Unix(), []byte(addr), maxSenderCandidates)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var from []byte
		if err := rows.Scan(&from); err != nil {
			return false, err
		}
		for v := range strings.SplitSeq(string(from), "\n") {
			list, err := mail.ParseAddressList(v)
			if err != nil {
				// Unparsable: the address standing alone or in <> counts.
				if strings.TrimSpace(v) == addr || strings.Contains(v, "<"+addr+">") {
					return true, nil
				}
				continue
			}
			for _, a := range list {
				if strings.EqualFold(a.Address, addr) {
					return true, nil
				}
			}
		}
	}
	return false, rows.Err()
}
