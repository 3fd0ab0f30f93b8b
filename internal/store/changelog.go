package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file carries the change feed between processes and between nodes
// (the nodes of a PostgreSQL store): every committed batch that emitted events also writes one row of
// the change_log table, in the same transaction, holding those events in a
// compact encoding (encodeEvents). A process with subscribers runs a
// watcher that notices commits made by other writers and publishes their
// rows to its own subscribers, in commit order, within about
// changePollEvery (on PostgreSQL as soon as a notification arrives). The messages a `boxmail migrate import` run beside
// `boxmail serve` stores, or the flags another process changes, thereby
// reach the server's IDLE sessions.
//
// The pieces, and what a PostgreSQL store changes of them:
//
//   - The table change_log(id, writer, at, events) and its encoding are
//     the same everywhere. writer is a random number per Store (per
//     process, later per node), so a watcher skips the rows it wrote
//     itself. Rows older than changeLogKeep are trimmed by the writer.
//   - Order: ids are the commit order. SQLite serialises writers (the
//     writer's transactions are BEGIN IMMEDIATE), so an id is visible only
//     once every smaller one is. A PostgreSQL sequence does not promise
//     that: its writer must take a transaction-level advisory lock before
//     the INSERT (pg_advisory_xact_lock), which makes ids commit-ordered.
//   - The wake-up (changeSignal): SQLite has no cross-process
//     notification, so the watcher asks PRAGMA data_version of its own
//     connection every changePollEvery (it changes whenever another
//     connection commits). PostgreSQL LISTENs on a channel that the
//     writer NOTIFYs in the same transaction as the INSERT (notify.go),
//     and polls the newest id only while it cannot listen.
//   - Merging with the local feed (changeLog.mu, seen): the writer
//     publishes its own events right after its commit. When the rows
//     between the last one published and its own were written by others,
//     it reads them inside its transaction and publishes them first, so
//     subscribers see every mailbox's changes in commit order; the watcher
//     publishes the rest.

// changePollEvery is how often a watching store asks whether another
// writer committed: the delay, at worst, before a change made by another
// process reaches IDLE.
const changePollEvery = 250 * time.Millisecond

// changeLogKeep is how long change_log rows are kept: far longer than any
// watcher may lag behind.
const changeLogKeep = 10 * time.Minute

// trimEvery: the writer trims change_log after every trimEvery-th row.
const trimEvery = 64

// newChangeLog is a Store's side of the change log, under a random writer
// id: processes (and nodes) need no coordination. url is the PostgreSQL
// store's (Options.URL; "" on SQLite): its watcher LISTENs there
// (notify.go) and polls only as a fallback, every changePollFallback.
func newChangeLog(url string) changeLog {
	if url != "" {
		return changeLog{writer: rand.Int64(), every: changePollFallback, url: url}
	}
	return changeLog{writer: rand.Int64(), every: changePollEvery}
}

// changeSignal tells the watcher that other writers may have committed.
type changeSignal interface {
	// changed reports whether another writer may have committed since the
	// last call (the first call may report true).
	changed(ctx context.Context) (bool, error)
	close() error
}

// changeLog is a Store's side of the shared change log.
type changeLog struct {
	writer int64         // this store's id in change_log.writer
	every  time.Duration // the watcher's poll interval (changePollEvery, on PostgreSQL changePollFallback)
	url    string        // PostgreSQL: the listener's database (notify.go); "" on SQLite
	// writerPID is the backend pid of the PostgreSQL writer connection,
	// as of its last batch: notifications from it are our own.
	writerPID atomic.Uint32

	// mu orders publishing: the writer holds it from reading the others'
	// rows inside its transaction until its own events are published;
	// the watcher while it publishes rows. It guards the fields up to
	// rows.
	mu       sync.Mutex
	seen     int64 // the rows up to here are published (valid while watching)
	watching bool
	stop     chan struct{} // closed to end the current watcher
	listener *listener     // the current watcher's (notify.go; nil on SQLite)
	rows     int64         // rows written since the last trim

	// Buffers of the writer goroutine, which alone uses them.
	buf   []byte  // encodeEvents
	batch []Event // runBatch: the events of the batch
}

