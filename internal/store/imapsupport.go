package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file holds the reads the IMAP server needs beyond the basic API:
// a consistent SELECT picture of a big mailbox in one query, and batched
// message loads for FETCH and SEARCH.

// SelectState is what IMAP SELECT needs of a mailbox, read in one
// transaction so the mailbox row and the message list agree.
type SelectState struct {
	Mailbox Mailbox
	// UIDs of the messages, ascending.
	UIDs []uint32
	// FirstUnseen is the 1-based position of the first message without
	// \Seen, 0 when all are seen.
	FirstUnseen uint32
	// Recent counts messages that still carry \Recent.
	Recent uint32
	// Keywords are the distinct keywords used in the mailbox.
	Keywords []string
	// HighestModSeq is the mailbox's MODSEQ (RFC 7162 HIGHESTMODSEQ).
	HighestModSeq int64
}

// SelectMailbox reads an account's mailbox for IMAP SELECT. It returns
// ErrNotFound if the mailbox does not exist or belongs to someone else.
//
// The message list is fetched with group_concat so that SQLite builds one
// string instead of handing over a row per message through database/sql.
// For 100,000 messages on the 2-core dev VM (BenchmarkSelectMailbox vs
// BenchmarkSnapshot): Snapshot takes ~60 ms, this ~25 ms.
func (s *Store) SelectMailbox(ctx context.Context, accountID int64, name string) (st SelectState, err error) {
	if s.pg {
		if st, ok, err := s.selectSmallPG(ctx, accountID, name); err != nil || ok {
			return st, err
		}
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, err
	}
	defer tx.Rollback()
	st.Mailbox, err = scanMailbox(tx.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? AND name = ?", accountID, NormalizeMailboxName(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("mailbox %s: %w", name, ErrNotFound)
	} else if err != nil {
		return st, err
	}
	st.HighestModSeq = st.Mailbox.ModSeq
	if cached, ok := s.selects.get(st.Mailbox); ok {
		cached.Mailbox, cached.HighestModSeq = st.Mailbox, st.Mailbox.ModSeq
		return cached, nil
	}
	defer func() {
		if err == nil {
			s.selects.put(st)
		}
	}()
	// One pass over the (mailbox_id, uid) index: SQLite visits rows in UID
	// order, so group_concat yields them sorted (checked below, not assumed).
	// Unless the store's in-memory flags of the mailbox (flagcache.go)
	// are current, the same pass gives them too, so that a mail app's
	// FETCH 1:* (FLAGS) after SELECT finds them ready (one walk of the
	// rows instead of two).
	var a selectAggregates
	var flags sql.NullString
	var msgKwJSON sql.NullString
	q := selectAggregatesSQL
	dest := a.dest()
	// (UIDNEXT-1 bounds the number of messages: small mailboxes are not kept.)
	withFlags := st.Mailbox.UIDNext > flagCacheMin && !s.flags.current(st.Mailbox.ID, st.Mailbox.UIDValidity, st.Mailbox.ModSeq)
	if withFlags {
		q += ", " + flagAggregates
		dest = append(dest, &flags, &msgKwJSON)
	}
	err = tx.QueryRowContext(ctx, q+" FROM messages WHERE mailbox_id = ?", FlagRecent, FlagSeen, st.Mailbox.ID).Scan(dest...)
	if err != nil {
		return st, err
	}
	if withFlags && a.n >= flagCacheMin {
		e, err := flagEntryOf(st.Mailbox.ID, st.Mailbox.UIDValidity, st.Mailbox.ModSeq, a.uids.String, flags.String, msgKwJSON.String)
		if err != nil {
			return st, err
		}
		s.flags.put(e)
	}
	err = a.fill(&st)
	return st, err
}

// selectAggregatesSQL is what SelectMailbox reads of a mailbox's
// messages (arguments FlagRecent, FlagSeen), into selectAggregates. (The
// \Recent ones are counted by FILTER: PostgreSQL's sum(boolean) of
// pgschema.go calls an SQL function per row.)
const selectAggregatesSQL = `SELECT count(*), count(*) FILTER (WHERE flags & ? != 0),
		min(CASE WHEN flags & ? = 0 THEN uid END), group_concat(uid, ','),
		json_group_array(DISTINCT keywords) FILTER (WHERE keywords IS NOT NULL)`

// selectAggregates are the values of selectAggregatesSQL.
type selectAggregates struct {
	n, recent int64
	unseen    sql.NullInt64
	uids      sql.NullString
	kwJSON    sql.NullString // NULL: PostgreSQL's json_agg of no rows
}

func (a *selectAggregates) dest() []any {
	return []any{&a.n, &a.recent, &a.unseen, &a.uids, &a.kwJSON}
}

