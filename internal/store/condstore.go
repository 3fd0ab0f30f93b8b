package store

// stand-in until the condstore branch merges
//
// The smallest versions of the CONDSTORE/QRESYNC reads imapd codes
// against (issue 18); the condstore branch replaces this file. Without
// a record of expunged UIDs, VanishedSince answers every UID below
// UIDNEXT that is not in the mailbox (a superset RFC 7162 3.2.10 allows).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// ChangedMeta is a message's flags and its modification sequence.
type ChangedMeta struct {
	MessageMeta
	ModSeq int64
}

// ChangedSince returns the messages of a mailbox whose modseq is above
// since (0: all), only those of uids unless it is nil, ascending by UID.
func (s *Store) ChangedSince(ctx context.Context, mailboxID int64, since int64, uids []uint32) ([]ChangedMeta, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid", mailboxID, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var want []uint32
	if uids != nil {
		want = slices.Clone(uids)
		slices.Sort(want)
	}
	var out []ChangedMeta
	for rows.Next() {
		var m ChangedMeta
		var kw sql.NullString
		if err := rows.Scan(&m.UID, &m.Flags, &kw, &m.ModSeq); err != nil {
			return nil, err
		}
		if uids != nil {
			if _, ok := slices.BinarySearch(want, m.UID); !ok {
				continue
			}
		}
		m.Keywords = splitKeywords(kw)
		out = append(out, m)
	}
	return out, rows.Err()
}

// VanishedSince returns the UIDs expunged from a mailbox with a modseq
// above since, ascending (here: every UID below UIDNEXT not present).
func (s *Store) VanishedSince(ctx context.Context, mailboxID int64, since int64) ([]uint32, error) {
	var uidNext uint32
	err := s.rdb.QueryRowContext(ctx, "SELECT uidnext FROM mailboxes WHERE id = ?", mailboxID).Scan(&uidNext)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	present, err := s.ChangedSince(ctx, mailboxID, 0, nil)
	if err != nil {
		return nil, err
	}
	var out []uint32
	next := uint32(1)
	for _, m := range present {
		for ; next < m.UID; next++ {
			out = append(out, next)
		}
		next = m.UID + 1
	}
	for ; next < uidNext; next++ {
		out = append(out, next)
	}
	return out, nil
}

// UpdateFlagsUnchangedSince is UpdateFlags for the messages whose modseq
// is not above unchangedSince (RFC 7162 3.1.3): changed holds their new
// flags and modseqs, modified the UIDs left alone.
func (s *Store) UpdateFlagsUnchangedSince(ctx context.Context, accountID, mailboxID int64, uids []uint32, op FlagOp, f Flags, kw []string, unchangedSince int64) (changed []ChangedMeta, modified []uint32, err error) {
	newer, err := s.ChangedSince(ctx, mailboxID, unchangedSince, uids)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range newer {
		modified = append(modified, m.UID)
	}
	var ok []uint32
	for _, u := range uids {
		if _, found := slices.BinarySearch(modified, u); !found {
			ok = append(ok, u)
		}
	}
	if len(ok) == 0 {
		return nil, modified, nil
	}
	if _, err := s.UpdateFlags(ctx, accountID, mailboxID, ok, op, f, kw); err != nil {
		return nil, nil, err
	}
	changed, err = s.ChangedSince(ctx, mailboxID, unchangedSince, ok)
	return changed, modified, err
}