// keepBuffers drops the writer's buffers after a huge batch.
func (c *changeLog) keepBuffers(events []Event) {
	c.batch = events[:0]
	if cap(c.batch) > 4096 {
		c.batch = nil
	}
	if cap(c.buf) > 64<<10 {
		c.buf = nil
	}
}

// logBatch writes the batch's events as one change_log row in tx. While
// someone watches, it also returns the events of other writers committed
// since the last published row, to publish before the batch's own, and
// upto, the row the published ones reach once tx commits (0: none). It
// runs in the writer goroutine with s.chlog.mu held.
//
// On PostgreSQL its statement also commits tx (commitWith: one round
// trip for both; tx.Commit then reports the outcome) and lists the dead
// body files (notifySQL) into *dead, a list for removeDead. While this
// process watches, the same pipeline then reads the change log after
// the commit (commitThen): the other writers' rows before upto, all
// committed before this row took its id, are the foreign events.
func (s *Store) logBatch(ctx context.Context, tx *sql.Tx, events []Event, dead *[]string) (foreign []Event, upto int64, err error) {
	t := &Tx{tx: tx, s: s}
	c := &s.chlog
	var id int64
	c.buf = encodeEvents(c.buf[:0], events)
	if c.rows++; c.rows >= trimEvery {
		c.rows = 0
		if _, err := t.exec(ctx, "DELETE FROM change_log WHERE id < (SELECT id FROM change_log WHERE at >= ? ORDER BY id LIMIT 1)",
			time.Now().Add(-changeLogKeep).Unix()); err != nil {
			return nil, 0, fmt.Errorf("trimming the change log: %w", err)
		}
	}
	if s.pg {
		// Ids in commit order (see the comment at the top of this file),
		// and the other nodes' wake-up, sent at commit (notify.go).
		var pid uint32
		var notes int64
		var names sql.NullString
		cctx := commitWith(ctx)
		var after changeRows
		var then *thenRead
		if c.watching {
			then = &thenRead{q: "SELECT id, writer, events FROM change_log WHERE id > ? ORDER BY id", args: []any{c.seen}, read: after.collect}
			cctx = commitThen(ctx, then)
		}
		if err := t.queryRow(cctx, notifySQL, int64(pgChangeLogLock), notifyAccounts(events), c.writer, now(), c.buf).Scan(&pid, &id, &notes, &names); err != nil {
			return nil, 0, fmt.Errorf("change log: %w", err)
		}
		c.writerPID.Store(pid) // the listener skips our own notifications
		*dead = []string{}
		if names.Valid {
			*dead = strings.Split(names.String, "\n")
		}
		if then != nil && then.sent {
			if then.err != nil {
				s.log.Warn("reading the change log", "err", then.err) // the watcher publishes them later
				return nil, 0, nil
			}
			last := c.seen
			for _, r := range after {
				if r.id >= id {
					break // this batch's row and what committed after it: read later
				}
				foreign = s.changeRow(foreign, last, r.id, r.writer, r.events)
				last = r.id
			}
		}
		return foreign, id, nil
	} else if err := t.queryRow(ctx, "INSERT INTO change_log(writer, at, events) VALUES(?, ?, ?) RETURNING id",
		c.writer, now(), c.buf).Scan(&id); err != nil {
		return nil, 0, fmt.Errorf("change log: %w", err)
	}
	if !c.watching || id <= c.seen+1 {
		return nil, id, nil
	}
	foreign, _, err = s.readChanges(ctx, tx, c.seen, id)
	if err != nil {
		return nil, 0, err // the watcher publishes them later
	}
	return foreign, id, nil
}

// readChanges returns the events of the other writers' rows after `after`
// and before `before` (0: no bound), and the last id read.
func (s *Store) readChanges(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, after, before int64) ([]Event, int64, error) {
	if before == 0 {
		before = 1<<63 - 1
	}
	rows, err := q.QueryContext(ctx, "SELECT id, writer, events FROM change_log WHERE id > ? AND id < ? ORDER BY id", after, before)
	if err != nil {
		return nil, after, err
	}
	defer rows.Close()
	var out []Event
	last := after
	for rows.Next() {
		var id, writer int64
		var b []byte
		if err := rows.Scan(&id, &writer, &b); err != nil {
			return nil, last, err
		}
		out = s.changeRow(out, last, id, writer, b)
		last = id
	}
	return out, last, rows.Err()
}

