package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Copying a box between engines (`boxmail store copy`, issue 23): every
// table of a SQLite store into an empty PostgreSQL store, or back.
//
// The copy runs while the source keeps serving. First, without a lock,
// the bodies (the bulk: rows, headers, search rows, and the large
// bodies' bytes, which go from files into the target's body store)
// up to the newest body id seen at the start. Then, during a short
// pause in which the source's writers wait (SQLite: an immediate
// transaction holds its write lock; PostgreSQL: SHARE locks on the
// copied tables), the bodies added since, the removal of those deleted
// since, and every other table whole, in one target transaction. Rows
// keep their ids, so mailboxes keep UIDVALIDITY, UIDNEXT and MODSEQ and
// messages their UIDs: an IMAP client sees the same mailbox. Identity
// sequences are set past the copied ids. Last, the row counts (taken
// in the pause) and every body's SHA-256 are compared.
//
// Mail the source accepts after the pause is not in the target. So the
// switch is: copy while serving (the bulk), stop boxmail, copy again
// with CopyOptions.Again (only the catch-up: seconds), switch
// store_url, start. A target remembers its source (health_state row
// copyMark), and Again refuses a target filled from another one.

// CopyReport is what CopyBox did.
type CopyReport struct {
	Tables    []CopiedTable
	Bodies    int64         // body rows copied
	Large     int64         // of them, large bodies moved into the target's body store
	LargeSize int64         // their bytes
	CatchUp   int64         // body rows added or removed in the pause
	Pause     time.Duration // how long the source's writers waited
	Verified  int64         // bodies whose SHA-256 matched after the copy
	Target    string        // the target's body store
}

// CopiedTable is one table's row count, equal on both sides in the pause.
type CopiedTable struct {
	Name string
	Rows int64
}

// ErrTargetNotEmpty is CopyBox's refusal of a target that holds a box.
var ErrTargetNotEmpty = errors.New("the target store is not empty")

// copySkip are the tables CopyBox leaves alone: the target's own version
// and change counter, the body file bookkeeping of the source's node,
// the target's shared body store (filled through its blob writer), and
// SQLite's FTS5 shadow tables (body_text is rebuilt from the bodies).
var copySkip = map[string]bool{"schema_version": true, "generation": true, "dead_files": true,
	"blob_pins": true, "body_chunks": true, "body_text": true, "sqlite_sequence": true}

// bodyFamily are the tables with one row per body, keyed by its id,
// copied before the pause up to the newest id seen then.
var bodyFamily = map[string]string{"bodies": "id", "headers": "body_id", "header_search": "body_id"}

// CopyOptions tune CopyBox.
type CopyOptions struct {
	// Progress, if set, is told what happens.
	Progress func(string)
	// Again brings a target an earlier CopyBox filled from the same source
	// up to date (only what changed since), instead of refusing it.
	Again bool
}

// copyMark is the health_state row naming a target's source.
const copyMark = "store-copy-source"

// CopyBox copies src into dst, which must be empty (or, with Again, an
// earlier copy of src) and on the other engine.
func CopyBox(ctx context.Context, src, dst *Store, opts CopyOptions) (*CopyReport, error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if src.pg == dst.pg {
		return nil, fmt.Errorf("copy: %w: source and target are on the same engine", ErrInvalid)
	}
	var err error
	if opts.Again {
		err = checkMark(ctx, src, dst)
	} else {
		err = checkEmpty(ctx, dst)
	}
	if err != nil {
		return nil, err
	}
	tables, err := copyPlan(ctx, src, dst)
	if err != nil {
		return nil, err
	}
	rep := &CopyReport{Target: dst.BodyStore()}
	c := &copier{src: src, dst: dst, tables: tables, rep: rep}
	var maxBody int64
	if opts.Again {
		if err := dst.rdb.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM bodies").Scan(&maxBody); err != nil {
			return nil, err
		}
		progress(fmt.Sprintf("the target has the bodies up to id %d; catching up", maxBody))
	} else {
		if err := src.rdb.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM bodies").Scan(&maxBody); err != nil {
			return nil, err
		}
		if maxBody, err = c.bodiesWhileServing(ctx, progress); err != nil {
			return nil, err
		}
	}
	progress(fmt.Sprintf("%d bodies copied (%d large, %d bytes); pausing the source's writers for the rest", rep.Bodies, rep.Large, rep.LargeSize))
	if err := c.final(ctx, maxBody); err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("the source's writers waited %s; verifying the bodies", rep.Pause.Round(time.Millisecond)))
	if err := c.verifyBodies(ctx); err != nil {
		return rep, err
	}
	return rep, nil
}

