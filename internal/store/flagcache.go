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
)

// MessageFlags is a message's UID with its flags (without \Recent, which
// is per session) and keywords.
type MessageFlags struct {
	UID      uint32
	Flags    Flags
	Keywords []string // shared: do not modify
}

// flagsBatch is how many messages LoadFlags hands to its callback at a
// time; the cache's lock is held only while one batch is copied.
const flagsBatch = 1024

// LoadFlags calls fn with the UID, flags and keywords of the messages of
// a mailbox with the given UIDs (ascending; missing ones skipped), in
// batches. fn may keep nothing of its argument but the keyword slices.
//
// A request for many messages of a big mailbox is answered from an
// in-memory copy of the mailbox's flags (flagCache), so that
// "FETCH 1:* (FLAGS)" on 100,000 messages reads no rows: the row loop
// through database/sql and the pure-Go SQLite cost ~1 us per message.
func (s *Store) LoadFlags(ctx context.Context, mailboxID int64, uids []uint32, fn func([]MessageFlags) error) error {
	if len(uids) == 0 {
		return nil
	}
	e, err := s.flags.lookup(ctx, s, mailboxID, len(uids) >= flagCacheMin)
	if err != nil {
		return err
	}
	if e == nil {
		return s.loadFlagsSQL(ctx, mailboxID, uids, fn)
	}
	buf := make([]MessageFlags, 0, min(len(uids), flagsBatch))
	for len(uids) > 0 {
		n := min(len(uids), flagsBatch)
		buf = s.flags.copyOut(e, uids[:n], buf[:0])
		uids = uids[n:]
		if len(buf) == 0 {
			continue
		}
		if err := fn(buf); err != nil {
			return err
		}
	}
	return nil
}