// changeRow appends the events of change_log row id (by writer, encoded
// in b) to out unless this process wrote it; last is the row read before.
func (s *Store) changeRow(out []Event, last, id, writer int64, b []byte) []Event {
	if id != last+1 && last != 0 {
		s.log.Warn("change log rows trimmed before this process read them: IMAP sessions may miss changes until they select again", "after", last, "next", id)
	}
	if writer == s.chlog.writer {
		return out // published by our own writer
	}
	ev, err := decodeEvents(b)
	if err != nil {
		s.log.Error("unreadable change log row", "id", id, "err", err)
		return out
	}
	return append(out, ev...)
}

// changeLogRow is a change_log row read through pgx (commitThen).
type changeLogRow struct {
	id, writer int64
	events     []byte
}

type changeRows []changeLogRow

func (c *changeRows) collect(rows pgx.Rows) error {
	for rows.Next() {
		var r changeLogRow
		if err := rows.Scan(&r.id, &r.writer, &r.events); err != nil {
			return err
		}
		*c = append(*c, r)
	}
	return nil
}

// startWatching starts the watcher for the first subscription. It is
// called with s.chlog.mu held.
func (s *Store) startWatching() {
	c := &s.chlog
	if c.watching {
		return
	}
	select {
	case <-s.done:
		return // closed
	default:
	}
	var last sql.NullInt64
	if err := s.rdb.QueryRowContext(context.Background(), "SELECT max(id) FROM change_log").Scan(&last); err != nil {
		s.log.Warn("reading the change log", "err", err)
	}
	c.seen = last.Int64
	c.watching = true
	c.stop = make(chan struct{})
	s.wg.Add(1)
	go s.watch(c.stop)
}

// stopWatching ends the watcher after the last subscription. It is called
// with s.chlog.mu held; the watcher ends on its own.
func (s *Store) stopWatching() {
	c := &s.chlog
	if c.watching {
		c.watching = false
		close(c.stop)
	}
}

// watch publishes the changes of other writers until stop is closed.
func (s *Store) watch(stop chan struct{}) {
	defer s.wg.Done()
	sig, err := s.newChangeSignal()
	if err != nil {
		s.log.Error("change log watcher", "err", err)
		return
	}
	defer func() {
		if err := sig.close(); err != nil {
			s.log.Warn("closing the change log watcher", "err", err)
		}
	}()
	lctx, cancel := context.WithCancel(context.Background())
	defer cancel()             // ends the listener
	l := s.startListener(lctx) // notify.go; nil on SQLite
	s.chlog.mu.Lock()
	s.chlog.listener = l
	s.chlog.mu.Unlock()
	var woken chan struct{}
	if l != nil {
		woken = l.C
	}
	tick := time.NewTicker(s.chlog.every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.done:
			return
		case <-woken:
			if l.take(s.feed.has) {
				s.publishOthers(stop)
			}
			continue
		case <-tick.C:
		}
		if l != nil && l.up.Load() {
			continue // the listener wakes us
		}
		changed, err := sig.changed(context.Background())
		if err != nil {
			s.log.Warn("change log watcher", "err", err)
			continue
		}
		if changed {
			s.publishOthers(stop)
		}
	}
}

// publishOthers publishes the rows other writers committed since the last
// published one.
func (s *Store) publishOthers(stop chan struct{}) {
	c := &s.chlog
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-stop:
		return // a newer watcher owns seen now
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, last, err := s.readChanges(ctx, s.rdb, c.seen, 0)
	if err != nil {
		s.log.Warn("reading the change log", "err", err)
		return
	}
	c.seen = last
	for _, e := range events {
		s.feed.publish(e)
	}
}

// dataVersion is the SQLite changeSignal: PRAGMA data_version of a
// connection of its own (the value is per connection, so it cannot come
// from the read pool).
type dataVersion struct {
	db   *sql.DB
	last int64
}

func (s *Store) newChangeSignal() (changeSignal, error) {
	if s.pg {
		return &lastChange{db: s.rdb, last: -1}, nil
	}
	db, err := sql.Open("sqlite", "file:"+s.path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return &dataVersion{db: db, last: -1}, nil
}

func (d *dataVersion) changed(ctx context.Context) (bool, error) {
	var v int64
	if err := d.db.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return false, err
	}
	changed := v != d.last
	d.last = v
	return changed, nil
}

