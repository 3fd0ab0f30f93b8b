package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime"
	nettextproto "net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"boxmail/internal/mailmsg"
)

// IMAP SEARCH FROM/TO/CC/BCC/SUBJECT (and HEADER on those fields) compare
// a substring with each field's value after decoding encoded words,
// case-insensitively (RFC 3501 6.4.4). Parsing the header of each of
// 100,000 messages for that was most of a SEARCH SUBJECT, so each body
// keeps those fields' values in the form the comparison uses
// (FoldHeaderValue) in the header_search table (migration 12): the search
// picks its candidates with instr() over these short strings and parses
// only their headers. A change of FoldHeaderValue needs a migration that
// recomputes the table.

// searchFields are the fields kept in header_search, by canonical name,
// with their columns.
var searchFields = map[string]string{
	"Subject": "subject",
	"From":    "hfrom",
	"To":      "hto",
	"Cc":      "cc",
	"Bcc":     "bcc",
}

var searchColumns = []string{"Subject", "From", "To", "Cc", "Bcc"} // insert order

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	if message.CharsetReader != nil {
		return message.CharsetReader(charset, r)
	}
	return nil, fmt.Errorf("unhandled charset %q", charset)
}}

// FoldHeaderValue is the form of a header field's value that SEARCH
// compares: encoded words decoded (left as they are when that fails),
// lower-cased. The value is as textproto.Header gives it (unfolded).
func FoldHeaderValue(v string) string {
	if dec, err := wordDecoder.DecodeHeader(v); err == nil {
		v = dec
	}
	return strings.ToLower(v)
}

// headerSearchRow is the header_search row of a message: per field of
// searchColumns, the folded values of its occurrences, joined by "\n".
func headerSearchRow(data []byte) [][]byte {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data[:mailmsg.HeaderEnd(data)])))
	out := make([][]byte, len(searchColumns))
	for i, k := range searchColumns {
		var b []byte
		for f := h.FieldsByKey(k); f.Next(); {
			if len(b) > 0 {
				b = append(b, '\n')
			}
			b = append(b, FoldHeaderValue(f.Value())...)
		}
		if b == nil {
			b = []byte{}
		}
		out[i] = b
	}
	return out
}

func insertHeaderSearch(ctx context.Context, exec func(ctx context.Context, q string, args ...any) (sql.Result, error), bodyID int64, r [][]byte) error {
	_, err := exec(ctx, "INSERT INTO header_search(body_id, subject, hfrom, hto, cc, bcc) VALUES(?, ?, ?, ?, ?, ?)", bodyID, r[0], r[1], r[2], r[3], r[4])
	return err
}

// backfillHeaderSearch fills header_search for the bodies stored before
// migration 12, inside that migration's transaction.
func backfillHeaderSearch(ctx context.Context, tx *sql.Tx) error {
	return backfillRows(ctx, tx, "SELECT body_id, data FROM headers WHERE body_id > ? ORDER BY body_id LIMIT 1000",
		func(id int64, data []byte) error {
			return insertHeaderSearch(ctx, tx.ExecContext, id, headerSearchRow(data))
		})
}

// backfillRows runs fn on every (id, data) row of query, a keyset-paged
// SELECT whose one argument is the last id seen (ORDER BY id, LIMIT n),
// one page in memory at a time: the Go steps of migrations that index
// what was stored before them.
func backfillRows(ctx context.Context, tx *sql.Tx, query string, fn func(id int64, data []byte) error) error {
	type row struct {
		id   int64
		data []byte
	}
	last := int64(0)
	for {
		rows, err := tx.QueryContext(ctx, query, last)
		if err != nil {
			return err
		}
		var page []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.data); err != nil {
				return errors.Join(err, rows.Close())
			}
			page = append(page, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, r := range page {
			if err := fn(r.id, r.data); err != nil {
				return err
			}
		}
		last = page[len(page)-1].id
	}
}

// HeaderCandidates returns, ascending, the UIDs of the messages of a
// mailbox whose header field may contain value: those whose folded field
// (FoldHeaderValue) contains the lower-cased value, and those without a
// header_search row. The caller still matches each candidate exactly.
// ok is false when the field is not kept (then every message is a
// candidate).
func (s *Store) HeaderCandidates(ctx context.Context, mailboxID int64, field, value string) (uids []uint32, ok bool, err error) {
	sure, maybe, ok, err := s.HeaderMatches(ctx, mailboxID, field, value)
	if err != nil || !ok {
		return nil, ok, err
	}
	uids = append(sure, maybe...)
	slices.Sort(uids)
	return uids, true, nil
}

// HeaderMatches is HeaderCandidates split in two: sure are the messages
// whose kept field contains value, which is exactly the test of IMAP
// SEARCH FROM/TO/CC/BCC/SUBJECT (a substring of FoldHeaderValue of any
// occurrence: the kept values are those, one per line, so a value
// without a line break matches within one); maybe are those without a
// header_search row, to be matched by reading them. A value with a line
// break makes every kept match a maybe. Both ascend.
func (s *Store) HeaderMatches(ctx context.Context, mailboxID int64, field, value string) (sure, maybe []uint32, ok bool, err error) {
	col, ok := searchFields[nettextproto.CanonicalMIMEHeaderKey(field)]
	if !ok {
		return nil, nil, false, nil
	}
	var sureList, maybeList sql.NullString
	err = s.rdb.QueryRowContext(ctx, `SELECT group_concat(m.uid, ',') FILTER (WHERE h.body_id IS NOT NULL),
		group_concat(m.uid, ',') FILTER (WHERE h.body_id IS NULL) FROM messages m
		LEFT JOIN header_search h ON h.body_id = m.body_id
		WHERE m.mailbox_id = ? AND (h.body_id IS NULL OR instr(h.`+col+`, ?) > 0)`,
		mailboxID, []byte(strings.ToLower(value))).Scan(&sureList, &maybeList)
	if err != nil {
		return nil, nil, false, err
	}
	if sure, err = uidList(sureList.String); err != nil {
		return nil, nil, false, fmt.Errorf("candidates in mailbox %d: %w", mailboxID, err)
	}
	if maybe, err = uidList(maybeList.String); err != nil {
		return nil, nil, false, fmt.Errorf("candidates in mailbox %d: %w", mailboxID, err)
	}
	if strings.ContainsAny(value, "\r\n") {
		maybe = append(maybe, sure...)
		sure = nil
		slices.Sort(maybe)
	}
	return sure, maybe, true, nil
}

// uidList parses a group_concat of UIDs, sorted.
func uidList(list string) ([]uint32, error) {
	var uids []uint32
	for f := range strings.SplitSeq(list, ",") {
		if f == "" {
			continue
		}
		u, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, err
		}
		uids = append(uids, uint32(u))
	}
	slices.Sort(uids)
	return uids, nil
}
