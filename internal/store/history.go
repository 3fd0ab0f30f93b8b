package store

// The box's health over time (issue 21): a small round-robin history of
// what happened (mail in and out, spam caught, logins, mail loops) and
// what was seen (queue size, disk used), the free-space gate the
// front-ends ask before they accept mail, the state of the last status
// mail, and the numbers of the weekly usage report.
//
// History layout (migration 25, table history): one row per (tier,
// slot); a tier is a fixed number of fixed-width buckets (HistoryTiers:
// 288 of 5 minutes, 168 of 1 hour, 90 of 1 day), slot = (bucket start /
// width) mod count, so a row is overwritten when its slot comes round
// again and the table never holds more than 546 rows. Events are counted
// in memory (Record, an atomic add) and written by FlushHistory, which
// the serving process calls every minute; a process that never flushes
// (a CLI command) loses its counts, which is acceptable for pictures.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"syscall"
	"time"
)

// historySchema is migration 25.
const historySchema = `
CREATE TABLE IF NOT EXISTS history ( -- IF NOT EXISTS: tests that roll the version back keep it
	tier      INTEGER NOT NULL, -- index in HistoryTiers
	slot      INTEGER NOT NULL, -- (start / width) mod slots
	start     INTEGER NOT NULL, -- unix seconds, the bucket's start
	received  INTEGER NOT NULL DEFAULT 0,
	sent      INTEGER NOT NULL DEFAULT 0,
	spam      INTEGER NOT NULL DEFAULT 0,
	logins    INTEGER NOT NULL DEFAULT 0,
	loops     INTEGER NOT NULL DEFAULT 0,
	queue     INTEGER NOT NULL DEFAULT 0, -- the most messages queued seen in the bucket
	disk_used INTEGER NOT NULL DEFAULT 0, -- bytes used on the data dir's filesystem, last seen
	PRIMARY KEY (tier, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS health_state (
	name  TEXT PRIMARY KEY, -- e.g. "status-mail", "usage-report"
	value TEXT NOT NULL,
	at    INTEGER NOT NULL  -- unix seconds
) WITHOUT ROWID;
`

// HistoryEvent is a kind of event the history counts.
type HistoryEvent int

// The events the history counts; each is recorded where it happens.
const (
	EventReceived HistoryEvent = iota // a message accepted from another server (SMTP inbound)
	EventSent                         // a message delivered to a remote server
	EventSpam                         // a message the spam filter judged junk or refused
	EventLogin                        // a successful login, any protocol
	EventLoop                         // a message that went through too many hops (mail loop)
	numEvents
)

// HistoryTier is one resolution of the history.
type HistoryTier struct {
	Name  string
	Width time.Duration
	Slots int
}

// HistoryTiers are the three resolutions kept: 24 hours in 5 minutes,
// 7 days in hours, 90 days in days.
var HistoryTiers = []HistoryTier{
	{Name: "24h", Width: 5 * time.Minute, Slots: 288},
	{Name: "7d", Width: time.Hour, Slots: 168},
	{Name: "90d", Width: 24 * time.Hour, Slots: 90},
}

// HistoryPoint is one bucket of the history.
type HistoryPoint struct {
	Start    time.Time `json:"start"`
	Received int64     `json:"received"`
	Sent     int64     `json:"sent"`
	Spam     int64     `json:"spam"`
	Logins   int64     `json:"logins"`
	Loops    int64     `json:"loops"`
	Queue    int64     `json:"queue"`
	DiskUsed int64     `json:"disk_used"`
}

// history is the store's part of the health: counts not yet written and
// the free-space limit.
type history struct {
	counts      [numEvents]atomic.Int64
	minFreeBits atomic.Uint64 // float64 bits: the percent of the disk kept free
}

// Record counts one event for the history. It is safe on a nil Store
// and costs one atomic add.
func (s *Store) Record(e HistoryEvent) {
	if s == nil || e < 0 || e >= numEvents {
		return
	}
	s.hist.counts[e].Add(1)
}