func (d *dataVersion) close() error { return d.db.Close() }

// pgChangeLogLock is the advisory lock a PostgreSQL writer holds from its
// change_log INSERT to its commit, so that ids become visible in order.
const pgChangeLogLock = 0x626f786c6f67 // "boxlog"

// lastChange is the PostgreSQL changeSignal while the listener is down
// (notify.go): the newest change_log id, polled.
type lastChange struct {
	db   *sql.DB
	last int64
}

func (l *lastChange) changed(ctx context.Context) (bool, error) {
	var v int64
	if err := l.db.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM change_log").Scan(&v); err != nil {
		return false, err
	}
	changed := v != l.last
	l.last = v
	return changed, nil
}

func (l *lastChange) close() error { return nil }

// The encoding of a batch's events: a version byte, then runs of events
// that differ only by consecutive UIDs (and ModSeqs that stay or step by
// one), so a delivery of a thousand messages or a STORE over a whole
// mailbox is a few bytes. Each run is uvarints: kind, account, mailbox,
// first UID, count, first ModSeq, ModSeq step, flags, number of
// keywords, then each keyword as length and bytes. Origin is local to a
// process and not kept.
const changeLogVersion = 1

type eventRun struct {
	e     Event
	count uint32
	step  int64
}

func (r *eventRun) extend(e Event) bool {
	if e.Kind != r.e.Kind || e.AccountID != r.e.AccountID || e.MailboxID != r.e.MailboxID ||
		e.Flags != r.e.Flags || !slices.Equal(e.Keywords, r.e.Keywords) || e.UID != r.e.UID+r.count {
		return false
	}
	d := e.ModSeq - r.e.ModSeq
	if r.count == 1 && (d == 0 || d == 1) {
		r.step = d
	}
	if d != r.step*int64(r.count) {
		return false
	}
	r.count++
	return true
}

// encodeEvents appends the encoding of events to dst (empty, or a buffer
// to reuse).
func encodeEvents(dst []byte, events []Event) []byte {
	b := append(dst, changeLogVersion)
	var r eventRun
	flush := func() {
		if r.count == 0 {
			return
		}
		for _, v := range [...]uint64{uint64(r.e.Kind), uint64(r.e.AccountID), uint64(r.e.MailboxID), uint64(r.e.UID),
			uint64(r.count), uint64(r.e.ModSeq), uint64(r.step), uint64(r.e.Flags), uint64(len(r.e.Keywords))} {
			b = binary.AppendUvarint(b, v)
		}
		for _, k := range r.e.Keywords {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
		}
	}
	for _, e := range events {
		if r.count > 0 && r.extend(e) {
			continue
		}
		flush()
		r = eventRun{e: e, count: 1}
	}
	flush()
	return b
}

// maxRun bounds a decoded run, against a corrupt row.
const maxRun = 1 << 24

var errBadChangeRow = errors.New("bad change log row")

func decodeEvents(b []byte) ([]Event, error) {
	if len(b) == 0 || b[0] != changeLogVersion {
		return nil, errBadChangeRow
	}
	b = b[1:]
	next := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	var out []Event
	for len(b) > 0 {
		var v [9]uint64
		for i := range v {
			if len(b) == 0 {
				return nil, errBadChangeRow
			}
			v[i] = next()
		}
		e := Event{Kind: EventKind(v[0]), AccountID: int64(v[1]), MailboxID: int64(v[2]), UID: uint32(v[3]),
			ModSeq: int64(v[5]), Flags: Flags(v[7])}
		count, step := v[4], int64(v[6])
		if count == 0 || count > maxRun || v[8] > uint64(len(b)) {
			return nil, errBadChangeRow
		}
		for range v[8] {
			n := next()
			if n > uint64(len(b)) {
				return nil, errBadChangeRow
			}
			e.Keywords = append(e.Keywords, string(b[:n]))
			b = b[n:]
		}
		for i := range count {
			ei := e
			ei.UID += uint32(i)
			ei.ModSeq += step * int64(i)
			out = append(out, ei)
		}
	}
	return out, nil
}
