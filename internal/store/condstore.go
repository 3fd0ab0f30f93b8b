package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"
)

// This file holds what CONDSTORE and QRESYNC (RFC 7162) need of the store.
//
// MODSEQ. Every mailbox row carries a MODSEQ (its HIGHESTMODSEQ) and every
// message row the MODSEQ of its last change. A write that adds, re-flags
// or removes messages of a mailbox raises the mailbox's MODSEQ by one and
// gives that value to every message it adds or re-flags (one STORE, one
// MODSEQ: RFC 7162 3.1.3 lets the messages of one command share it), so
// per mailbox the values only grow, and HIGHESTMODSEQ changes whenever
// anything a client caches does (\Recent aside: it is per session).
//
// Tombstones. A removed message leaves a row in expunged: its UID and the
// MODSEQ of the removal (also the ModSeq of its EventExpunge), written in
// the transaction of the removal (removeMessages, the one place rows leave
// messages while their mailbox stays) and dropped with the mailbox (ON
// DELETE CASCADE). VanishedSince reads them.
//
// Compaction. Tombstones older than vanishedKeep are deleted, a mailbox's
// at most once per vanishedSlack (checked on each removal: one index
// lookup), and the mailbox's vanished_floor rises to the highest MODSEQ
// deleted. Below the floor the store no longer knows which UIDs went when,
// so VanishedSince(since < floor) answers every UID below UIDNEXT that is
// not in the mailbox: a superset, which RFC 7162 allows (a client ignores
// UIDs it does not know; a QRESYNC SELECT narrows the answer to the
// client's known-uids). The server needs no special case for it.
// Mailboxes that existed before schema 17 start with the floor at their
// MODSEQ of that day, their earlier removals having left no trace.

// vanishedKeep is how long tombstones are kept at least; vanishedSlack how
// much older than that the oldest may grow before a compaction runs, so a
// mailbox is compacted at most once per vanishedSlack.
const (
	vanishedKeep  = 180 * 24 * time.Hour
	vanishedSlack = 30 * 24 * time.Hour
)

// ChangedMeta is a message's UID, flags and keywords with the MODSEQ of
// its last change. Flags are as stored (FlagRecent included), as in
// MessageMeta.
type ChangedMeta struct {
	MessageMeta
	ModSeq int64
}

// changedSinceInList is the largest UID list ChangedSince asks SQLite for
// by UID; a longer one is matched against the changed rows instead.
// changedSinceByIndex is the most changed rows it reads by the MODSEQ
// index: beyond that, one walk of the mailbox in UID order costs less than
// a lookup and a sort of each.
const (
	changedSinceInList  = 256
	changedSinceByIndex = 4096
)

// ChangedSince returns the messages of a mailbox whose MODSEQ is above
// since (since 0: every message), only those with a UID in uids unless
// uids is nil, ascending by UID: FETCH ... (CHANGEDSINCE n) and the
// flags part of a QRESYNC SELECT.
//
// A phone asking for the few changes since its last sync is answered by
// one query on the (mailbox_id, modseq) index, which reads only those
// rows of a 100,000-message mailbox (BenchmarkChangedSince100k: ~0.1 ms
// against ~60 ms for a walk of the mailbox); a caller naming at most
// changedSinceInList UIDs by one query on those UIDs. When more than
// changedSinceByIndex messages changed, a second query walks the mailbox.
func (s *Store) ChangedSince(ctx context.Context, mailboxID int64, since int64, uids []uint32) ([]ChangedMeta, error) {
	if uids != nil && len(uids) == 0 {
		return nil, nil
	}
	want := uids
	if !strictlyAscending(want) {
		want = slices.Clone(uids)
		slices.Sort(want)
		want = slices.Compact(want)
	}
	const cols = "SELECT uid, flags, keywords, modseq FROM messages "
	if want != nil && len(want) <= changedSinceInList {
		// By UID ("+modseq": not by the MODSEQ index, see schema 17).
		args := []any{mailboxID, since}
		for _, u := range want {
			args = append(args, u)
		}
		out, _, err := s.changedRows(ctx, cols+"WHERE mailbox_id = ? AND +modseq > ? AND uid IN (?"+strings.Repeat(", ?", len(want)-1)+") ORDER BY uid", args, nil)
		return out, err
	}
	if since > 0 {
		out, read, err := s.changedRows(ctx, cols+"INDEXED BY messages_modseq WHERE mailbox_id = ? AND modseq > ? LIMIT ?",
			[]any{mailboxID, since, changedSinceByIndex + 1}, want)
		if err != nil || read <= changedSinceByIndex {
			slices.SortFunc(out, cmpChangedUID) // the index gave MODSEQ order
			return out, err
		}
	}
	out, _, err := s.changedRows(ctx, cols+"WHERE mailbox_id = ? AND +modseq > ? ORDER BY uid", []any{mailboxID, since}, want)
	return out, err
}