// loadFlagsSQL is LoadFlags without the cache (small requests and small
// mailboxes).
func (s *Store) loadFlagsSQL(ctx context.Context, mailboxID int64, uids []uint32, fn func([]MessageFlags) error) error {
	for len(uids) > 0 {
		n := min(len(uids), 256)
		msgs, err := s.LoadMessages(ctx, mailboxID, uids[:n], FlagsOnly)
		uids = uids[n:]
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			continue
		}
		out := make([]MessageFlags, len(msgs))
		for i, m := range msgs {
			out[i] = MessageFlags{UID: m.UID, Flags: m.Flags &^ FlagRecent, Keywords: m.Keywords}
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

// flagCache keeps, for big mailboxes that are being read, every message's
// UID, flags and keywords. An entry is valid for its UIDVALIDITY and
// MODSEQ: the writer applies its own committed changes in commit order
// (apply), advancing MODSEQ one step at a time; any change it did not see
// (another process, a write without events) leaves the entry behind the
// database's MODSEQ, and the next lookup reloads it.
//
// Memory: 6 bytes per message plus the keyword lists, e.g. ~600 KB for a
// 100,000-message INBOX; at most flagCacheMaxMsgs messages in all, the
// least recently used entry is dropped first.
type flagCache struct {
	mu   sync.Mutex
	m    map[int64]*flagEntry
	msgs int    // messages over all entries
	tick uint64 // for LRU
}

type flagEntry struct {
	mailboxID   int64
	uidValidity uint32
	modSeq      int64
	uids        []uint32 // ascending
	flags       []Flags  // parallel to uids, without FlagRecent
	keywords    map[uint32][]string
	used        uint64
}

const (
	flagCacheMin     = 1000    // smallest mailbox (and request) worth an entry
	flagCacheMaxMsgs = 1 << 20 // bound on the messages kept over all entries
)

// lookup returns the current entry of the mailbox, loading it if build is
// set; nil if there is none (and none was built).
func (c *flagCache) lookup(ctx context.Context, s *Store, mailboxID int64, build bool) (*flagEntry, error) {
	if !build {
		c.mu.Lock()
		e := c.m[mailboxID]
		c.mu.Unlock()
		if e == nil {
			return nil, nil // a small read of an uncached mailbox: no MODSEQ to check
		}
	}
	var uidValidity uint32
	var modSeq int64
	err := s.rdb.QueryRowContext(ctx, "SELECT uidvalidity, modseq FROM mailboxes WHERE id = ?", mailboxID).Scan(&uidValidity, &modSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // LoadMessages finds nothing either
	} else if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e := c.m[mailboxID]
	if e != nil && e.uidValidity == uidValidity && e.modSeq == modSeq {
		c.tick++
		e.used = c.tick
		c.mu.Unlock()
		return e, nil
	}
	c.mu.Unlock()
	if !build {
		return nil, nil
	}
	e, err = s.loadFlagEntry(ctx, mailboxID)
	if err != nil || e == nil || len(e.uids) < flagCacheMin {
		return e, err // a small mailbox is served once from e, not kept
	}
	c.put(e)
	return e, nil
}

// loadFlagEntry reads a mailbox's flags in one read transaction and one
// aggregate row (group_concat, as SelectMailbox: no row loop through
// database/sql).
func (s *Store) loadFlagEntry(ctx context.Context, mailboxID int64) (*flagEntry, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var uidValidity uint32
	var modSeq int64
	err = tx.QueryRowContext(ctx, "SELECT uidvalidity, modseq FROM mailboxes WHERE id = ?", mailboxID).Scan(&uidValidity, &modSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var uids, flags sql.NullString
	var kwJSON sql.NullString // NULL: PostgreSQL's json_agg of no rows
	if err := tx.QueryRowContext(ctx, "SELECT group_concat(uid, ','), "+flagAggregates+" FROM messages WHERE mailbox_id = ?", mailboxID).Scan(&uids, &flags, &kwJSON); err != nil {
		return nil, err
	}
	return flagEntryOf(mailboxID, uidValidity, modSeq, uids.String, flags.String, kwJSON.String)
}

// flagAggregates, after group_concat(uid, ','), give in the same
// aggregate row what flagEntryOf needs besides: the flags in the same
// order, and "uid keywords" of the messages that have keywords.
const flagAggregates = `group_concat(flags, ','),
	json_group_array(uid || ' ' || keywords) FILTER (WHERE keywords IS NOT NULL AND keywords != '')`

// flagEntryOf builds an entry from the aggregates of flagAggregates.
func flagEntryOf(mailboxID int64, uidValidity uint32, modSeq int64, uids, flags, kwJSON string) (*flagEntry, error) {
	n := strings.Count(uids, ",") + 1
	e := &flagEntry{mailboxID: mailboxID, uidValidity: uidValidity, modSeq: modSeq, keywords: map[uint32][]string{},
		uids: make([]uint32, 0, n), flags: make([]Flags, 0, n)}
	for uids != "" {
		var u, f string
		u, uids, _ = strings.Cut(uids, ",")
		f, flags, _ = strings.Cut(flags, ",")
		uid, err1 := strconv.ParseUint(u, 10, 32)
		fl, err2 := strconv.ParseUint(f, 10, 16)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("flags of mailbox %d: %w", mailboxID, err)
		}
		e.uids = append(e.uids, uint32(uid))
		e.flags = append(e.flags, Flags(fl)&^FlagRecent)
	}
	if !slices.IsSorted(e.uids) { // SQLite walks the (mailbox_id, uid) index; checked, not assumed
		idx := make([]int, len(e.uids))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return int(int64(e.uids[a]) - int64(e.uids[b])) })
		u2, f2 := make([]uint32, len(idx)), make([]Flags, len(idx))
		for i, j := range idx {
			u2[i], f2[i] = e.uids[j], e.flags[j]
		}
		e.uids, e.flags = u2, f2
	}
	var kws []string
	if err := json.Unmarshal([]byte(cmp.Or(kwJSON, "[]")), &kws); err != nil {
		return nil, fmt.Errorf("keywords of mailbox %d: %w", mailboxID, err)
	}
	for _, l := range kws {
		u, kw, _ := strings.Cut(l, " ")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("keywords of mailbox %d: %w", mailboxID, err)
		}
		e.keywords[uint32(uid)] = strings.Split(kw, " ")
	}
	return e, nil
}

// current reports whether the cache holds the mailbox at this state.
func (c *flagCache) current(mailboxID int64, uidValidity uint32, modSeq int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[mailboxID]
	return e != nil && e.uidValidity == uidValidity && e.modSeq == modSeq
}

