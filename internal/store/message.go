package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Flags is the set of IMAP system flags of a message.
type Flags uint16

// System flags. FlagRecent is set on delivery and cleared by the first
// session that selects the mailbox (ClearRecent).
const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
	FlagRecent
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagSeen, `\Seen`}, {FlagAnswered, `\Answered`}, {FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`}, {FlagDraft, `\Draft`}, {FlagRecent, `\Recent`},
}

// Names returns the flags as IMAP names, without \Recent.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 && n.f != FlagRecent {
			out = append(out, n.name)
		}
	}
	return out
}

// ParseFlags splits IMAP flag names into system flags and keywords.
// \Recent cannot be set by clients and is ignored.
func ParseFlags(names []string) (Flags, []string) {
	var f Flags
	var kw []string
outer:
	for _, n := range names {
		for _, fn := range flagNames {
			if strings.EqualFold(n, fn.name) {
				if fn.f != FlagRecent {
					f |= fn.f
				}
				continue outer
			}
		}
		if strings.HasPrefix(n, `\`) {
			continue // unknown system flag: not storable
		}
		if !slices.Contains(kw, n) {
			kw = append(kw, n)
		}
	}
	return f, kw
}

// MessageMeta is what SELECT needs of each message.
type MessageMeta struct {
	UID      uint32
	Flags    Flags
	Keywords []string
}

// Message is a stored message's metadata.
type Message struct {
	MessageMeta
	ID           int64
	MailboxID    int64
	BodyID       int64
	InternalDate time.Time
	Size         int64
	ModSeq       int64
}

func joinKeywords(kw []string) any {
	if len(kw) == 0 {
		return nil
	}
	return strings.Join(kw, " ")
}

func splitKeywords(s sql.NullString) []string {
	if !s.Valid || s.String == "" {
		return nil
	}
	return strings.Split(s.String, " ")
}

// Snapshot returns every message of a mailbox in UID order with its flags:
// what a session needs to SELECT it. It is the hot path of opening a big
// mailbox, so it reads only two small columns.
func (s *Store) Snapshot(ctx context.Context, mailboxID int64) ([]MessageMeta, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT uid, flags, keywords FROM messages WHERE mailbox_id = ? ORDER BY uid", mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]MessageMeta, 0, 64)
	for rows.Next() {
		var m MessageMeta
		var kw sql.NullString
		if err := rows.Scan(&m.UID, &m.Flags, &kw); err != nil {
			return nil, err
		}
		m.Keywords = splitKeywords(kw)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Messages returns the messages of a mailbox whose UIDs are in [first,
// last] (last 0 means no upper bound), in UID order.
func (s *Store) Messages(ctx context.Context, mailboxID int64, first, last uint32) ([]Message, error) {
	if last == 0 {
		last = 1<<32 - 1
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, uid, body_id, flags, keywords, idate, size, modseq FROM messages
		WHERE mailbox_id = ? AND uid >= ? AND uid <= ? ORDER BY uid`, mailboxID, first, last)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var kw sql.NullString
		var d int64
		if err := rows.Scan(&m.ID, &m.UID, &m.BodyID, &m.Flags, &kw, &d, &m.Size, &m.ModSeq); err != nil {
			return nil, err
		}
		m.MailboxID = mailboxID
		m.Keywords = splitKeywords(kw)
		m.InternalDate = time.Unix(d, 0)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Body returns the raw bytes of a stored message.
func (s *Store) Body(ctx context.Context, bodyID int64) ([]byte, error) {
	var b []byte
	var file sql.NullString
	err := s.rdb.QueryRowContext(ctx, "SELECT data, file FROM bodies WHERE id = ?", bodyID).Scan(&b, &file)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	if file.Valid {
		return s.readBodyFile(file.String)
	}
	return b, nil
}

// addMessage appends a message row to a mailbox, taking the next UID.
//
// On PostgreSQL the counter update and the INSERT are one statement
// (addMessagePG).
func addMessage(ctx context.Context, tx *Tx, accountID, mailboxID, bodyID int64, size int64, f Flags, kw []string, idate time.Time) (uint32, error) {
	var uid uint32
	var modseq int64
	var err error
	if tx.s.pg {
		err = tx.queryRow(ctx, addMessagePG, mailboxID, bodyID, f, joinKeywords(kw), idate.Unix(), size).Scan(&uid, &modseq)
	} else {
		err = tx.queryRow(ctx, "UPDATE mailboxes SET uidnext = uidnext + 1, modseq = modseq + 1 WHERE id = ? RETURNING uidnext - 1, modseq", mailboxID).Scan(&uid, &modseq)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
	} else if err != nil {
		return 0, err
	}
	if !tx.s.pg {
		if _, err := tx.exec(ctx, "INSERT INTO messages(mailbox_id, uid, body_id, flags, keywords, idate, size, modseq) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
			mailboxID, uid, bodyID, f, joinKeywords(kw), idate.Unix(), size, modseq); err != nil {
			return 0, err
		}
	}
	tx.emit(Event{Kind: EventNewMessage, AccountID: accountID, MailboxID: mailboxID, UID: uid, ModSeq: modseq, Flags: f, Keywords: kw, Origin: originOf(ctx)})
	return uid, nil
}

