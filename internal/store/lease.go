package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Leases let several boxmail nodes on one PostgreSQL database share work
// (issue 23). A lease is a row naming its owner (a node, NewOwnerID) and
// the time it ends, in Unix milliseconds of the taking node's clock:
// nodes must keep their clocks in step (NTP) to well under a lease's
// length. A node that dies loses its leases when they end; a live node
// renews its own before they do.
//
//   - Queue entries carry their claim in the row (queue.owner,
//     queue.lease_until): QueueClaim takes due entries that nobody holds
//     (or whose lease ended), the delivery runs outside the transaction,
//     and QueueResult applies the outcome only while the entry is still
//     the owner's (ErrLeaseLost otherwise).
//   - Singleton jobs (report sending, the scheduled backup, the status
//     mail) take a named row of the leases table (TryLease) before each
//     run, so exactly one node runs them.
//   - The POP3 maildrop lock is a lease named "pop3:ACCOUNT-ID".
//
// On SQLite the same calls work under its single writer; a box there has
// one serving process, which releases every claim when its queue starts
// (QueueReleaseAll), so a crash delays nothing.

// leaseSchema is migration 30 (SQLite; the queue's two columns are added
// by addQueueLeaseColumns, which a replayed migration must not repeat).
const leaseSchema = `
CREATE TABLE IF NOT EXISTS leases ( -- IF NOT EXISTS: tests that roll the version back keep it
	name  TEXT PRIMARY KEY, -- the job ("reports", "backup", "pop3:12", ...)
	owner TEXT NOT NULL,    -- NewOwnerID of the node holding it
	until INTEGER NOT NULL  -- Unix milliseconds; the lease is free from then on
);
`

// pgLeaseSchema is migration 30 on PostgreSQL.
const pgLeaseSchema = `
ALTER TABLE queue ADD COLUMN IF NOT EXISTS owner TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN IF NOT EXISTS lease_until BIGINT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS leases (
	name  TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	until BIGINT NOT NULL
);
`

// addQueueLeaseColumns adds the queue's claim columns (SQLite), unless a
// test that rolled the schema version back left them in place.
func addQueueLeaseColumns(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info('queue') WHERE name = 'owner'").Scan(&n); err != nil || n > 0 {
		return err
	}
	_, err := tx.ExecContext(ctx, `
ALTER TABLE queue ADD COLUMN owner TEXT NOT NULL DEFAULT ''; -- the node delivering it ('' for none)
ALTER TABLE queue ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0; -- Unix ms; the claim ends then`)
	return err
}

// ErrLeaseLost means a queue entry's claim had passed to another node
// (it ended, and the other node claimed the entry) before the result of
// an attempt was recorded: the result is not applied.
var ErrLeaseLost = errors.New("the queue entry's lease passed to another node")

// NewOwnerID returns a name for this process as a lease owner:
// hostname, pid and a random part, so a restarted process (same pid in
// a container) is a new owner.
func NewOwnerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b)
}

// NodeID names the node that serves the data dir dir on this host, the
// same across restarts: the host name and a hash of the directory's
// absolute path. A restarted node frees the claims its dead predecessor
// held (QueueReleaseNode) instead of waiting for their leases to end.
func NodeID(dir string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(dir))
	return host + "-" + hex.EncodeToString(sum[:4])
}

// NewOwnerIDOf is NewOwnerID for a process of the node named node
// (NodeID): its owner names start with node and a colon.
func NewOwnerIDOf(node string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return node + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b)
}

// QueueReleaseNode frees the claims of every earlier process of node (a
// node starting again after a crash: only one process serves a data dir,
// so they are dead).
func (s *Store) QueueReleaseNode(ctx context.Context, node, self string) error {
	prefix := node + ":"
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "UPDATE queue SET owner = '', lease_until = 0 WHERE substr(owner, 1, ?) = ? AND owner <> ?", len(prefix), prefix, self)
		return err
	})
}

// Shared reports whether other nodes may use the same database
// (PostgreSQL): singleton jobs then need their lease.
func (s *Store) Shared() bool { return s.pg }

// queueClaimSQL takes due, unclaimed (or expired) entries; on PostgreSQL
// the entries another node is claiming at the moment are skipped rather
// than waited for. Arguments: owner, lease end, now (s), now (ms), the
// domains to leave alone (comma-separated), limit.
const queueClaimSQL = `UPDATE queue SET owner = ?1, lease_until = ?2 WHERE id IN (
	SELECT id FROM queue WHERE next_attempt <= ?3 AND lease_until <= ?4 AND (?5 = '' OR instr(',' || ?5 || ',', ',' || domain || ',') = 0)
	ORDER BY next_attempt, id LIMIT ?6%s) RETURNING ` + queueCols

var (
	queueClaimSQLite = fmt.Sprintf(queueClaimSQL, "")
	queueClaimPG     = fmt.Sprintf(queueClaimSQL, " FOR UPDATE SKIP LOCKED")
)

