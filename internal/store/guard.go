package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// State of the defences (internal/guard): the guard keeps it in memory and
// writes it through, so blocks and greylisting survive a restart and
// 'boxmail security' can list and lift blocks from another process.

// AuthBlock is a client network barred from logging in until Until.
type AuthBlock struct {
	Net    string // "192.0.2.7/32" or "2001:db8:1:2::/64"
	Level  int    // 1 for the first block, higher for repeats
	Since  time.Time
	Until  time.Time
	Reason string
}

// SaveAuthBlock records (or replaces) the block of b.Net.
func (s *Store) SaveAuthBlock(ctx context.Context, b AuthBlock) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO auth_blocks(net, level, since, until, reason) VALUES(?, ?, ?, ?, ?)
			ON CONFLICT(net) DO UPDATE SET level = excluded.level, since = excluded.since, until = excluded.until, reason = excluded.reason`,
			b.Net, b.Level, b.Since.Unix(), b.Until.Unix(), b.Reason)
		return err
	})
}

// AuthBlocks returns every recorded block, expired ones included (their
// level still counts for the next), by network.
func (s *Store) AuthBlocks(ctx context.Context) ([]AuthBlock, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (AuthBlock, error) {
		var b AuthBlock
		var since, until int64
		err := rows.Scan(&b.Net, &b.Level, &since, &until, &b.Reason)
		b.Since, b.Until = time.Unix(since, 0), time.Unix(until, 0)
		return b, err
	}, "SELECT net, level, since, until, reason FROM auth_blocks ORDER BY net")
}

// AuthBlockByNet returns the block of one network, or ErrNotFound.
func (s *Store) AuthBlockByNet(ctx context.Context, net string) (AuthBlock, error) {
	b := AuthBlock{Net: net}
	var since, until int64
	err := s.rdb.QueryRowContext(ctx, "SELECT level, since, until, reason FROM auth_blocks WHERE net = ?", net).Scan(&b.Level, &since, &until, &b.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	b.Since, b.Until = time.Unix(since, 0), time.Unix(until, 0)
	return b, err
}

// RemoveAuthBlock forgets a network's block and its level; ErrNotFound
// when there was none.
func (s *Store) RemoveAuthBlock(ctx context.Context, net string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.execOne(ctx, "", "DELETE FROM auth_blocks WHERE net = ?", net)
	})
}

// PruneAuthBlocks removes blocks that ended before t.
func (s *Store) PruneAuthBlocks(ctx context.Context, t time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM auth_blocks WHERE until < ?", t.Unix())
		return err
	})
}

// GreylistEntry is one (client network, sender, recipient) triple.
type GreylistEntry struct {
	Net, Sender, Rcpt string
	First, Last       time.Time
	Passed            bool
}

// SaveGreylist records (or updates) a triple.
func (s *Store) SaveGreylist(ctx context.Context, e GreylistEntry) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO greylist(net, sender, rcpt, first, last, passed) VALUES(?, ?, ?, ?, ?, ?)
			ON CONFLICT(net, sender, rcpt) DO UPDATE SET first = excluded.first, last = excluded.last, passed = excluded.passed`,
			e.Net, e.Sender, e.Rcpt, e.First.Unix(), e.Last.Unix(), e.Passed)
		return err
	})
}

// Greylist returns the triples last seen at or after since.
func (s *Store) Greylist(ctx context.Context, since time.Time) ([]GreylistEntry, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (GreylistEntry, error) {
		var e GreylistEntry
		var first, last int64
		err := rows.Scan(&e.Net, &e.Sender, &e.Rcpt, &first, &last, &e.Passed)
		e.First, e.Last = time.Unix(first, 0), time.Unix(last, 0)
		return e, err
	}, "SELECT net, sender, rcpt, first, last, passed FROM greylist WHERE last >= ?", since.Unix())
}

// SaveGreylistDomain records that mail from domain passed greylisting
// with SPF at t.
func (s *Store) SaveGreylistDomain(ctx context.Context, domain string, t time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO greylist_domains(domain, last) VALUES(?, ?)
			ON CONFLICT(domain) DO UPDATE SET last = excluded.last`, domain, t.Unix())
		return err
	})
}

// GreylistDomains returns the domains last seen at or after since.
func (s *Store) GreylistDomains(ctx context.Context, since time.Time) (map[string]time.Time, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT domain, last FROM greylist_domains WHERE last >= ?", since.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var d string
		var last int64
		if err := rows.Scan(&d, &last); err != nil {
			return nil, err
		}
		out[d] = time.Unix(last, 0)
	}
	return out, rows.Err()
}

// PruneGreylist removes triples and domains last seen before t.
func (s *Store) PruneGreylist(ctx context.Context, t time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM greylist WHERE last < ?", t.Unix()); err != nil {
			return err
		}
		_, err := tx.exec(ctx, "DELETE FROM greylist_domains WHERE last < ?", t.Unix())
		return err
	})
}

// GreylistEntryOf returns the stored triple, or ErrNotFound. On a
// database shared by several nodes the guard asks it on a miss, so a
// triple another node recorded counts here too.
func (s *Store) GreylistEntryOf(ctx context.Context, net, sender, rcpt string) (GreylistEntry, error) {
	e := GreylistEntry{Net: net, Sender: sender, Rcpt: rcpt}
	var first, last int64
	err := s.rdb.QueryRowContext(ctx, "SELECT first, last, passed FROM greylist WHERE net = ? AND sender = ? AND rcpt = ?", net, sender, rcpt).Scan(&first, &last, &e.Passed)
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	e.First, e.Last = time.Unix(first, 0), time.Unix(last, 0)
	return e, err
}

// GreylistDomainSeen returns when mail from domain last passed
// greylisting with SPF (ok false: never, or forgotten).
func (s *Store) GreylistDomainSeen(ctx context.Context, domain string) (t time.Time, ok bool, err error) {
	var last int64
	err = s.rdb.QueryRowContext(ctx, "SELECT last FROM greylist_domains WHERE domain = ?", domain).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return time.Unix(last, 0), err == nil, err
}
