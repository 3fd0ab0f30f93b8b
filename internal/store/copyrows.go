package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// copier carries a CopyBox's state (copy.go).
type copier struct {
	src, dst *Store
	tables   []copyTable
	rep      *CopyReport
}

func (c *copier) table(name string) copyTable {
	for _, t := range c.tables {
		if t.name == name {
			return t
		}
	}
	return copyTable{}
}

// bodyBatch is how many body rows go in one batch (at most
// FileBodyMin bytes each when inline).
const bodyBatch = 64

// bodiesUpTo copies, outside the pause, the bodies with ids in (lo, hi],
// one target transaction per batch.
func (c *copier) bodiesUpTo(ctx context.Context, q queryer, lo, hi int64) error {
	for lo < hi {
		tx, err := c.dst.wdb.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		next, err := c.bodyBatch(ctx, q, tx, lo, hi)
		if err == nil {
			err = tx.Commit()
		} else {
			err = errors.Join(err, tx.Rollback())
		}
		if err != nil {
			return err
		}
		lo = next
	}
	return nil
}

// bodyBatch copies up to bodyBatch bodies with ids in (lo, hi], with
// their headers and search rows, and returns the last id it looked at.
func (c *copier) bodyBatch(ctx context.Context, q queryer, dx execer, lo, hi int64) (int64, error) {
	t := c.table("bodies")
	rows, err := readRows(ctx, q, t, "WHERE id > ? AND id <= ? ORDER BY id LIMIT ?", lo, hi, bodyBatch)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return hi, nil
	}
	last := rows[len(rows)-1][t.index("id")].(int64)
	var keep [][]any
	for _, r := range rows {
		ok, err := c.prepareBodyRow(ctx, t, dx, r)
		if err != nil {
			return 0, err
		}
		if ok {
			keep = append(keep, r)
		}
	}
	if err := insertRows(ctx, dx, t, keep); err != nil {
		return 0, err
	}
	for _, r := range keep {
		id := r[t.index("id")].(int64)
		if r[t.index("file")] == nil {
			text := bodyText(asBytes(r[t.index("data")]))
			if c.dst.pg {
				text = pgText(text)
			}
			if err := insertBodyText(ctx, dx.ExecContext, id, text); err != nil {
				return 0, err
			}
		}
	}
	first := rows[0][t.index("id")].(int64)
	for _, name := range []string{"headers", "header_search"} {
		ft := c.table(name)
		fr, err := readRows(ctx, q, ft, "WHERE body_id >= ? AND body_id <= ? ORDER BY body_id", first, last)
		if err != nil {
			return 0, err
		}
		fr = keepBodies(fr, ft.index("body_id"), keep, t.index("id"))
		if err := insertRows(ctx, dx, ft, fr); err != nil {
			return 0, err
		}
	}
	c.rep.Bodies += int64(len(keep))
	return last, nil
}

// keepBodies drops the rows of bodies not copied (gone from the source
// meanwhile).
func keepBodies(rows [][]any, col int, bodies [][]any, idCol int) [][]any {
	ids := map[int64]bool{}
	for _, b := range bodies {
		ids[b[idCol].(int64)] = true
	}
	var out [][]any
	for _, r := range rows {
		if ids[r[col].(int64)] {
			out = append(out, r)
		}
	}
	return out
}

// prepareBodyRow makes a source bodies row the target's: no references
// yet (the copied messages and queue rows count them again), and a
// large body's bytes moved into the target's body store under its new
// name. It reports false for a body whose file is gone (deleted since).
func (c *copier) prepareBodyRow(ctx context.Context, t copyTable, dx execer, r []any) (bool, error) {
	r[t.index("refs")] = int64(0)
	fi := t.index("file")
	if r[fi] == nil {
		return true, nil
	}
	name := asString(r[fi])
	size := r[t.index("size")].(int64)
	in, err := c.src.openStored(ctx, name, size)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	w, err := c.dst.NewBodyWriter()
	if err != nil {
		return false, errors.Join(err, in.Close())
	}
	n, err := io.Copy(w, in)
	if err = errors.Join(err, in.Close()); err == nil && n != size {
		err = fmt.Errorf("body %s: %d bytes, want %d", name, n, size)
	}
	if err != nil {
		w.Abort()
		return false, err
	}
	sb, err := w.Finish()
	if err != nil {
		return false, err
	}
	r[fi] = sb.b.file
	r[t.index("data")] = []byte{}
	if sb.b.pin != "" {
		// The row commits with this transaction; so does the pin's end.
		if _, err := dx.ExecContext(ctx, "DELETE FROM blob_pins WHERE name = ? AND token = ?", sb.b.file, sb.b.pin); err != nil {
			return false, err
		}
	}
	c.rep.Large++
	c.rep.LargeSize += size
	return true, nil
}

// openStored opens a large body by its bodies.file name: a shared blob
// or a file of this node.
func (s *Store) openStored(ctx context.Context, name string, size int64) (io.ReadCloser, error) {
	if r, ok, err := s.openBlob(ctx, name, size); ok {
		return r, err
	}
	return os.Open(s.bodyPath(name))
}

// readRows reads the rows of t selected by where (with args), all
// columns of the plan in order.
func readRows(ctx context.Context, q queryer, t copyTable, where string, args ...any) ([][]any, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+quoteCols(t.cols)+" FROM "+t.name+" "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", t.name, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		r, err := scanRow(rows, len(t.cols))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRow(rows *sql.Rows, n int) ([]any, error) {
	r := make([]any, n)
	ptrs := make([]any, n)
	for i := range r {
		ptrs[i] = &r[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	return r, nil
}

// insertRows writes rows into t, many per statement.
func insertRows(ctx context.Context, dx execer, t copyTable, rows [][]any) error {
	per := max(1, min(256, 20000/len(t.cols)))
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	for len(rows) > 0 {
		n := min(per, len(rows))
		args := make([]any, 0, n*len(t.cols))
		for _, r := range rows[:n] {
			for i, v := range r {
				args = append(args, dstValue(v, t.types[i], t.notNull[i]))
			}
		}
		q := "INSERT INTO " + t.name + "(" + quoteCols(t.cols) + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
		if _, err := dx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("writing %s: %w", t.name, err)
		}
		rows = rows[n:]
	}
	return nil
}

func quoteCols(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `"` + c + `"`
	}
	return strings.Join(q, ", ")
}

// dstValue converts a value read from one engine for a column of the
// other: SQLite may hand a BLOB column's value as text and the other
// way round, PostgreSQL's bytea and text columns want their own type,
// and SQLite reads an empty BLOB as NULL.
func dstValue(v any, typ string, notNull bool) any {
	switch x := v.(type) {
	case nil:
		if notNull && (typ == "bytea" || typ == "blob") {
			return []byte{}
		}
	case []byte:
		if typ == "text" || strings.HasPrefix(typ, "character") {
			return string(x)
		}
		if x == nil && notNull {
			return []byte{}
		}
	case string:
		if typ == "bytea" || typ == "blob" {
			return []byte(x)
		}
	}
	return v
}

func asBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}

func asString(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}
