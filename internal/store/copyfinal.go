package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// final is CopyBox's pause: with the source's writers held off, the bodies
// added and removed since the first pass, then every other table whole,
// the counts compared and the target's sequences set, in one target
// transaction.
func (c *copier) final(ctx context.Context, maxBody int64) (err error) {
	start := time.Now()
	stx, err := c.src.wdb.BeginTx(ctx, nil) // SQLite: _txlock=immediate, the write lock
	if err != nil {
		return fmt.Errorf("pausing the source: %w", err)
	}
	defer func() { err = errors.Join(err, ignoreDone(stx.Rollback())) }()
	if c.src.pg {
		names := make([]string, 0, len(c.tables))
		for _, t := range c.tables {
			names = append(names, t.name)
		}
		if _, err := stx.ExecContext(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN SHARE MODE"); err != nil {
			return fmt.Errorf("pausing the source: %w", err)
		}
	}
	dtx, err := c.dst.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := c.finalRows(ctx, stx, dtx, maxBody); err != nil {
		return errors.Join(err, dtx.Rollback())
	}
	// The source may go on; the target's transaction is complete.
	if err := stx.Rollback(); err != nil {
		return errors.Join(err, dtx.Rollback())
	}
	c.rep.Pause = time.Since(start)
	return dtx.Commit()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

func (c *copier) finalRows(ctx context.Context, stx, dtx *sql.Tx, maxBody int64) error {
	var newMax int64
	if err := stx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM bodies").Scan(&newMax); err != nil {
		return err
	}
	before := c.rep.Bodies
	for lo := maxBody; lo < newMax; {
		next, err := c.bodyBatch(ctx, stx, dtx, lo, newMax)
		if err != nil {
			return err
		}
		lo = next
	}
	c.rep.CatchUp = c.rep.Bodies - before
	gone, err := missingIDs(ctx, stx, dtx, maxBody)
	if err != nil {
		return err
	}
	for _, id := range gone {
		if _, err := dtx.ExecContext(ctx, "DELETE FROM bodies WHERE id = ?", id); err != nil {
			return err
		}
	}
	c.rep.CatchUp += int64(len(gone))
	// Out with the target's other rows (an earlier copy's, or the new
	// schema's defaults). Removing messages drops body references: the
	// counts are raised first so no body goes with them (fixRefs sets
	// them right after).
	if _, err := dtx.ExecContext(ctx, "UPDATE bodies SET refs = refs + 1000000000"); err != nil {
		return err
	}
	for i := len(c.tables) - 1; i >= 0; i-- {
		if _, fam := bodyFamily[c.tables[i].name]; !fam {
			if _, err := dtx.ExecContext(ctx, "DELETE FROM "+c.tables[i].name); err != nil {
				return err
			}
		}
	}
	for _, t := range c.tables {
		if _, fam := bodyFamily[t.name]; fam {
			continue
		}
		if err := copyWhole(ctx, stx, dtx, t); err != nil {
			return err
		}
	}
	if err := c.fixRefs(ctx, stx, dtx); err != nil {
		return err
	}
	if err := c.compareCounts(ctx, stx, dtx); err != nil {
		return err
	}
	if err := c.setSequences(ctx, stx, dtx); err != nil {
		return err
	}
	_, err = dtx.ExecContext(ctx, `INSERT INTO health_state(name, value, at) VALUES(?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, at = excluded.at`, copyMark, c.src.sourceName(), time.Now().Unix())
	return err
}