// addMessagePG is addMessage's two statements in one (PostgreSQL).
const addMessagePG = `WITH u AS (UPDATE mailboxes SET uidnext = uidnext + 1, modseq = modseq + 1 WHERE id = ?1 RETURNING id, uidnext - 1 AS uid, modseq),
i AS (INSERT INTO messages(mailbox_id, uid, body_id, flags, keywords, idate, size, modseq)
	SELECT id, uid, ?2::bigint, ?3::bigint, ?4::text, ?5::bigint, ?6::bigint, modseq FROM u)
SELECT uid, modseq FROM u`

// Append adds a message to a mailbox (IMAP APPEND) and returns its UID and
// the mailbox's UIDVALIDITY.
func (s *Store) Append(ctx context.Context, accountID int64, mailbox string, data []byte, f Flags, kw []string, idate time.Time) (uid, uidValidity uint32, err error) {
	b, err := s.prepareBody(nil, data)
	if err != nil {
		return 0, 0, err
	}
	return s.appendBody(ctx, accountID, mailbox, b, f, kw, idate)
}

// AppendSpooled is Append for a body already streamed into the store's
// file area (NewBodyWriter), so that a large APPEND is never held in
// memory. The body is discarded when the append fails.
func (s *Store) AppendSpooled(ctx context.Context, accountID int64, mailbox string, sb *SpooledBody, f Flags, kw []string, idate time.Time) (uid, uidValidity uint32, err error) {
	return s.appendBody(ctx, accountID, mailbox, sb.b, f, kw, idate)
}

func (s *Store) appendBody(ctx context.Context, accountID int64, mailbox string, b body, f Flags, kw []string, idate time.Time) (uid, uidValidity uint32, err error) {
	mailbox = NormalizeMailboxName(mailbox)
	defer func() {
		if err != nil {
			s.discardBody(b)
		}
	}()
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var mid, quota int64
		var use string
		if err := tx.queryRow(ctx, "SELECT b.id, b.uidvalidity, b.special_use, a.quota FROM mailboxes b JOIN accounts a ON a.id = b.account_id WHERE b.account_id = ? AND b.name = ?",
			accountID, mailbox).Scan(&mid, &uidValidity, &use, &quota); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %s: %w", mailbox, ErrNotFound)
		} else if err != nil {
			return err
		}
		if err := checkQuota(ctx, tx, accountID, quota, b.size); err != nil {
			return err
		}
		var bid int64
		var err error
		if tx.s.pg && b.file == "" {
			// The body and the message row in one statement.
			var got int64
			if bid, got, uid, err = addInlinePG(ctx, tx, appendOneSQLPG, b, accountID, mid, accountID, f|FlagRecent, kw, idate); err == nil && got == 0 {
				err = fmt.Errorf("mailbox %d: %w", mid, ErrNotFound)
			}
		} else if bid, err = insertBody(ctx, tx, b); err == nil {
			uid, err = addMessage(ctx, tx, accountID, mid, bid, b.size, f|FlagRecent, kw, idate)
		}
		if err != nil {
			return err
		}
		if spamRoleOf(mailbox, use) == roleSent { // spam.go: whom the user writes to
			return queueSpamTraining(ctx, tx, accountID, bid, SpamClassSent)
		}
		return nil
	})
	return uid, uidValidity, err
}

// FlagOp says how UpdateFlags combines the given flags with the old ones.
type FlagOp int

// Flag operations of IMAP STORE.
const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// UpdateFlags changes the flags of the messages with the given UIDs and
// returns their new flags (only messages that exist), ascending by UID:
// UpdateFlagsUnchangedSince (condstore.go) without a condition.
func (s *Store) UpdateFlags(ctx context.Context, accountID, mailboxID int64, uids []uint32, op FlagOp, f Flags, kw []string) ([]MessageMeta, error) {
	changed, _, err := s.UpdateFlagsUnchangedSince(ctx, accountID, mailboxID, uids, op, f, kw, 0)
	if err != nil {
		return nil, err
	}
	out := make([]MessageMeta, len(changed))
	for i, c := range changed {
		out[i] = c.MessageMeta
	}
	return out, nil
}

