package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LocalTarget is one mailbox a delivered message goes to.
type LocalTarget struct {
	AccountID int64
	Mailbox   string // "" means INBOX; a missing mailbox falls back to INBOX
	Flags     Flags
	Keywords  []string
	Create    bool // create a missing mailbox instead of falling back to INBOX
}

// Delivery is one accepted message: the bytes to store once, the local
// mailboxes it lands in and the remote recipients it is queued for.
type Delivery struct {
	Data []byte
	// Trace is put in front of Data in the stored local copies (the trace
	// fields of final delivery), so a large message is not copied to
	// gain a few lines. Queued copies never carry it.
	Trace    []byte
	Received time.Time
	Local    []LocalTarget
	// Sender is the envelope sender for queued copies ("" for bounces).
	Sender string
	Remote []string
	// RequireTLS marks the queue entries of Remote: their sender asked
	// for REQUIRETLS (RFC 8689; store/tlspolicy.go).
	RequireTLS bool
	// Copies are more queue entries with their own sender (sieve.go).
	Copies []QueuedCopy
	// DMARC, when set, is counted for the aggregate reports in the same
	// transaction (store/dmarcrecords.go).
	DMARC *DMARCEvaluation
}

// Deliver stores d durably in one transaction: every local copy and the
// queue row become visible together, or nothing does. It returns after the
// commit is fsynced.
func (s *Store) Deliver(ctx context.Context, d Delivery) error {
	_, err := s.DeliverQueued(ctx, d)
	return err
}

// DeliverQueued is Deliver that also returns the ids of the queue
// entries it made (one per remote recipient domain and queued copy), in
// the order made: what the queue's log lines call queue_id.
func (s *Store) DeliverQueued(ctx context.Context, d Delivery) ([]int64, error) {
	if len(d.Local) == 0 && len(d.Remote) == 0 && len(d.Copies) == 0 {
		return nil, fmt.Errorf("delivery without recipients: %w", ErrInvalid)
	}
	if len(d.Trace) > 0 && len(d.Remote) > 0 {
		return nil, fmt.Errorf("trace fields on a queued message: %w", ErrInvalid)
	}
	b, err := s.prepareBody(d.Trace, d.Data)
	if err != nil {
		return nil, err
	}
	var ids []int64
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		ids, err = deliverTx(ctx, tx, d, b)
		return err
	})
	if err != nil {
		s.discardBody(b)
		return nil, err
	}
	return ids, nil
}

// deliverTx stores d inside an open transaction: one body (b, from
// d.Data), a message row per local target, a queue row per remote
// recipient domain. It returns the ids of the queue rows.
func deliverTx(ctx context.Context, tx *Tx, d Delivery, b body) ([]int64, error) {
	if d.Received.IsZero() {
		d.Received = time.Now()
	}
	local := d.Local
	var bid int64
	var err error
	one := tx.s.pg && b.file == "" && len(local) == 1
	if one {
		// The commonest delivery, in one statement.
		bid, local, err = deliverOnePG(ctx, tx, b, local[0], d.Received)
	} else {
		bid, err = insertBody(ctx, tx, b)
	}
	if err != nil {
		return nil, err
	}
	if d.DMARC != nil {
		if err := addDMARCEvaluation(ctx, tx, *d.DMARC); err != nil {
			return nil, err
		}
	}
	if tx.s.pg && len(local) > 0 && !one {
		// One statement for the targets whose mailbox exists; the others
		// (created, or INBOX instead) one by one below.
		if local, err = addMessagesPG(ctx, tx, local, bid, int64(len(d.Trace)+len(d.Data)), d.Received); err != nil {
			return nil, err
		}
	}
	for _, t := range local {
		name := targetMailbox(t)
		var mid int64
		err := tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?", t.AccountID, name).Scan(&mid)
		if errors.Is(err, sql.ErrNoRows) && name != "INBOX" && t.Create && validMailboxName(name) == nil {
			mid, err = createMailbox(ctx, tx, t.AccountID, name, "")
		}
		if errors.Is(err, sql.ErrNoRows) && name != "INBOX" {
			err = tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'", t.AccountID).Scan(&mid)
		}
		if err != nil {
			return nil, fmt.Errorf("mailbox of account %d: %w", t.AccountID, err)
		}
		if _, err := addMessage(ctx, tx, t.AccountID, mid, bid, int64(len(d.Trace)+len(d.Data)), t.Flags|FlagRecent, t.Keywords, d.Received); err != nil {
			return nil, err
		}
	}
	var ids []int64
	if err := enqueue(ctx, tx, &ids, bid, d.Sender, d.Remote, d.Received); err != nil {
		return nil, err
	}
	if d.RequireTLS {
		if err := markRequireTLS(ctx, tx, ids); err != nil {
			return nil, err
		}
	}
	if len(d.Copies) == 0 {
		return ids, nil
	}
	if err := queueCopies(ctx, tx, &ids, bid, d.Copies, d.Received); err != nil {
		return nil, err
	}
	_, err = tx.exec(ctx, "DELETE FROM bodies WHERE id = ? AND refs <= 0", bid) // every copy was skipped
	return ids, err
}

