package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file carries the wake-up between nodes on PostgreSQL
// (LISTEN/NOTIFY; the change feed itself is changelog.go):
//
//   - The writer: the transaction that writes a change_log row also sends
//     pg_notify('boxmail', account id) once for each account its events
//     touch (notifySQL). PostgreSQL delivers the notifications at commit,
//     one per distinct payload, and drops them on rollback. A
//     notification is a hint only: what changed is read from change_log.
//   - The listener: while a node has subscribers, its watcher keeps one
//     dedicated connection (pgx, outside database/sql's pools) that
//     LISTENs on the channel. A notification for an account with a local
//     subscriber makes the watcher publish the rows other writers
//     committed since the last one published (publishOthers), at once.
//     Notifications for accounts nobody here watches are dropped: their
//     rows are read, in order, with the next publish.
//   - Losing the connection: the watcher falls back to polling the newest
//     change_log id every changePollFallback, the listener connects again
//     (pausing from listenRetryMin up to listenRetryMax), and once it
//     LISTENs again it wakes every subscriber: everything committed in
//     between is read from change_log by id (kept changeLogKeep), so the
//     sessions resync with the database.
//   - A silent connection is probed every listenProbeEvery, so a dead
//     peer is noticed even without TCP telling.

// notifyChannel is the channel the nodes LISTEN on.
const notifyChannel = "boxmail"

// changePollFallback is the watcher's poll period on PostgreSQL: used
// only while the listener is not connected (or cannot be).
const changePollFallback = time.Second

// The listener's pauses between connection attempts, doubling.
const (
	listenRetryMin = 500 * time.Millisecond
	listenRetryMax = 30 * time.Second
)

// listenProbeEvery: a listening connection silent this long is pinged.
const listenProbeEvery = 30 * time.Second

// notifySQL writes the change_log row of a batch (?3 writer, ?4 at, ?5
// events) and returns its id and the writer connection's backend pid, in
// one round trip: it takes the change log's advisory lock
// (changelog.go) before the row takes its id (the INSERT reads its one
// row from the lock's), and queues one notification per account of ?2
// (a comma-separated list). The functions are volatile, so PostgreSQL
// evaluates them for every row even though only a count is returned.
//
// Its last column lists the dead body files (bodyfile.go), one name a
// line, NULL for none: the writer removes them after the commit instead
// of asking for them in a round trip of its own.
const notifySQL = "WITH l AS (SELECT pg_advisory_xact_lock(?1)), " +
	"c AS (INSERT INTO change_log(writer, at, events) SELECT ?3::bigint, ?4::bigint, ?5::bytea FROM l RETURNING id) " +
	"SELECT pg_backend_pid(), (SELECT id FROM c), " +
	"(SELECT count(*) FROM (SELECT pg_notify('" + notifyChannel + "', a) FROM unnest(string_to_array(?2, ',')) AS a) AS n), " +
	"(SELECT string_agg(name, chr(10)) FROM " + deadFilesListed + ")"

// notifyAccounts returns the distinct accounts of events as notifySQL's
// list.
func notifyAccounts(events []Event) string {
	var b strings.Builder
	seen := make(map[int64]struct{}, 4)
	for _, e := range events {
		if _, ok := seen[e.AccountID]; ok {
			continue
		}
		seen[e.AccountID] = struct{}{}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(e.AccountID, 10))
	}
	return b.String()
}

// listener is the watcher's side of the LISTEN connection: the accounts
// notified since the watcher last looked.
type listener struct {
	// C receives a value when there is something to take.
	C  chan struct{}
	up atomic.Bool // LISTENing now

	mu       sync.Mutex
	accounts map[int64]struct{}
	all      bool // wake everyone (after connecting)
}

func newListener() *listener {
	return &listener{C: make(chan struct{}, 1), accounts: map[int64]struct{}{}}
}

// wake notes a notification for account (0: everyone).
func (l *listener) wake(account int64) {
	l.mu.Lock()
	if account == 0 {
		l.all = true
	} else {
		l.accounts[account] = struct{}{}
	}
	l.mu.Unlock()
	select {
	case l.C <- struct{}{}:
	default:
	}
}

// take clears the notes and reports whether any concerns an account
// watched here.
func (l *listener) take(watched func(int64) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	hit := l.all
	for a := range l.accounts {
		hit = hit || watched(a)
		delete(l.accounts, a)
	}
	l.all = false
	return hit
}

// startListener starts the LISTEN connection of a PostgreSQL watcher; it
// ends when ctx does. It returns nil on SQLite.
func (s *Store) startListener(ctx context.Context) *listener {
	if !s.pg || s.chlog.url == "" {
		return nil
	}
	l := newListener()
	s.wg.Add(1)
	go s.listen(ctx, l)
	return l
}

// listen keeps a LISTEN connection up until ctx ends.
func (s *Store) listen(ctx context.Context, l *listener) {
	defer s.wg.Done()
	pause := listenRetryMin
	for {
		err := s.listenOnce(ctx, l)
		l.up.Store(false)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("change feed listener: no connection; polling the change log until it is back", "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, listenRetryMax)
	}
}

// listenOnce connects, LISTENs, wakes everyone (the changes committed
// while nobody listened), then passes notifications on until the
// connection fails or ctx ends.
func (s *Store) listenOnce(ctx context.Context, l *listener) (err error) {
	conn, err := pgx.Connect(ctx, s.chlog.url)
	if err != nil {
		// pgx names host, user and database here, never the password.
		return fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = errors.Join(err, ignoreClosed(conn.Close(cctx)))
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("LISTEN: %w", err)
	}
	l.up.Store(true)
	l.wake(0)
	for {
		wctx, cancel := context.WithTimeout(ctx, listenProbeEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil && n.PID == s.chlog.writerPID.Load():
			// Our own writer's: it published its events itself, and
			// those of others it read first (logBatch).
		case err == nil:
			id, perr := strconv.ParseInt(n.Payload, 10, 64)
			if perr != nil || id <= 0 {
				id = 0 // not ours to read: wake everyone
			}
			l.wake(id)
		case ctx.Err() != nil:
			return nil
		case pgconn.Timeout(err):
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("probing the connection: %w", err)
			}
		default:
			return fmt.Errorf("waiting for notifications: %w", err)
		}
	}
}

// ignoreClosed drops the error of closing a connection that is already
// gone.
func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// has reports whether the account has a subscriber in this process.
func (f *feed) has(account int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs[account]) > 0
}