// bodiesWhileServing copies the bodies without pausing the source, in
// rounds until what came in meanwhile is little, so the pause copies
// few. It returns the last body id copied.
func (c *copier) bodiesWhileServing(ctx context.Context, progress func(string)) (int64, error) {
	var done, last int64
	for round := 0; ; round++ {
		var top int64
		if err := c.src.rdb.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM bodies").Scan(&top); err != nil {
			return 0, err
		}
		// Stop when little is left, or when mail comes in about as fast
		// as the rounds copy it.
		delta := top - done
		if round > 0 && (delta <= bodyBatch || delta > last/2 || round == 4) {
			return done, nil
		}
		last = delta
		progress(fmt.Sprintf("copying the bodies up to id %d while the source serves", top))
		if err := c.bodiesUpTo(ctx, c.src.rdb, done, top); err != nil {
			return 0, err
		}
		done = top
	}
}

// sourceName names a store for its copies' mark.
func (s *Store) sourceName() string {
	if s.pg {
		return RedactURL(s.url)
	}
	return s.path
}

// checkMark refuses a target that is not an earlier copy of src.
func checkMark(ctx context.Context, src, dst *Store) error {
	var v string
	err := dst.rdb.QueryRowContext(ctx, "SELECT value FROM health_state WHERE name = ?", copyMark).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && v != src.sourceName()) {
		return fmt.Errorf("%w: it is not a copy of this box (copy into a new, empty database first)", ErrTargetNotEmpty)
	}
	return err
}

// checkEmpty refuses a target that holds domains, accounts or mail.
func checkEmpty(ctx context.Context, dst *Store) error {
	for _, t := range []string{"domains", "accounts", "bodies", "messages", "queue"} {
		var n int64
		if err := dst.rdb.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: it has %d rows in %s (copy into a new, empty database)", ErrTargetNotEmpty, n, t)
		}
	}
	return nil
}

// copyTable is a table CopyBox copies, with the columns both sides have.
type copyTable struct {
	name string
	cols []string
	// types are the target's column types, lower case, and notNull
	// whether they refuse NULL (dstValue).
	types   []string
	notNull []bool
}

// copyPlan lists the tables to copy in foreign-key order (a table after
// those it references), read from the SQLite side's schema.
func copyPlan(ctx context.Context, src, dst *Store) ([]copyTable, error) {
	lite := src
	if src.pg {
		lite = dst
	}
	srcCols, err := tableColumns(ctx, src)
	if err != nil {
		return nil, err
	}
	dstList, err := tableColumns(ctx, dst)
	if err != nil {
		return nil, err
	}
	dstCols := map[string]map[string]column{}
	for t, cs := range dstList {
		dstCols[t] = map[string]column{}
		for _, c := range cs {
			dstCols[t][c.name] = c
		}
	}
	var names []string
	for n := range srcCols {
		if copySkip[n] || strings.HasPrefix(n, "body_text_") {
			continue
		}
		if _, ok := dstCols[n]; !ok {
			return nil, fmt.Errorf("copy: table %s is missing from the target (its schema is older?)", n)
		}
		names = append(names, n)
	}
	deps := map[string][]string{}
	for _, n := range names {
		rows, err := lite.rdb.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list(?)`, n)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var ref string
			if err := rows.Scan(&ref); err != nil {
				rows.Close()
				return nil, err
			}
			if ref != n {
				deps[n] = append(deps[n], ref)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var plan []copyTable
	for _, n := range topoOrder(names, deps) {
		t := copyTable{name: n}
		for _, c := range srcCols[n] {
			if dc, ok := dstCols[n][c.name]; ok {
				t.cols = append(t.cols, c.name)
				t.types = append(t.types, dc.typ)
				t.notNull = append(t.notNull, dc.notNull)
			}
		}
		plan = append(plan, t)
	}
	return plan, nil
}

// topoOrder sorts names so that each comes after its dependencies
// (alphabetical among equals, so the order is stable).
func topoOrder(names []string, deps map[string][]string) []string {
	sort.Strings(names)
	done := map[string]bool{}
	var out []string
	var visit func(string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		for _, d := range deps[n] {
			if slices.Contains(names, d) {
				visit(d)
			}
		}
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	return out
}

type column struct {
	name, typ string
	notNull   bool
}

// tableColumns returns each table's columns in order (with the type as
// declared, lower case) from the store's own catalogue.
func tableColumns(ctx context.Context, s *Store) (map[string][]column, error) {
	q := `SELECT m.name, p.name, lower(p.type), p."notnull" <> 0 OR p.pk > 0 FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`
	if s.pg {
		q = `SELECT table_name, column_name, lower(data_type), CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
	}
	rows, err := s.rdb.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]column{}
	for rows.Next() {
		var t string
		var c column
		if err := rows.Scan(&t, &c.name, &c.typ, &c.notNull); err != nil {
			return nil, err
		}
		out[t] = append(out[t], c)
	}
	return out, rows.Err()
}

// index returns the named column's place in t.cols, or -1.
func (t copyTable) index(col string) int { return slices.Index(t.cols, col) }

// queryer is a *sql.DB or *sql.Tx to read from.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// execer is a *sql.DB or *sql.Tx to write to.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}