// targetMailbox is the name of t's mailbox: "" is INBOX.
func targetMailbox(t LocalTarget) string {
	if name := NormalizeMailboxName(t.Mailbox); name != "" {
		return name
	}
	return "INBOX"
}

// deliverPG (PostgreSQL) adds one message row per target whose mailbox
// exists, in one statement: the targets' mailboxes are looked up, each mailbox's
// counters raised once by its number of targets (UPDATE ... RETURNING:
// the per-mailbox counter rows, in this transaction), and the rows
// inserted with consecutive UIDs and MODSEQs, as that many addMessage
// calls would give them. It returns the statement's rows: the target's
// 1-based position, its mailbox, UID and MODSEQ.
const deliverPG = `WITH t AS MATERIALIZED (
	SELECT x.ord, m.id AS mid, x.flags, nullif(x.kw, '') AS kw
	FROM unnest(?1::bigint[], ?2::text[], ?3::bigint[], ?4::text[]) WITH ORDINALITY AS x(acc, name, flags, kw, ord)
	JOIN mailboxes m ON m.account_id = x.acc AND m.name = x.name),
n AS (SELECT mid, count(*) AS c FROM t GROUP BY mid),
u AS (UPDATE mailboxes m SET uidnext = m.uidnext + n.c, modseq = m.modseq + n.c FROM n WHERE m.id = n.mid
	RETURNING m.id, m.uidnext - n.c AS uid0, m.modseq - n.c AS modseq0),
r AS MATERIALIZED (SELECT t.ord, t.mid, t.flags, t.kw,
	u.uid0 + row_number() OVER w - 1 AS uid, u.modseq0 + row_number() OVER w AS modseq
	FROM t JOIN u ON u.id = t.mid WINDOW w AS (PARTITION BY t.mid ORDER BY t.ord)),
i AS (INSERT INTO messages(mailbox_id, uid, body_id, flags, keywords, idate, size, modseq)
	SELECT mid, uid, ?5::bigint, flags, kw, ?6::bigint, ?7::bigint, modseq FROM r)
SELECT ord, mid, uid, modseq FROM r ORDER BY ord`

// addToNamedPG (PostgreSQL) is addMessage into the mailbox named ?2 of
// account ?1, found by the counter UPDATE itself; no row: no such
// mailbox.
const addToNamedPG = `WITH u AS (UPDATE mailboxes SET uidnext = uidnext + 1, modseq = modseq + 1 WHERE account_id = ?1 AND name = ?2
	RETURNING id, uidnext - 1 AS uid, modseq),
i AS (INSERT INTO messages(mailbox_id, uid, body_id, flags, keywords, idate, size, modseq)
	SELECT id, uid, ?3::bigint, ?4::bigint, ?5::text, ?6::bigint, ?7::bigint, modseq FROM u)
SELECT id, uid, modseq FROM u`

// bodyAndMessageSQLPG (PostgreSQL) is insertInlineBodySQLPG and
// addMessagePG in one statement: the body with its rows (?1-?9) and its
// message row (flags ?12, keywords ?13, internal date ?14, size ?15) in
// the mailbox %s picks (from ?10 and ?11), if there is one. Its row: the
// body's id, then the mailbox, UID and MODSEQ of the message (NULL: no
// such mailbox).
const bodyAndMessageSQLPG = inlineBodyCTEPG + `,
u AS (UPDATE mailboxes SET uidnext = uidnext + 1, modseq = modseq + 1 WHERE %s
	RETURNING id, uidnext - 1 AS uid, modseq),
i AS (INSERT INTO messages(mailbox_id, uid, body_id, flags, keywords, idate, size, modseq)
	SELECT u.id, u.uid, b.id, ?12::bigint, ?13::text, ?14::bigint, ?15::bigint, u.modseq FROM u, b)
SELECT b.id, u.id, u.uid, u.modseq FROM b LEFT JOIN u ON true`

var (
	// deliverOneSQLPG: the mailbox named ?11 of account ?10.
	deliverOneSQLPG = fmt.Sprintf(bodyAndMessageSQLPG, "account_id = ?10 AND name = ?11")
	// appendOneSQLPG: mailbox ?10, of account ?11.
	appendOneSQLPG = fmt.Sprintf(bodyAndMessageSQLPG, "id = ?10 AND account_id = ?11")
)