// FlushHistory writes the events counted since the last flush, the
// queue's size and the disk used into the bucket of each tier holding
// t. On failure the counts are kept for the next flush.
func (s *Store) FlushHistory(ctx context.Context, t time.Time) error {
	var c [numEvents]int64
	for i := range c {
		c[i] = s.hist.counts[i].Swap(0)
	}
	var queued int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM queue").Scan(&queued); err != nil {
		s.restoreCounts(c)
		return err
	}
	var used int64
	if d, err := s.DiskSpace(); err == nil {
		used = int64(d.Used())
	}
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		for i, tier := range HistoryTiers {
			start, slot := bucketOf(tier, t)
			_, err := tx.exec(ctx, `INSERT INTO history(tier, slot, start, received, sent, spam, logins, loops, queue, disk_used)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT(tier, slot) DO UPDATE SET
				received = CASE WHEN history.start = excluded.start THEN history.received + excluded.received ELSE excluded.received END,
				sent = CASE WHEN history.start = excluded.start THEN history.sent + excluded.sent ELSE excluded.sent END,
				spam = CASE WHEN history.start = excluded.start THEN history.spam + excluded.spam ELSE excluded.spam END,
				logins = CASE WHEN history.start = excluded.start THEN history.logins + excluded.logins ELSE excluded.logins END,
				loops = CASE WHEN history.start = excluded.start THEN history.loops + excluded.loops ELSE excluded.loops END,
				queue = CASE WHEN history.start = excluded.start THEN CASE WHEN history.queue > excluded.queue THEN history.queue ELSE excluded.queue END ELSE excluded.queue END,
				disk_used = excluded.disk_used, start = excluded.start`,
				i, slot, start, c[EventReceived], c[EventSent], c[EventSpam], c[EventLogin], c[EventLoop], queued, used)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.restoreCounts(c)
	}
	return err
}

func (s *Store) restoreCounts(c [numEvents]int64) {
	for i, n := range c {
		s.hist.counts[i].Add(n)
	}
}

// bucketOf is the start (unix seconds) and slot of t's bucket in tier.
func bucketOf(tier HistoryTier, t time.Time) (start int64, slot int) {
	w := int64(tier.Width / time.Second)
	start = t.Unix() / w * w
	return start, int(start / w % int64(tier.Slots))
}