// Expunge removes messages from a mailbox: those with the given UIDs that
// carry \Deleted, or every \Deleted message when uids is nil. It returns
// the removed UIDs in ascending order.
func (s *Store) Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error) {
	var out []uint32
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = out[:0]
		if tx.s.pg {
			var err error
			out, err = expungePG(ctx, tx, accountID, mailboxID, uids)
			return err
		}
		rows, err := tx.tx.QueryContext(ctx, "SELECT uid FROM messages WHERE mailbox_id = ? AND flags & ? != 0 ORDER BY uid", mailboxID, FlagDeleted)
		if err != nil {
			return err
		}
		for rows.Next() {
			var u uint32
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return err
			}
			if uids == nil || slices.Contains(uids, u) {
				out = append(out, u)
			}
		}
		rows.Close()
		return removeMessages(ctx, tx, accountID, mailboxID, out)
	})
	return out, err
}

// expungeSQLPG is Expunge on PostgreSQL in one statement: it picks the
// \Deleted messages (?2; only those of ?4 unless ?3 is 0), raises the
// mailbox's MODSEQ once if any (the mailbox must be ?5's), deletes them
// and writes their tombstones (removeMessages and recordExpunged). Its
// one row: how many it picked, the new MODSEQ (NULL: none, or not the
// account's mailbox), the UIDs removed, and the at of the mailbox's
// oldest tombstone from before (for compactExpunged).
const expungeSQLPG = `WITH d AS (SELECT uid FROM messages WHERE mailbox_id = ?1 AND flags & ?2 != 0 AND (?3 = 0 OR uid = ANY(?4::bigint[]))),
m AS (UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ?1 AND account_id = ?5 AND EXISTS (SELECT 1 FROM d) RETURNING modseq),
x AS (DELETE FROM messages WHERE mailbox_id = ?1 AND uid IN (SELECT uid FROM d) AND EXISTS (SELECT 1 FROM m) RETURNING uid),
e AS (INSERT INTO expunged(mailbox_id, uid, modseq, at) SELECT ?1, x.uid, m.modseq, ?6::bigint FROM x, m WHERE true
	ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq, at = excluded.at)
SELECT (SELECT count(*) FROM d), (SELECT modseq FROM m), (SELECT string_agg(uid::text, ',' ORDER BY uid) FROM x),
	(SELECT at FROM expunged WHERE mailbox_id = ?1 ORDER BY modseq LIMIT 1)`

// expungePG is Expunge's write on PostgreSQL (expungeSQLPG): the removed
// UIDs, ascending.
func expungePG(ctx context.Context, tx *Tx, accountID, mailboxID int64, uids []uint32) ([]uint32, error) {
	only := make([]int64, len(uids))
	for i, u := range uids {
		only[i] = int64(u)
	}
	filter := 0
	if uids != nil {
		filter = 1
	}
	at := time.Now()
	var picked int64
	var modseq, oldest sql.NullInt64
	var list sql.NullString
	if err := tx.queryRow(ctx, expungeSQLPG, mailboxID, FlagDeleted, filter, only, accountID, at.Unix()).Scan(&picked, &modseq, &list, &oldest); err != nil {
		return nil, err
	}
	if picked > 0 && !modseq.Valid {
		return nil, sql.ErrNoRows // not the account's mailbox, as removeMessages answers
	}
	var out []uint32
	for f := range strings.SplitSeq(list.String, ",") {
		if f == "" {
			continue
		}
		u, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("expunged uid %q: %w", f, err)
		}
		out = append(out, uint32(u))
		tx.emit(Event{Kind: EventExpunge, AccountID: accountID, MailboxID: mailboxID, UID: uint32(u), ModSeq: modseq.Int64, Origin: originOf(ctx)})
	}
	if len(out) == 0 || !oldest.Valid {
		return out, nil
	}
	return out, compactOlderThan(ctx, tx, mailboxID, oldest.Int64, at)
}