func (c *flagCache) put(e *flagEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64]*flagEntry{}
	}
	if old := c.m[e.mailboxID]; old != nil {
		c.dropLocked(old)
	}
	for c.msgs+len(e.uids) > flagCacheMaxMsgs && len(c.m) > 0 {
		var lru *flagEntry
		for _, o := range c.m {
			if lru == nil || o.used < lru.used {
				lru = o
			}
		}
		c.dropLocked(lru)
	}
	if len(e.uids) > flagCacheMaxMsgs {
		return
	}
	c.tick++
	e.used = c.tick
	c.m[e.mailboxID] = e
	c.msgs += len(e.uids)
}

func (c *flagCache) dropLocked(e *flagEntry) {
	if c.m[e.mailboxID] == e {
		delete(c.m, e.mailboxID)
		c.msgs -= len(e.uids)
	}
}

// copyOut appends the rows of e for uids (ascending) to buf.
func (c *flagCache) copyOut(e *flagEntry, uids []uint32, buf []MessageFlags) []MessageFlags {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, _ := slices.BinarySearch(e.uids, uids[0])
	for _, u := range uids {
		for i < len(e.uids) && e.uids[i] < u {
			i++
		}
		if i == len(e.uids) {
			break
		}
		if e.uids[i] == u {
			buf = append(buf, MessageFlags{UID: u, Flags: e.flags[i], Keywords: e.keywords[u]})
		}
	}
	return buf
}

// apply brings the entry of e's mailbox up to date with a committed
// change. The writer calls it in commit order. An event that is not the
// next step of the entry's MODSEQ (or of the same step: one transaction
// changing several messages) means a change was missed: the entry goes.
func (c *flagCache) apply(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Kind == EventAccountRemoved {
		clear(c.m)
		c.msgs = 0
		return
	}
	e := c.m[ev.MailboxID]
	if e == nil {
		return
	}
	switch {
	case ev.Kind == EventMailboxes:
		c.dropLocked(e)
		return
	case ev.ModSeq < e.modSeq:
		return // already read by loadFlagEntry
	case ev.ModSeq > e.modSeq+1:
		c.dropLocked(e)
		return
	}
	i, found := slices.BinarySearch(e.uids, ev.UID)
	switch ev.Kind {
	case EventNewMessage, EventFlags:
		if !found {
			if ev.Kind == EventFlags {
				c.dropLocked(e) // a message we never saw
				return
			}
			e.uids = slices.Insert(e.uids, i, ev.UID)
			e.flags = slices.Insert(e.flags, i, 0)
			c.msgs++
		}
		e.flags[i] = ev.Flags &^ FlagRecent
		if len(ev.Keywords) > 0 {
			e.keywords[ev.UID] = slices.Clone(ev.Keywords)
		} else {
			delete(e.keywords, ev.UID)
		}
	case EventExpunge:
		if found {
			e.uids = slices.Delete(e.uids, i, i+1)
			e.flags = slices.Delete(e.flags, i, i+1)
			delete(e.keywords, ev.UID)
			c.msgs--
		}
	default:
		c.dropLocked(e)
		return
	}
	e.modSeq = ev.ModSeq
}

// UIDsWithFlags returns, ascending, the UIDs of the mailbox's messages
// that have every flag of set and none of unset (neither may hold
// FlagRecent, which is per session). It is UID SEARCH UNSEEN (or
// FLAGGED, DELETED...) on a big mailbox: a scan of the flag cache's
// 2-byte flags, with no row read and no per-message callback.
func (s *Store) UIDsWithFlags(ctx context.Context, mailboxID int64, set, unset Flags) ([]uint32, error) {
	if (set|unset)&FlagRecent != 0 {
		return nil, fmt.Errorf("UIDsWithFlags: \\Recent is not stored")
	}
	e, err := s.flags.lookup(ctx, s, mailboxID, true)
	if err != nil || e == nil {
		return nil, err
	}
	s.flags.mu.Lock()
	defer s.flags.mu.Unlock()
	var out []uint32
	for i, f := range e.flags {
		if f&set == set && f&unset == 0 {
			out = append(out, e.uids[i])
		}
	}
	return out, nil
}