// addInlinePG runs q, deliverOneSQLPG or appendOneSQLPG, for the inline
// body b and a message of flags f and keywords kw in the mailbox that
// m10 and m11 pick, and notes the new message's event. It returns the
// body's id and the message's mailbox (0: no such mailbox) and UID.
func addInlinePG(ctx context.Context, tx *Tx, q string, b body, accountID int64, m10, m11 any, f Flags, kw []string, idate time.Time) (bid, mid int64, uid uint32, err error) {
	args := append(inlineBodyArgsPG(b), m10, m11, f, joinKeywords(kw), idate.Unix(), b.size)
	var m, u, modseq sql.NullInt64
	if err := tx.queryRow(ctx, q, args...).Scan(&bid, &m, &u, &modseq); err != nil {
		return 0, 0, 0, err
	}
	if !m.Valid {
		return bid, 0, 0, nil
	}
	tx.emit(Event{Kind: EventNewMessage, AccountID: accountID, MailboxID: m.Int64, UID: uint32(u.Int64), ModSeq: modseq.Int64, Flags: f, Keywords: kw, Origin: originOf(ctx)})
	return bid, m.Int64, uint32(u.Int64), nil
}

// deliverOnePG stores the inline body b and, when t's mailbox exists,
// its message row there, in one statement (deliverOneSQLPG). It returns
// the body's id and the targets left: t when its mailbox does not exist.
func deliverOnePG(ctx context.Context, tx *Tx, b body, t LocalTarget, idate time.Time) (int64, []LocalTarget, error) {
	bid, mid, _, err := addInlinePG(ctx, tx, deliverOneSQLPG, b, t.AccountID, t.AccountID, targetMailbox(t), t.Flags|FlagRecent, t.Keywords, idate)
	if err != nil || mid != 0 {
		return bid, nil, err
	}
	return bid, []LocalTarget{t}, nil // no such mailbox
}

// addMessagesPG stores the message bodyID in the mailboxes of targets
// that exist, by deliverPG, and returns the targets left: those whose
// mailbox does not exist.
//
// One target, the most common delivery, takes the simpler addToNamedPG:
// deliverPG's plan (arrays, a join, a window) costs PostgreSQL about
// twice the execution time of the three statements it replaces, which
// pays for a few targets but not for one (pg_stat_statements in
// bench/cluster.sh STATEMENTS=1).
func addMessagesPG(ctx context.Context, tx *Tx, targets []LocalTarget, bodyID, size int64, idate time.Time) ([]LocalTarget, error) {
	if len(targets) == 1 {
		t := targets[0]
		var mid, modseq int64
		var uid uint32
		err := tx.queryRow(ctx, addToNamedPG, t.AccountID, targetMailbox(t), bodyID, t.Flags|FlagRecent, joinKeywords(t.Keywords), idate.Unix(), size).Scan(&mid, &uid, &modseq)
		if errors.Is(err, sql.ErrNoRows) {
			return targets, nil // no such mailbox
		} else if err != nil {
			return nil, err
		}
		tx.emit(Event{Kind: EventNewMessage, AccountID: t.AccountID, MailboxID: mid, UID: uid, ModSeq: modseq, Flags: t.Flags | FlagRecent, Keywords: t.Keywords, Origin: originOf(ctx)})
		return nil, nil
	}
	accs := make([]int64, len(targets))
	names := make([]string, len(targets))
	flags := make([]int64, len(targets))
	kws := make([]string, len(targets))
	for i, t := range targets {
		accs[i], names[i], flags[i] = t.AccountID, targetMailbox(t), int64(t.Flags|FlagRecent)
		if kw, ok := joinKeywords(t.Keywords).(string); ok {
			kws[i] = kw
		}
	}
	rows, err := tx.tx.QueryContext(ctx, deliverPG, accs, names, flags, kws, bodyID, idate.Unix(), size)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := make([]bool, len(targets))
	for rows.Next() {
		var ord, mid, modseq int64
		var uid uint32
		if err := rows.Scan(&ord, &mid, &uid, &modseq); err != nil {
			return nil, err
		}
		t := targets[ord-1]
		done[ord-1] = true
		tx.emit(Event{Kind: EventNewMessage, AccountID: t.AccountID, MailboxID: mid, UID: uid, ModSeq: modseq, Flags: t.Flags | FlagRecent, Keywords: t.Keywords, Origin: originOf(ctx)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var left []LocalTarget
	for i, t := range targets {
		if !done[i] {
			left = append(left, t)
		}
	}
	return left, nil
}