// fill sets st's message list, counts and keywords from a.
func (a *selectAggregates) fill(st *SelectState) error {
	st.Recent = uint32(a.recent)
	st.UIDs = make([]uint32, 0, a.n)
	for f := range strings.SplitSeq(a.uids.String, ",") {
		if f == "" {
			continue
		}
		u, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return fmt.Errorf("uid list of mailbox %d: %w", st.Mailbox.ID, err)
		}
		st.UIDs = append(st.UIDs, uint32(u))
	}
	if !slices.IsSorted(st.UIDs) {
		slices.Sort(st.UIDs)
	}
	if a.unseen.Valid {
		i, _ := slices.BinarySearch(st.UIDs, uint32(a.unseen.Int64))
		st.FirstUnseen = uint32(i + 1)
	}
	var kwLists []string
	if err := json.Unmarshal([]byte(cmp.Or(a.kwJSON.String, "[]")), &kwLists); err != nil {
		return fmt.Errorf("keywords of mailbox %d: %w", st.Mailbox.ID, err)
	}
	for _, l := range kwLists {
		for k := range strings.FieldsSeq(l) {
			if !slices.Contains(st.Keywords, k) {
				st.Keywords = append(st.Keywords, k)
			}
		}
	}
	slices.Sort(st.Keywords)
	return nil
}

// selectSmallPG is SelectMailbox on PostgreSQL in one statement (one
// snapshot: no transaction needed) for a mailbox whose UIDNEXT is at most
// flagCacheMin, which neither the SELECT cache nor the flag cache keeps:
// a quarter of the round trips of the general path. ok is false for a
// bigger mailbox, which the general path reads.
func (s *Store) selectSmallPG(ctx context.Context, accountID int64, name string) (st SelectState, ok bool, err error) {
	var a selectAggregates
	q := "SELECT " + mailboxCols + ", a.* FROM mailboxes CROSS JOIN LATERAL (" + selectAggregatesSQL +
		" FROM messages WHERE mailbox_id = mailboxes.id AND mailboxes.uidnext <= ?) AS a WHERE account_id = ? AND name = ?"
	row := s.rdb.QueryRowContext(ctx, q, FlagRecent, FlagSeen, flagCacheMin, accountID, NormalizeMailboxName(name))
	st.Mailbox, err = scanMailbox(scanAlso{row, a.dest()})
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, fmt.Errorf("mailbox %s: %w", name, ErrNotFound)
	} else if err != nil || st.Mailbox.UIDNext > flagCacheMin {
		return st, false, err
	}
	st.HighestModSeq = st.Mailbox.ModSeq
	err = a.fill(&st)
	return st, true, err
}

// scanAlso scans a row into the given destinations and then into more:
// a row of mailboxCols followed by other columns.
type scanAlso struct {
	row  *sql.Row
	more []any
}

func (r scanAlso) Scan(dest ...any) error { return r.row.Scan(append(dest, r.more...)...) }

// selectCache keeps the SELECT state of big mailboxes between SELECTs, so
// a phone that reconnects to a 100,000-message INBOX does not make SQLite
// walk all of it again when nothing changed. An entry is valid for the
// mailbox's UIDVALIDITY and MODSEQ, which every added, expunged or
// re-flagged message bumps, in this process or another. Only states
// without \Recent messages are kept: clearing \Recent (the one change
// that leaves MODSEQ alone) can then never make an entry stale.
type selectCache struct {
	mu sync.Mutex
	m  map[int64]SelectState
}

// selectCacheMin is the smallest mailbox worth caching; selectCacheMax
// bounds the entries (about 400 KB each at 100,000 messages).
const (
	selectCacheMin = 1000
	selectCacheMax = 32
)

func (c *selectCache) get(mb Mailbox) (SelectState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[mb.ID]
	if !ok || e.Mailbox.UIDValidity != mb.UIDValidity || e.Mailbox.ModSeq != mb.ModSeq {
		return SelectState{}, false
	}
	// The session may append to its lists: give it its own.
	e.UIDs = slices.Clone(e.UIDs)
	e.Keywords = slices.Clone(e.Keywords)
	return e, true
}

func (c *selectCache) put(st SelectState) {
	if len(st.UIDs) < selectCacheMin || st.Recent != 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64]SelectState{}
	}
	if _, ok := c.m[st.Mailbox.ID]; !ok && len(c.m) >= selectCacheMax {
		for id := range c.m { // drop any one
			delete(c.m, id)
			break
		}
	}
	st.UIDs = slices.Clone(st.UIDs)
	st.Keywords = slices.Clone(st.Keywords)
	c.m[st.Mailbox.ID] = st
}

// BodyPart says how much of a message's bytes LoadMessages returns.
type BodyPart int

// What LoadMessages reads of each body.
const (
	BodyNone   BodyPart = iota // metadata only
	BodyHeader                 // the header, up to and including the blank line
	BodyFull                   // the whole message
	// FlagsOnly reads just UID, flags and keywords (FETCH 1:* (FLAGS) on a
	// big mailbox: every column read costs, in the pure-Go SQLite).
	FlagsOnly
	// BodyStream is BodyFull for a body kept in its row; a large body (a
	// file or a shared blob) is not read: Data holds its header, as for
	// BodyHeader, and Streamed is set, for the caller to read it through
	// OpenBody (a FETCH BODY[] of a 40 MiB message then holds a buffer
	// of it, not all of it).
	BodyStream
)