// bodyRefIndexSchema is migration 35 on PostgreSQL: an index on each
// column that references a body. A body is deleted (by the triggers)
// when its last message or queue row goes, and PostgreSQL then checks
// the foreign keys that point at it: without these indexes by a scan of
// every message of every account, per body (0.4 ms per expunged message
// with 6,000 messages in the database, 2.6 ms with 60,000; 0.1 ms with
// the index). SQLite checks its foreign keys the same way, by a scan, but
// keeps its schema: in the IMAP benchmark's small mailboxes an APPEND
// and EXPUNGE cost it more with the index than without
// (bench/results/cluster-2026-12-08.md).
const bodyRefIndexSchema = `
CREATE INDEX IF NOT EXISTS messages_body ON messages(body_id);
CREATE INDEX IF NOT EXISTS queue_body ON queue(body_id);
CREATE INDEX IF NOT EXISTS spam_train_body ON spam_train_queue(body_id);
`

// removeMessages deletes messages of a mailbox under one new MODSEQ,
// leaving their tombstones (condstore.go). Every removal of messages from
// a mailbox that stays goes through here.
func removeMessages(ctx context.Context, tx *Tx, accountID, mailboxID int64, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	var modseq int64
	if err := tx.queryRow(ctx, "UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ? AND account_id = ? RETURNING modseq", mailboxID, accountID).Scan(&modseq); err != nil {
		return err
	}
	for _, u := range uids {
		if _, err := tx.exec(ctx, "DELETE FROM messages WHERE mailbox_id = ? AND uid = ?", mailboxID, u); err != nil {
			return err
		}
		tx.emit(Event{Kind: EventExpunge, AccountID: accountID, MailboxID: mailboxID, UID: u, ModSeq: modseq, Origin: originOf(ctx)})
	}
	return recordExpunged(ctx, tx, mailboxID, uids, modseq) // condstore.go: for VANISHED
}

// CopyResult pairs source UIDs with the UIDs of the copies (UIDPLUS).
type CopyResult struct {
	UIDValidity uint32
	SourceUIDs  []uint32
	DestUIDs    []uint32
}

// Copy copies messages to another mailbox of the same account; with move
// set, it also removes them from the source (IMAP MOVE), atomically.
// Copies keep flags and internal date and get \Recent.
func (s *Store) Copy(ctx context.Context, accountID, srcMailboxID int64, uids []uint32, dest string, move bool) (CopyResult, error) {
	dest = NormalizeMailboxName(dest)
	var res CopyResult
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res = CopyResult{}
		var did int64
		if err := tx.queryRow(ctx, "SELECT id, uidvalidity FROM mailboxes WHERE account_id = ? AND name = ?", accountID, dest).Scan(&did, &res.UIDValidity); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %s: %w", dest, ErrNotFound)
		} else if err != nil {
			return err
		}
		var owner int64
		if err := tx.queryRow(ctx, "SELECT account_id FROM mailboxes WHERE id = ?", srcMailboxID).Scan(&owner); err != nil || owner != accountID {
			return ErrNotFound
		}
		train, err := moveTraining(ctx, tx, srcMailboxID, did) // spam.go: moves into and out of Junk
		if err != nil {
			return err
		}
		sorted := slices.Clone(uids)
		slices.Sort(sorted)
		sorted = slices.Compact(sorted)
		for _, u := range sorted {
			var bid, size, d int64
			var f Flags
			var kw sql.NullString
			err := tx.queryRow(ctx, "SELECT body_id, size, idate, flags, keywords FROM messages WHERE mailbox_id = ? AND uid = ?", srcMailboxID, u).Scan(&bid, &size, &d, &f, &kw)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			} else if err != nil {
				return err
			}
			nu, err := addMessage(ctx, tx, accountID, did, bid, size, f|FlagRecent, splitKeywords(kw), time.Unix(d, 0))
			if err != nil {
				return err
			}
			if err := queueSpamTraining(ctx, tx, accountID, bid, train); err != nil {
				return err
			}
			res.SourceUIDs = append(res.SourceUIDs, u)
			res.DestUIDs = append(res.DestUIDs, nu)
		}
		if move {
			return removeMessages(ctx, tx, accountID, srcMailboxID, res.SourceUIDs)
		}
		return nil
	})
	return res, err
}

// ClearRecent clears \Recent on every message of the mailbox and returns
// the UIDs that had it: the first session to select a mailbox sees them as
// recent, later ones do not (as in Dovecot).
func (s *Store) ClearRecent(ctx context.Context, mailboxID int64) ([]uint32, error) {
	var out []uint32
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = out[:0]
		rows, err := tx.tx.QueryContext(ctx, "UPDATE messages SET flags = flags & ? WHERE mailbox_id = ? AND flags & ? != 0 RETURNING uid", ^FlagRecent, mailboxID, FlagRecent)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u uint32
			if err := rows.Scan(&u); err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	slices.Sort(out)
	return out, err
}