// copyWhole copies every row of t, a batch at a time.
func copyWhole(ctx context.Context, stx, dtx *sql.Tx, t copyTable) error {
	rows, err := stx.QueryContext(ctx, "SELECT "+quoteCols(t.cols)+" FROM "+t.name)
	if err != nil {
		return fmt.Errorf("reading %s: %w", t.name, err)
	}
	defer rows.Close()
	var batch [][]any
	for rows.Next() {
		r, err := scanRow(rows, len(t.cols))
		if err != nil {
			return err
		}
		if batch = append(batch, r); len(batch) == 1024 {
			if err := insertRows(ctx, dtx, t, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return insertRows(ctx, dtx, t, batch)
}

// missingIDs returns the bodies up to maxBody the target has and the
// source no longer has.
func missingIDs(ctx context.Context, stx, dtx *sql.Tx, maxBody int64) ([]int64, error) {
	have, err := intColumn(ctx, stx, "SELECT id FROM bodies WHERE id <= ? ORDER BY id", maxBody)
	if err != nil {
		return nil, err
	}
	copied, err := intColumn(ctx, dtx, "SELECT id FROM bodies WHERE id <= ? ORDER BY id", maxBody)
	if err != nil {
		return nil, err
	}
	var gone []int64
	for _, id := range copied {
		if _, found := slices.BinarySearch(have, id); !found {
			gone = append(gone, id)
		}
	}
	return gone, nil
}

func intColumn(ctx context.Context, q queryer, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// fixRefs sets the reference counts the triggers did not make (a body
// referenced from a table without a counting trigger).
func (c *copier) fixRefs(ctx context.Context, stx, dtx *sql.Tx) error {
	want, err := refsByID(ctx, stx)
	if err != nil {
		return err
	}
	got, err := refsByID(ctx, dtx)
	if err != nil {
		return err
	}
	for id, n := range want {
		if got[id] != n {
			if _, err := dtx.ExecContext(ctx, "UPDATE bodies SET refs = ? WHERE id = ?", n, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func refsByID(ctx context.Context, q queryer) (map[int64]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, refs FROM bodies")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// compareCounts checks that every copied table has as many rows on both
// sides, and records them.
func (c *copier) compareCounts(ctx context.Context, stx, dtx *sql.Tx) error {
	for _, t := range c.tables {
		var s, d int64
		if err := stx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&s); err != nil {
			return err
		}
		if err := dtx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&d); err != nil {
			return err
		}
		if s != d {
			return fmt.Errorf("copy: table %s has %d rows in the source, %d in the target", t.name, s, d)
		}
		c.rep.Tables = append(c.rep.Tables, CopiedTable{Name: t.name, Rows: s})
	}
	return nil
}

// setSequences moves the target's id generators past every id the
// source used: PostgreSQL's identity sequences, SQLite's AUTOINCREMENT
// counters (sqlite_sequence).
func (c *copier) setSequences(ctx context.Context, stx, dtx *sql.Tx) error {
	for _, t := range c.tables {
		if t.index("id") < 0 {
			continue
		}
		var top int64
		if err := dtx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM "+t.name).Scan(&top); err != nil {
			return err
		}
		used, err := usedID(ctx, c.src.pg, stx, t.name)
		if err != nil {
			return err
		}
		top = max(top, used)
		if c.dst.pg {
			var seq sql.NullString
			if err := dtx.QueryRowContext(ctx, "SELECT pg_get_serial_sequence(?, 'id')", t.name).Scan(&seq); err != nil {
				return err
			}
			if seq.Valid {
				if _, err := dtx.ExecContext(ctx, "SELECT setval(?, ?, false)", seq.String, top+1); err != nil {
					return err
				}
			}
		} else if top > 0 {
			if _, err := dtx.ExecContext(ctx, "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", top, t.name); err != nil {
				return err
			}
		}
	}
	return nil
}

// usedID is the highest id the source's generator of table handed out
// (0 when it has none or cannot tell).
func usedID(ctx context.Context, pg bool, stx *sql.Tx, table string) (int64, error) {
	var v sql.NullInt64
	var err error
	if pg {
		var seq sql.NullString
		if err = stx.QueryRowContext(ctx, "SELECT pg_get_serial_sequence(?, 'id')", table).Scan(&seq); err != nil || !seq.Valid {
			return 0, err
		}
		err = stx.QueryRowContext(ctx, "SELECT last_value FROM "+seq.String).Scan(&v)
	} else {
		err = stx.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = ?", table).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	}
	return v.Int64, err
}

// verifyBodies compares every copied body's SHA-256 with the source's
// (a body the source deleted since is skipped).
func (c *copier) verifyBodies(ctx context.Context) error {
	ids, err := intColumn(ctx, c.dst.rdb, "SELECT id FROM bodies ORDER BY id")
	if err != nil {
		return err
	}
	for _, id := range ids {
		want, err := bodySum(ctx, c.src, id)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("verifying body %d in the source: %w", id, err)
		}
		got, err := bodySum(ctx, c.dst, id)
		if err != nil {
			return fmt.Errorf("verifying body %d in the target: %w", id, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("copy: body %d differs in the target", id)
		}
		c.rep.Verified++
	}
	return nil
}

func bodySum(ctx context.Context, s *Store, id int64) ([]byte, error) {
	r, _, err := s.OpenBody(ctx, id)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	_, err = io.Copy(h, r)
	if err = errors.Join(err, r.Close()); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