// History returns the tier's buckets (index in HistoryTiers) up to and
// including now's, oldest first: always tier.Slots points, zero where
// nothing was recorded.
func (s *Store) History(ctx context.Context, tier int, now time.Time) ([]HistoryPoint, error) {
	if tier < 0 || tier >= len(HistoryTiers) {
		return nil, fmt.Errorf("history tier %d: %w", tier, ErrInvalid)
	}
	ht := HistoryTiers[tier]
	w := int64(ht.Width / time.Second)
	last, _ := bucketOf(ht, now)
	first := last - int64(ht.Slots-1)*w
	out := make([]HistoryPoint, ht.Slots)
	for i := range out {
		out[i].Start = time.Unix(first+int64(i)*w, 0).UTC()
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT start, received, sent, spam, logins, loops, queue, disk_used FROM history
		WHERE tier = ? AND start >= ? AND start <= ?`, tier, first, last)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var start int64
		var p HistoryPoint
		if err := rows.Scan(&start, &p.Received, &p.Sent, &p.Spam, &p.Logins, &p.Loops, &p.Queue, &p.DiskUsed); err != nil {
			return nil, err
		}
		if (start-first)%w != 0 {
			continue // a bucket of another width: not written by this binary
		}
		p.Start = out[(start-first)/w].Start
		out[(start-first)/w] = p
	}
	return out, rows.Err()
}

// HistorySince sums the finest tier's events from since on (at most
// 24 hours back), with the counts not yet flushed.
func (s *Store) HistorySince(ctx context.Context, since time.Time) (HistoryPoint, error) {
	var p HistoryPoint
	err := s.rdb.QueryRowContext(ctx, `SELECT coalesce(sum(received), 0), coalesce(sum(sent), 0), coalesce(sum(spam), 0),
		coalesce(sum(logins), 0), coalesce(sum(loops), 0), coalesce(max(queue), 0) FROM history WHERE tier = 0 AND start >= ?`,
		since.Unix()/300*300).Scan(&p.Received, &p.Sent, &p.Spam, &p.Logins, &p.Loops, &p.Queue)
	p.Received += s.hist.counts[EventReceived].Load()
	p.Sent += s.hist.counts[EventSent].Load()
	p.Spam += s.hist.counts[EventSpam].Load()
	p.Logins += s.hist.counts[EventLogin].Load()
	p.Loops += s.hist.counts[EventLoop].Load()
	return p, err
}

// DiskSpace is what statfs says of a filesystem.
type DiskSpace struct {
	Total, Avail          uint64 // bytes; Avail: what an unprivileged process may still write
	Files, FilesFree      uint64 // inodes
	FreePct, FilesFreePct float64
}

// Used is the bytes in use.
func (d DiskSpace) Used() uint64 { return d.Total - min(d.Avail, d.Total) }

// DiskSpaceOf asks the filesystem of dir how full it is.
func DiskSpaceOf(dir string) (DiskSpace, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return DiskSpace{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(fs.Bsize)
	d := DiskSpace{Total: fs.Blocks * bs, Avail: fs.Bavail * bs, Files: fs.Files, FilesFree: fs.Ffree, FreePct: 100, FilesFreePct: 100}
	if fs.Blocks > 0 {
		d.FreePct = 100 * float64(fs.Bavail) / float64(fs.Blocks)
	}
	if fs.Files > 0 { // some filesystems (btrfs) report no inode limit
		d.FilesFreePct = 100 * float64(fs.Ffree) / float64(fs.Files)
	}
	return d, nil
}

// DiskSpace is the data directory's filesystem's.
func (s *Store) DiskSpace() (DiskSpace, error) { return DiskSpaceOf(s.dir) }

// DefaultMinFreePercent is the share of the data dir's disk (and inodes)
// the front-ends keep free: below it they refuse new mail.
const DefaultMinFreePercent = 5.0

// KeepFree sets the percent of the disk (and inodes) kept free; 0
// means DefaultMinFreePercent, a negative value turns the gate off.
func (s *Store) KeepFree(percent float64) {
	if percent == 0 {
		percent = DefaultMinFreePercent
	}
	s.hist.minFreeBits.Store(math.Float64bits(percent))
}

// MinFree is the percent of the disk kept free (KeepFree).
func (s *Store) MinFree() float64 {
	if b := s.hist.minFreeBits.Load(); b != 0 {
		return math.Float64frombits(b)
	}
	return DefaultMinFreePercent
}

// CheckSpace is the gate SMTP RCPT/DATA and IMAP APPEND ask before they
// accept a message: ErrDiskFull when the data dir's free space or
// inodes are below MinFree, so mail is refused with a temporary error
// while the store can still write (the admin's status mail, a user
// deleting mail). A filesystem that cannot be asked does not refuse.
// Safe on a nil Store. One statfs call (about a microsecond).
func (s *Store) CheckSpace() error {
	if s == nil {
		return nil
	}
	limit := s.MinFree()
	if limit < 0 {
		return nil
	}
	d, err := s.DiskSpace()
	if err != nil {
		return nil
	}
	if d.FreePct < limit || d.FilesFreePct < limit {
		return fmt.Errorf("%w: %.1f%% of the disk and %.1f%% of the inodes free, below the %.1f%% kept free", ErrDiskFull, d.FreePct, d.FilesFreePct, limit)
	}
	return nil
}

// HealthState returns a named piece of the health checker's memory (the
// last status mail, the last usage report), or ErrNotFound.
func (s *Store) HealthState(ctx context.Context, name string) (value string, at time.Time, err error) {
	var ts int64
	err = s.rdb.QueryRowContext(ctx, "SELECT value, at FROM health_state WHERE name = ?", name).Scan(&value, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, ErrNotFound
	}
	return value, time.Unix(ts, 0), err
}

// NoteHealthState keeps a named piece of the health checker's memory.
func (s *Store) NoteHealthState(ctx context.Context, name, value string, at time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO health_state(name, value, at) VALUES (?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET value = excluded.value, at = excluded.at`, name, value, at.Unix())
		return err
	})
}

// AccountActivity is one line of the weekly usage report.
type AccountActivity struct {
	Email string
	Bytes int64 // all its messages
	In    int   // messages that arrived since, outside Sent, Drafts, Junk and Trash
	Out   int   // messages in Sent since
	Spam  int   // messages in Junk since
}

// Activity returns every account's line of the usage report for the
// messages whose internal date is at or after since.
func (s *Store) Activity(ctx context.Context, since time.Time) ([]AccountActivity, error) {
	return queryAll(ctx, s.rdb, func(r *sql.Rows) (AccountActivity, error) {
		var a AccountActivity
		err := r.Scan(&a.Email, &a.Bytes, &a.In, &a.Out, &a.Spam)
		return a, err
	}, `SELECT a.email,
		coalesce(sum(m.size), 0),
		coalesce(sum(m.idate >= ?1 AND b.special_use NOT IN ('\Sent', '\Drafts', '\Junk', '\Trash')), 0),
		coalesce(sum(m.idate >= ?1 AND b.special_use = '\Sent'), 0),
		coalesce(sum(m.idate >= ?1 AND b.special_use = '\Junk'), 0)
		FROM accounts a LEFT JOIN mailboxes b ON b.account_id = a.id LEFT JOIN messages m ON m.mailbox_id = b.id
		GROUP BY a.id ORDER BY a.email`, since.Unix())
}