// LoadedMessage is a message's metadata with (part of) its bytes.
type LoadedMessage struct {
	Message
	Data []byte
	// Streamed says that Data is only the header of a large body
	// (BodyStream).
	Streamed bool
}

// LoadMessages returns the messages of a mailbox with the given UIDs
// (ascending, missing ones skipped) with as much of their bytes as part
// asks for. Reading only the header lets FETCH ENVELOPE of many messages
// skip their bodies and attachments.
func (s *Store) LoadMessages(ctx context.Context, mailboxID int64, uids []uint32, part BodyPart) ([]LoadedMessage, error) {
	return s.loadMessages(ctx, mailboxID, uids, part, 0)
}

// LoadMessagesUpTo is LoadMessages that stops before the message that
// would take the sizes of those loaded past maxBytes (it loads at least
// one), so that a FETCH of many large messages holds a bounded part of
// them at once. The caller goes on after the last UID returned.
func (s *Store) LoadMessagesUpTo(ctx context.Context, mailboxID int64, uids []uint32, part BodyPart, maxBytes int64) ([]LoadedMessage, error) {
	return s.loadMessages(ctx, mailboxID, uids, part, maxBytes)
}

// loadQuery is loadMessages' statement for a run of UIDs of a mailbox
// with the columns part needs.
func loadQuery(part BodyPart) (string, error) {
	var data string
	switch part {
	case FlagsOnly:
		return "SELECT m.uid, m.flags, m.keywords FROM messages m WHERE m.mailbox_id = ? AND m.uid >= ? AND m.uid <= ? ORDER BY m.uid", nil
	case BodyNone:
		data = "NULL"
	case BodyHeader:
		// The header section is kept beside each body (insertBody).
		data = "(SELECT h.data FROM headers h WHERE h.body_id = m.body_id)"
	case BodyFull, BodyStream:
		// A large body's row names its file (bodyfile.go) instead.
		data = "(SELECT b.data FROM bodies b WHERE b.id = m.body_id), (SELECT b.file FROM bodies b WHERE b.id = m.body_id)"
	default:
		return "", fmt.Errorf("body part %d: %w", part, ErrInvalid)
	}
	return "SELECT m.id, m.uid, m.body_id, m.flags, m.keywords, m.idate, m.size, m.modseq, " + data + " FROM messages m WHERE m.mailbox_id = ? AND m.uid >= ? AND m.uid <= ? ORDER BY m.uid", nil
}

func (s *Store) loadMessages(ctx context.Context, mailboxID int64, uids []uint32, part BodyPart, maxBytes int64) ([]LoadedMessage, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	sorted := slices.Clone(uids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	q, err := loadQuery(part)
	if err != nil {
		return nil, err
	}
	out := make([]LoadedMessage, 0, len(sorted))
	var loaded int64
	// Query contiguous-enough runs of UIDs as ranges; a sparse set would
	// otherwise read every message between its first and last UID.
	for len(sorted) > 0 && (maxBytes <= 0 || loaded < maxBytes) {
		end := 1
		for end < len(sorted) && sorted[end]-sorted[end-1] <= 16 {
			end++
		}
		run := sorted[:end]
		sorted = sorted[end:]
		rows, err := s.rdb.QueryContext(ctx, q, mailboxID, run[0], run[len(run)-1])
		if err != nil {
			return nil, err
		}
		j := 0
		for rows.Next() {
			var m LoadedMessage
			var kw, file sql.NullString
			var d int64
			var err error
			switch part {
			case FlagsOnly:
				err = rows.Scan(&m.UID, &m.Flags, &kw)
			case BodyFull, BodyStream:
				err = rows.Scan(&m.ID, &m.UID, &m.BodyID, &m.Flags, &kw, &d, &m.Size, &m.ModSeq, &m.Data, &file)
			default:
				err = rows.Scan(&m.ID, &m.UID, &m.BodyID, &m.Flags, &kw, &d, &m.Size, &m.ModSeq, &m.Data)
			}
			if err != nil {
				rows.Close()
				return nil, err
			}
			for j < len(run) && run[j] < m.UID {
				j++
			}
			if j == len(run) || run[j] != m.UID {
				continue
			}
			held := m.Size
			if file.Valid && part == BodyStream {
				held = 0 // only its header is read
			}
			if maxBytes > 0 && len(out) > 0 && loaded+held > maxBytes {
				loaded = maxBytes // stop here, before reading this one's file
				break
			}
			loaded += held
			if file.Valid && part == BodyStream {
				m.Streamed = true // its header is read once rows is closed
			} else if file.Valid {
				if m.Data, err = s.readBodyFile(file.String); err != nil {
					rows.Close()
					return nil, err
				}
			}
			m.MailboxID = mailboxID
			m.Keywords = splitKeywords(kw)
			m.InternalDate = time.Unix(d, 0)
			out = append(out, m)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	for i := range out {
		if m := &out[i]; m.Streamed {
			if err := s.rdb.QueryRowContext(ctx, "SELECT data FROM headers WHERE body_id = ?", m.BodyID).Scan(&m.Data); err != nil {
				return nil, fmt.Errorf("header of body %d: %w", m.BodyID, err)
			}
		}
	}
	return out, nil
}