// QueueClaim atomically claims up to limit entries due at now that no
// node holds (or whose lease ended), for owner until now+lease, leaving
// out the entries of the domains in except (those the caller has no
// connection for), and returns them earliest first. The caller delivers
// them outside any transaction, renews long deliveries (QueueExtend) and
// records each result with QueueOutcome.Owner set.
func (s *Store) QueueClaim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int, except ...string) ([]QueueItem, error) {
	q := queueClaimSQLite
	if s.pg {
		q = queueClaimPG
	}
	var out []QueueItem
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		rows, err := tx.tx.QueryContext(ctx, q, owner, now.Add(lease).UnixMilli(), now.Unix(), now.UnixMilli(), strings.Join(except, ","), limit)
		if err != nil {
			return err
		}
		out, err = scanQueue(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b QueueItem) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

// QueueClaimable reports whether QueueClaim at now (leaving out the
// domains in except) would find an entry: one read, so that an idle
// queue loop writes nothing.
func (s *Store) QueueClaimable(ctx context.Context, now time.Time, except ...string) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx, `SELECT 1 FROM queue WHERE next_attempt <= ?1 AND lease_until <= ?2
		AND (?3 = '' OR instr(',' || ?3 || ',', ',' || domain || ',') = 0) LIMIT 1`, now.Unix(), now.UnixMilli(), strings.Join(except, ",")).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// QueueExtend renews owner's claims of ids until until and returns the
// ids it no longer holds (another node claimed them after the lease
// ended, or they are gone).
func (s *Store) QueueExtend(ctx context.Context, owner string, ids []int64, until time.Time) (lost []int64, err error) {
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		lost = lost[:0]
		for _, id := range ids {
			res, err := tx.exec(ctx, "UPDATE queue SET lease_until = ? WHERE id = ? AND owner = ?", until.UnixMilli(), id, owner)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				lost = append(lost, id)
			}
		}
		return nil
	})
	return lost, err
}

// QueueRelease gives up owner's claims of ids (entries it claimed but
// will not attempt now): they are free for any node at once.
func (s *Store) QueueRelease(ctx context.Context, owner string, ids []int64) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		for _, id := range ids {
			if _, err := tx.exec(ctx, "UPDATE queue SET owner = '', lease_until = 0 WHERE id = ? AND owner = ?", id, owner); err != nil {
				return err
			}
		}
		return nil
	})
}

// QueueReleaseAll frees every claim: a single node's queue starting
// after a crash (there is no other node to hold one).
func (s *Store) QueueReleaseAll(ctx context.Context) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "UPDATE queue SET owner = '', lease_until = 0 WHERE owner <> ''")
		return err
	})
}

// TryLease takes the lease name for owner until now+ttl when it is free,
// ended, or owner's already (then it is renewed), and reports whether
// owner holds it.
func (s *Store) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	now := time.Now()
	var got bool
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, `INSERT INTO leases(name, owner, until) VALUES(?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE leases.owner = excluded.owner OR leases.until <= ?`, name, owner, now.Add(ttl).UnixMilli(), now.UnixMilli())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		got = n > 0
		return err
	})
	return got && err == nil, err
}

// RenewLease extends owner's lease name to now+ttl; false when owner no
// longer holds it (it ended and another node took it).
func (s *Store) RenewLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	var held bool
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE leases SET until = ? WHERE name = ? AND owner = ?", time.Now().Add(ttl).UnixMilli(), name, owner)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n > 0
		return err
	})
	return held && err == nil, err
}

// ReleaseLease frees owner's lease name (nothing when owner does not
// hold it).
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM leases WHERE name = ? AND owner = ?", name, owner)
		return err
	})
}

// RunSingleton runs fn on one node of several: when the lease name is
// owner's (taken if free or ended, renewed if owner's already, for ttl).
// The lease is renewed every ttl/3 while fn runs, and fn's context ends
// if it is lost; it is kept after fn returns, so that the same node keeps
// the job while it lives (a job's schedule is each node's own: handing
// the lease back would let another node run the same tick again). ran
// reports whether fn ran. On SQLite (one serving process) fn always runs.
func (s *Store) RunSingleton(ctx context.Context, name, owner string, ttl time.Duration, fn func(ctx context.Context)) (ran bool, err error) {
	if !s.pg {
		fn(ctx)
		return true, nil
	}
	ok, err := s.TryLease(ctx, name, owner, ttl)
	if err != nil || !ok {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	renewed := make(chan error, 1)
	go func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		ends := time.Now().Add(ttl)
		for {
			select {
			case <-done:
				renewed <- nil
				return
			case now := <-t.C:
				held, err := s.RenewLease(ctx, name, owner, ttl)
				switch {
				case err == nil && held:
					ends = now.Add(ttl)
					continue
				case err == nil:
					err = fmt.Errorf("lease %s: %w", name, ErrLeaseLost)
				case now.Add(ttl / 3).Before(ends):
					continue // a failed renewal: the lease lasts past the next try
				}
				cancel()
				renewed <- err
				return
			}
		}
	}()
	fn(ctx)
	close(done)
	return true, <-renewed
}

// SweepBodyBlobsAlone runs SweepBodyBlobs when owner holds the lease
// "blob-sweep" (RunSingleton, for ttl), so that two nodes never sweep at
// once; ran reports whether it ran here.
func (s *Store) SweepBodyBlobsAlone(ctx context.Context, owner string, ttl time.Duration) (ran bool, err error) {
	var serr error
	ran, err = s.RunSingleton(ctx, "blob-sweep", owner, ttl, func(ctx context.Context) { serr = s.SweepBodyBlobs(ctx) })
	return ran, errors.Join(err, serr)
}