// changedRows runs a ChangedSince query and returns its rows with a UID
// in want (all when want is nil), and how many rows it read.
func (s *Store) changedRows(ctx context.Context, q string, args []any, want []uint32) ([]ChangedMeta, int, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []ChangedMeta
	read := 0
	for rows.Next() {
		read++
		var m ChangedMeta
		var kw sql.NullString
		if err := rows.Scan(&m.UID, &m.Flags, &kw, &m.ModSeq); err != nil {
			return nil, read, err
		}
		if want != nil {
			if _, ok := slices.BinarySearch(want, m.UID); !ok {
				continue
			}
		}
		m.Keywords = splitKeywords(kw)
		out = append(out, m)
	}
	return out, read, rows.Err()
}

// strictlyAscending reports whether uids is sorted without repeats.
func strictlyAscending(uids []uint32) bool {
	for i := 1; i < len(uids); i++ {
		if uids[i] <= uids[i-1] {
			return false
		}
	}
	return true
}

func cmpChangedUID(a, b ChangedMeta) int {
	switch {
	case a.UID < b.UID:
		return -1
	case a.UID > b.UID:
		return 1
	}
	return 0
}

// VanishedSince returns the UIDs removed from a mailbox (EXPUNGE, MOVE
// away, POP3 delete: any removal) at a MODSEQ above since, ascending:
// VANISHED (EARLIER) of a QRESYNC SELECT or UID FETCH ... (VANISHED).
// When since is below the mailbox's vanished floor (tombstones compacted,
// see the top of this file) it returns every UID below UIDNEXT that is
// not in the mailbox, a superset the client ignores where it knows
// nothing. ErrNotFound if there is no such mailbox.
func (s *Store) VanishedSince(ctx context.Context, mailboxID int64, since int64) ([]uint32, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var floor int64
	var uidNext uint32
	err = tx.QueryRowContext(ctx, "SELECT vanished_floor, uidnext FROM mailboxes WHERE id = ?", mailboxID).Scan(&floor, &uidNext)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	if since < floor {
		return absentUIDs(ctx, tx, mailboxID, uidNext)
	}
	rows, err := tx.QueryContext(ctx, "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid", mailboxID, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// absentUIDs returns the UIDs in [1, uidNext) that the mailbox does not
// hold, ascending.
func absentUIDs(ctx context.Context, tx *sql.Tx, mailboxID int64, uidNext uint32) ([]uint32, error) {
	rows, err := tx.QueryContext(ctx, "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	next := uint32(1)
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		for ; next < u; next++ {
			out = append(out, next)
		}
		next = u + 1
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for ; next < uidNext; next++ {
		out = append(out, next)
	}
	return out, nil
}

// VanishedFloor returns the MODSEQ below which the mailbox's tombstones
// were compacted away (0: none ever were). VanishedSince already answers
// for a MODSEQ below it; the server needs it only to say so in a log or
// to skip asking.
func (s *Store) VanishedFloor(ctx context.Context, mailboxID int64) (int64, error) {
	var floor int64
	err := s.rdb.QueryRowContext(ctx, "SELECT vanished_floor FROM mailboxes WHERE id = ?", mailboxID).Scan(&floor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return floor, err
}

// recordExpunged writes the tombstones of uids, removed from the mailbox
// at modseq, and compacts the mailbox's old ones. removeMessages calls it
// in the removal's transaction.
func recordExpunged(ctx context.Context, tx *Tx, mailboxID int64, uids []uint32, modseq int64) error {
	at := time.Now()
	for _, u := range uids {
		if _, err := tx.exec(ctx, "INSERT INTO expunged(mailbox_id, uid, modseq, at) VALUES(?, ?, ?, ?) ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq, at = excluded.at", mailboxID, u, modseq, at.Unix()); err != nil {
			return err
		}
	}
	return compactExpunged(ctx, tx, mailboxID, at)
}

// compactExpunged deletes the mailbox's tombstones older than
// vanishedKeep, raising its vanished_floor to the highest MODSEQ deleted,
// once its oldest tombstone is older than vanishedKeep+vanishedSlack.
func compactExpunged(ctx context.Context, tx *Tx, mailboxID int64, now time.Time) error {
	var oldest int64
	err := tx.queryRow(ctx, "SELECT at FROM expunged WHERE mailbox_id = ? ORDER BY modseq LIMIT 1", mailboxID).Scan(&oldest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return compactOlderThan(ctx, tx, mailboxID, oldest, now)
}

// compactOlderThan is compactExpunged once the at of the mailbox's oldest
// tombstone is known.
func compactOlderThan(ctx context.Context, tx *Tx, mailboxID, oldest int64, now time.Time) error {
	if oldest >= now.Add(-vanishedKeep-vanishedSlack).Unix() {
		return nil
	}
	cutoff := now.Add(-vanishedKeep).Unix()
	var top sql.NullInt64
	if err := tx.queryRow(ctx, "SELECT max(modseq) FROM expunged WHERE mailbox_id = ? AND at < ?", mailboxID, cutoff).Scan(&top); err != nil || !top.Valid {
		return err
	}
	if _, err := tx.exec(ctx, "DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?", mailboxID, top.Int64); err != nil {
		return err
	}
	_, err := tx.exec(ctx, "UPDATE mailboxes SET vanished_floor = ? WHERE id = ? AND vanished_floor < ?", top.Int64, mailboxID, top.Int64)
	return err
}

// UpdateFlagsUnchangedSince is STORE with UNCHANGEDSINCE (RFC 7162
// 3.1.3): it changes the flags of the messages with the given UIDs as
// UpdateFlags does, except those whose MODSEQ is above unchangedSince,
// which it leaves alone and returns in modified. unchangedSince 0 means
// no condition (UpdateFlags); RFC 7162's "UNCHANGEDSINCE 0", which fails
// for every message, is for the server to answer without calling this.
//
// changed holds every message the STORE applied to, ascending by UID,
// with its flags and MODSEQ after it: a new MODSEQ (one for the whole
// call, above any earlier one of the mailbox) where flags or keywords
// changed, the old one where they already were as asked. modified is
// ascending too; UIDs not in the mailbox are in neither. The test and the
// change happen in one writer transaction, so no other write comes
// between them. ErrNotFound if the mailbox is not the account's.
func (s *Store) UpdateFlagsUnchangedSince(ctx context.Context, accountID, mailboxID int64, uids []uint32, op FlagOp, f Flags, kw []string, unchangedSince int64) (changed []ChangedMeta, modified []uint32, err error) {
	sorted := slices.Clone(uids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		u := flagUpdate{accountID: accountID, mailboxID: mailboxID, op: op, f: f, kw: kw, unchangedSince: unchangedSince, role: -1}
		run := u.run
		if tx.s.pg && len(kw) == 0 && (op == FlagsAdd || op == FlagsRemove) {
			run = u.runPG // the common STORE +FLAGS/-FLAGS, in one statement
		}
		if err := run(ctx, tx, sorted); err != nil {
			return err
		}
		changed, modified = u.changed, u.modified
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return changed, modified, nil
}

// flagUpdate is one UpdateFlagsUnchangedSince inside its transaction.
type flagUpdate struct {
	accountID, mailboxID int64
	op                   FlagOp
	f                    Flags
	kw                   []string
	unchangedSince       int64

	modseq   int64    // the call's new MODSEQ, 0 until a message changes (modseqLater: see apply)
	evFrom   int      // with modseqLater: where the call's events start in tx.events
	role     spamRole // of the mailbox, read when needed (spam.go); -1 unread
	changed  []ChangedMeta
	modified []uint32

	writes []flagWrite // rows to write, by flushWrites
	train  []int64     // bodies newly \Seen in wanted mail: ham, if few (flushTraining)
}

// flagWrite is a message's new flags, waiting to be written with the
// other messages that get the same ones.
type flagWrite struct {
	uid   uint32
	flags Flags
	kw    string
}

// flagWriteBatch is how many messages one UPDATE writes at most.
const flagWriteBatch = 256

// seenTrainMax is how many messages one flag change may mark read and
// still train them as ham: reading a message is a sign it was wanted,
// "mark all as read" over a whole folder is not (and 100,000 trainings
// would keep the trainer busy for nothing).
const seenTrainMax = 50

// flagRow is a message as flagUpdate reads it.
type flagRow struct {
	uid    uint32
	flags  Flags
	kw     []string
	bodyID int64
	modseq int64
}

// run applies the update to the messages with the given UIDs (ascending,
// distinct), reading them by runs of nearby UIDs (as loadMessages does) so
// that STORE 1:* on a big mailbox is not one query per message.
//
// The rows are read only from a mailbox of the account; whether the
// mailbox is the account's is asked apart only when no row was read.
func (u *flagUpdate) run(ctx context.Context, tx *Tx, uids []uint32) error {
	var batch []flagRow
	read := false
	for len(uids) > 0 {
		end := 1
		for end < len(uids) && uids[end]-uids[end-1] <= 16 {
			end++
		}
		run := uids[:end]
		uids = uids[end:]
		var err error
		if batch, err = readFlagRows(ctx, tx, u.accountID, u.mailboxID, run, batch[:0]); err != nil {
			return err
		}
		read = read || len(batch) > 0
		for _, r := range batch {
			if err := u.apply(ctx, tx, r); err != nil {
				return err
			}
		}
		if len(u.writes) >= flagWriteBatch {
			if err := u.flushWrites(ctx, tx); err != nil {
				return err
			}
		}
	}
	if !read {
		if err := u.checkOwner(ctx, tx); err != nil {
			return err
		}
	}
	if err := u.flushWrites(ctx, tx); err != nil {
		return err
	}
	return u.flushTraining(ctx, tx)
}

// checkOwner answers ErrNotFound unless the mailbox is the account's:
// asked when the update read no row (the rows are read only from a
// mailbox of the account).
func (u *flagUpdate) checkOwner(ctx context.Context, tx *Tx) error {
	var owner int64
	err := tx.queryRow(ctx, "SELECT account_id FROM mailboxes WHERE id = ?", u.mailboxID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) || err == nil && owner != u.accountID {
		return ErrNotFound
	}
	return err
}

// storeSQLPG (PostgreSQL) is a STORE that adds or removes system flags
// (no keywords) in one statement: it locks the rows of the UIDs ?5 in
// mailbox ?1 of account ?2, computes their new flags ((flags & ?3) | ?4),
// raises the mailbox's MODSEQ once if any changes (except rows whose
// MODSEQ is above ?6, when not 0: CONDSTORE's UNCHANGEDSINCE), and writes
// the changed rows with it. Its rows, by UID: each message's old flags,
// keywords, body, MODSEQ and new flags, then the new MODSEQ and the
// mailbox's name and special use (NULL: nothing changed).
const storeSQLPG = `WITH o AS (SELECT m.uid, m.flags, m.keywords, m.body_id, m.modseq, (m.flags & ?3::bigint) | ?4::bigint AS nf
	FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
	WHERE m.mailbox_id = ?1 AND b.account_id = ?2 AND m.uid = ANY(?5::bigint[]) FOR UPDATE OF m),
c AS (SELECT uid, nf FROM o WHERE (?6::bigint = 0 OR modseq <= ?6::bigint) AND nf <> flags),
n AS (UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ?1 AND EXISTS (SELECT 1 FROM c) RETURNING modseq, name, special_use),
w AS (UPDATE messages m SET flags = c.nf, modseq = n.modseq FROM c, n WHERE m.mailbox_id = ?1 AND m.uid = c.uid)
SELECT o.uid, o.flags, o.keywords, o.body_id, o.modseq, o.nf, n.modseq, n.name, n.special_use FROM o LEFT JOIN n ON true ORDER BY o.uid`

// runPG is run for an op that adds or removes system flags only, on
// PostgreSQL: the rows are changed by storeSQLPG as they are read, and
// what run's apply would note of each is noted from what it returns.
func (u *flagUpdate) runPG(ctx context.Context, tx *Tx, uids []uint32) error {
	mask, set := int64(-1), int64(u.f)
	if u.op == FlagsRemove {
		mask, set = ^int64(u.f), 0
	}
	list := make([]int64, len(uids))
	for i, uid := range uids {
		list[i] = int64(uid)
	}
	rows, err := tx.tx.QueryContext(ctx, storeSQLPG, u.mailboxID, u.accountID, mask, set, list, u.unchangedSince)
	if err != nil {
		return err
	}
	defer rows.Close()
	read := false
	for rows.Next() {
		var r flagRow
		var nf Flags
		var kw, name, use sql.NullString
		var modseq sql.NullInt64
		if err := rows.Scan(&r.uid, &r.flags, &kw, &r.bodyID, &r.modseq, &nf, &modseq, &name, &use); err != nil {
			return err
		}
		read = true
		r.kw = splitKeywords(kw)
		switch {
		case u.unchangedSince > 0 && r.modseq > u.unchangedSince:
			u.modified = append(u.modified, r.uid)
			continue
		case nf == r.flags:
			u.changed = append(u.changed, ChangedMeta{MessageMeta: MessageMeta{UID: r.uid, Flags: nf, Keywords: r.kw}, ModSeq: r.modseq})
			continue
		}
		u.modseq = modseq.Int64
		u.changed = append(u.changed, ChangedMeta{MessageMeta: MessageMeta{UID: r.uid, Flags: nf, Keywords: r.kw}, ModSeq: u.modseq})
		tx.emit(Event{Kind: EventFlags, AccountID: u.accountID, MailboxID: u.mailboxID, UID: r.uid, ModSeq: u.modseq, Flags: nf, Keywords: r.kw, Origin: originOf(ctx)})
		// The keywords stay, so the only training is a message newly read
		// (spam.go; flushTraining, after the rows are read).
		if _, read := flagTraining(spamRoleOf(name.String, use.String), r.flags, nf, r.kw, r.kw); read {
			u.train = append(u.train, r.bodyID)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	if !read {
		if err := u.checkOwner(ctx, tx); err != nil {
			return err
		}
	}
	return u.flushTraining(ctx, tx)
}

// flushWrites writes the waiting rows, one UPDATE per run of messages
// that get the same flags and keywords (a bulk STORE gives most of them
// the same), so that marking 100,000 messages read is not 100,000
// statements.
func (u *flagUpdate) flushWrites(ctx context.Context, tx *Tx) error {
	slices.SortStableFunc(u.writes, func(a, b flagWrite) int {
		if a.flags != b.flags {
			return cmp.Compare(a.flags, b.flags)
		}
		return strings.Compare(a.kw, b.kw)
	})
	args := make([]any, 0, 4+flagWriteBatch)
	for w := u.writes; len(w) > 0; {
		n := 1
		for n < len(w) && n < flagWriteBatch && w[n].flags == w[0].flags && w[n].kw == w[0].kw {
			n++
		}
		// The IN list is padded to a power of two with its last UID, so
		// a few statement texts serve every size.
		size := 1
		for size < n {
			size *= 2
		}
		var kw any // NULL for none, as joinKeywords writes it
		if w[0].kw != "" {
			kw = w[0].kw
		}
		args = append(args[:0], w[0].flags, kw, u.modseq, u.mailboxID)
		for i := range size {
			args = append(args, w[min(i, n-1)].uid)
		}
		q := "UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid IN (?" + strings.Repeat(", ?", size-1) + ")"
		if u.modseq == modseqLater {
			if err := u.takeModSeq(ctx, tx, q, args); err != nil {
				return err
			}
		} else if _, err := tx.exec(ctx, q, args...); err != nil {
			return err
		}
		w = w[n:]
	}
	u.writes = u.writes[:0]
	return nil
}

// modseqLater marks a MODSEQ that flushWrites takes (PostgreSQL).
const modseqLater = -1

// takeModSeq runs q, the first UPDATE of messages of the call (args: its
// arguments, the MODSEQ third), together with the raise of the mailbox's
// MODSEQ, in one statement, and gives the new MODSEQ to the messages,
// changes and events that waited for it.
func (u *flagUpdate) takeModSeq(ctx context.Context, tx *Tx, q string, args []any) error {
	pq := "WITH n AS (UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ? RETURNING modseq), " +
		"w AS (" + strings.Replace(q, "modseq = ?", "modseq = (SELECT modseq FROM n)", 1) + ") SELECT modseq FROM n"
	pargs := append([]any{u.mailboxID}, args[:2]...)
	pargs = append(pargs, args[3:]...)
	if err := tx.queryRow(ctx, pq, pargs...).Scan(&u.modseq); err != nil {
		return err
	}
	for i := range u.changed {
		if u.changed[i].ModSeq == modseqLater {
			u.changed[i].ModSeq = u.modseq
		}
	}
	for i := u.evFrom; i < len(tx.events); i++ {
		if tx.events[i].ModSeq == modseqLater {
			tx.events[i].ModSeq = u.modseq
		}
	}
	return nil
}

// flushTraining queues the ham training of the messages the change marked
// read, unless it marked too many at once to be reading (seenTrainMax).
func (u *flagUpdate) flushTraining(ctx context.Context, tx *Tx) error {
	if len(u.train) > seenTrainMax {
		return nil
	}
	for _, bodyID := range u.train {
		if err := queueSpamTraining(ctx, tx, u.accountID, bodyID, SpamClassHam); err != nil {
			return err
		}
	}
	return nil
}

// readFlagRows appends the rows of the mailbox whose UIDs are in run
// (ascending) to dst: none unless the mailbox is the account's.
func readFlagRows(ctx context.Context, tx *Tx, accountID, mailboxID int64, run []uint32, dst []flagRow) ([]flagRow, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT m.uid, m.flags, m.keywords, m.body_id, m.modseq FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE m.mailbox_id = ? AND b.account_id = ? AND m.uid >= ? AND m.uid <= ? ORDER BY m.uid`,
		mailboxID, accountID, run[0], run[len(run)-1])
	if err != nil {
		return dst, err
	}
	defer rows.Close()
	j := 0
	for rows.Next() {
		var r flagRow
		var kw sql.NullString
		if err := rows.Scan(&r.uid, &r.flags, &kw, &r.bodyID, &r.modseq); err != nil {
			return dst, err
		}
		for j < len(run) && run[j] < r.uid {
			j++
		}
		if j < len(run) && run[j] == r.uid {
			r.kw = splitKeywords(kw)
			dst = append(dst, r)
		}
	}
	return dst, rows.Err()
}

// apply changes one message, unless its MODSEQ fails the condition.
func (u *flagUpdate) apply(ctx context.Context, tx *Tx, r flagRow) error {
	if u.unchangedSince > 0 && r.modseq > u.unchangedSince {
		u.modified = append(u.modified, r.uid)
		return nil
	}
	nf, nkw := newFlags(u.op, u.f, u.kw, r.flags, r.kw)
	if nf == r.flags && slices.Equal(nkw, r.kw) {
		u.changed = append(u.changed, ChangedMeta{MessageMeta: MessageMeta{UID: r.uid, Flags: nf, Keywords: nkw}, ModSeq: r.modseq})
		return nil
	}
	if u.modseq == 0 && tx.s.pg {
		// Taken by the first UPDATE of messages (flushWrites), in its
		// round trip; the MODSEQs given out until then are patched.
		u.modseq, u.evFrom = modseqLater, len(tx.events)
	} else if u.modseq == 0 {
		if err := tx.queryRow(ctx, "UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ? RETURNING modseq", u.mailboxID).Scan(&u.modseq); err != nil {
			return err
		}
	}
	u.changed = append(u.changed, ChangedMeta{MessageMeta: MessageMeta{UID: r.uid, Flags: nf, Keywords: nkw}, ModSeq: u.modseq})
	u.writes = append(u.writes, flagWrite{uid: r.uid, flags: nf, kw: strings.Join(nkw, " ")})
	tx.emit(Event{Kind: EventFlags, AccountID: u.accountID, MailboxID: u.mailboxID, UID: r.uid, ModSeq: u.modseq, Flags: nf, Keywords: nkw, Origin: originOf(ctx)})
	if nf&FlagSeen != 0 && r.flags&FlagSeen == 0 && u.role < 0 {
		role, err := mailboxSpamRole(ctx, tx, u.mailboxID)
		if err != nil {
			return err
		}
		u.role = role
	}
	switch class, read := flagTraining(u.role, r.flags, nf, r.kw, nkw); { // spam.go
	case read:
		u.train = append(u.train, r.bodyID)
		return nil
	default:
		return queueSpamTraining(ctx, tx, u.accountID, r.bodyID, class)
	}
}

// newFlags returns a message's flags and keywords after a STORE of op
// with f and kw; \Recent survives a replacement.
func newFlags(op FlagOp, f Flags, kw []string, old Flags, oldKw []string) (Flags, []string) {
	switch op {
	case FlagsSet:
		return f | (old & FlagRecent), kw
	case FlagsAdd:
		nkw := oldKw
		for _, k := range kw {
			if !slices.Contains(nkw, k) {
				nkw = append(nkw, k)
			}
		}
		return old | f, nkw
	case FlagsRemove:
		var nkw []string
		for _, k := range oldKw {
			if !slices.Contains(kw, k) {
				nkw = append(nkw, k)
			}
		}
		return old &^ f, nkw
	}
	return old, oldKw
}
