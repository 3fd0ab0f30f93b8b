package store

// The engine seam (issue 23). The store's SQL is written once, in the
// subset SQLite and PostgreSQL both accept wherever there is one
// (ON CONFLICT ... DO UPDATE, RETURNING, upserts instead of INSERT OR
// REPLACE, CASE instead of SQLite's two-argument max/min). What is left
// differs only in spelling, and PostgreSQL's connections rewrite it
// once per statement text, cached, in pgRewrite:
//
//   - placeholders: ? and ?N become $n and $N;
//   - group_concat(x, sep) becomes string_agg((x)::text, sep);
//   - json_group_array( becomes json_agg( (NULL, not [], over no rows:
//     the readers take NULL as empty);
//   - SQLite's index hint INDEXED BY name is dropped.
//
// The rest of SQLite's spelling that the store uses exists in
// PostgreSQL as functions of the same name (pgschema.go): instr(),
// two-argument max(), sum() over comparisons.
//
// SQLite never sees a rewrite: the engine is chosen at Open (Options.URL
// empty: SQLite), so its connections are the modernc driver's own and no
// statement of its hot paths pays for PostgreSQL. Where a statement
// cannot be shared (the FTS5 body text search, PRAGMAs, VACUUM INTO), the
// Store's pg field picks the PostgreSQL variant at the one place it is
// run.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// CheckURL checks a store_url: "" (the embedded SQLite store) or a
// postgres:// or postgresql:// URL. Its errors never hold the password.
func CheckURL(u string) error {
	if u == "" {
		return nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return errors.New("not a URL: want postgres://USER:PASS@HOST:PORT/DB")
	}
	if p.Scheme != "postgres" && p.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q: want postgres://USER:PASS@HOST:PORT/DB (or empty for the embedded SQLite store)", p.Scheme)
	}
	if p.Host == "" {
		return errors.New("no host: want postgres://USER:PASS@HOST:PORT/DB")
	}
	if strings.Trim(p.Path, "/") == "" {
		return errors.New("no database name: want postgres://USER:PASS@HOST:PORT/DB")
	}
	return nil
}

// RedactURL is u with its password replaced by "xxxxx", for logs and
// error messages.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable store URL)"
	}
	return p.Redacted()
}

// openPG opens a pool on the PostgreSQL database at rawURL whose
// connections rewrite the store's SQL (pgRewrite). readOnly pools run
// every transaction read-only at REPEATABLE READ, so a read that spans
// several statements sees one snapshot, as SQLite's read transactions do.
func openPG(rawURL string, readOnly bool) (*sql.DB, error) {
	return openPGCounted(rawURL, readOnly, nil)
}

// openPGCounted is openPG whose statements count (nil: uncounted).
func openPGCounted(rawURL string, readOnly bool, count *statementCount) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's parse errors quote the URL, password included.
		return nil, fmt.Errorf("store URL %s: cannot be parsed", RedactURL(rawURL))
	}
	if count != nil {
		cfg.Tracer = count
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
		cfg.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	}
	return sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)}), nil
}

// statementCount counts the statements a PostgreSQL pool sends, each
// one round trip (BEGIN, SAVEPOINT and COMMIT included): the tests'
// measure of what a delivery or an IMAP command costs (Options.count).
type statementCount struct{ n atomic.Int64 }

func (c *statementCount) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCount) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *statementCount) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCount) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// A batch (pgConn's pipeline) is one round trip, whatever it holds.
func (c *statementCount) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCount) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *statementCount) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// pgStatements caches pgRewrite by statement text: the store's queries
// are constants, so the cache holds a few hundred entries.
var pgStatements sync.Map // string → string

func pgSQL(q string) string {
	if r, ok := pgStatements.Load(q); ok {
		return r.(string)
	}
	r := pgRewrite(q)
	pgStatements.Store(q, r)
	return r
}

// pgRewrite turns the store's SQL into PostgreSQL's: ? → $n, ?N → $N,
// group_concat(x[, sep]) → string_agg((x)::text, sep). Quoted strings,
// quoted identifiers and -- comments are copied unchanged.
func pgRewrite(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	// parens: for each open parenthesis, whether it opened a
	// group_concat and whether its first argument has been closed.
	type paren struct{ concat, closed bool }
	var parens []paren
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteString("$" + q[i+1:j])
			} else {
				n++
				fmt.Fprintf(&b, "$%d", n)
			}
			i = j - 1
		case (c == 'g' || c == 'G') && strings.HasPrefix(strings.ToLower(q[i:]), "group_concat(") && (i == 0 || !isIdent(q[i-1])):
			b.WriteString("string_agg((")
			parens = append(parens, paren{concat: true})
			i += len("group_concat(") - 1
		case (c == 'j' || c == 'J') && strings.HasPrefix(strings.ToLower(q[i:]), "json_group_array(") && (i == 0 || !isIdent(q[i-1])):
			b.WriteString("json_agg(")
			parens = append(parens, paren{})
			i += len("json_group_array(") - 1
		case (c == 'I' || c == 'i') && strings.HasPrefix(strings.ToUpper(q[i:]), "INDEXED BY ") && (i == 0 || !isIdent(q[i-1])):
			// SQLite's index hint: PostgreSQL's planner picks.
			j := i + len("INDEXED BY ")
			for j < len(q) && isIdent(q[j]) {
				j++
			}
			for j < len(q) && q[j] == ' ' {
				j++
			}
			i = j - 1
		case c == '(':
			parens = append(parens, paren{})
			b.WriteByte(c)
		case c == ',' && len(parens) > 0 && parens[len(parens)-1].concat && !parens[len(parens)-1].closed:
			parens[len(parens)-1].closed = true
			b.WriteString(")::text,")
		case c == ')' && len(parens) > 0:
			p := parens[len(parens)-1]
			parens = parens[:len(parens)-1]
			if p.concat && !p.closed {
				b.WriteString(")::text, ','")
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// pgRetryable reports a PostgreSQL serialization failure (40001) or
// deadlock (40P01): the transaction was rolled back and may be run again.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// pgUnique reports a PostgreSQL unique violation (23505).
func pgUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// maxRetries bounds how often a write is run again after a
// serialization failure or a deadlock.
const maxRetries = 5

// retryPause is the random pause before a retry: a deadlock's other
// party gets to finish.
func retryPause(try int) time.Duration {
	return time.Duration(1+rand.IntN(10<<try)) * time.Millisecond
}

// pgConnector makes the connections of a PostgreSQL pool: pgx's own,
// with the store's SQL rewritten (pgRewrite) and boolean arguments sent
// as 0 and 1 (the schema's flags are integers, as in SQLite).
type pgConnector struct{ inner driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{c: cn.(*stdlib.Conn)}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.inner.Driver() }

// pgConn is a pgx connection that rewrites each statement's text.
//
// It also saves round trips in transactions. A transaction's BEGIN is not
// sent alone: BeginTx only notes it, and it goes with the transaction's
// first statement, in one pipeline (pgx's batch: one write, one read).
// The writer defers its savepoint statements the same way (deferStmt),
// and has its last statement carry the COMMIT (commitWith). A
// transaction that ran nothing costs nothing.
type pgConn struct {
	c *stdlib.Conn
	// pending holds the statements (without arguments) to send before the
	// next one: the BEGIN of a transaction begun lazily, deferred
	// savepoint statements.
	pending []string
	// inTx: a transaction is open; unsent: its BEGIN is still in pending.
	inTx, unsent bool
	// committed: the open transaction was committed by a statement run
	// with commitWith; commitErr is that COMMIT's outcome.
	committed bool
	commitErr error
	// then: the read sent after that COMMIT (commitThen), until finish
	// has handed it its rows.
	then *thenRead
}

var (
	_ driver.ConnPrepareContext = (*pgConn)(nil)
	_ driver.ConnBeginTx        = (*pgConn)(nil)
	_ driver.ExecerContext      = (*pgConn)(nil)
	_ driver.QueryerContext     = (*pgConn)(nil)
	_ driver.NamedValueChecker  = (*pgConn)(nil)
	_ driver.Pinger             = (*pgConn)(nil)
	_ driver.SessionResetter    = (*pgConn)(nil)
	_ driver.Validator          = (*pgConn)(nil)
)

// Context marks of the writer's statements on PostgreSQL (pgConn).
type (
	deferKey  struct{}
	commitKey struct{}
)

// deferStmt marks ctx so that a statement without arguments run with it
// in a transaction is sent with the next one instead of alone (its error,
// if any, is that statement's). Only for statements whose result nobody
// reads: SAVEPOINT and RELEASE.
func deferStmt(ctx context.Context) context.Context { return context.WithValue(ctx, deferKey{}, true) }

// commitWith marks ctx so that the statement run with it in a
// transaction is followed by COMMIT in the same pipeline; the Tx's Commit
// then returns that COMMIT's outcome. It must be the transaction's last
// statement.
func commitWith(ctx context.Context) context.Context {
	return context.WithValue(ctx, commitKey{}, true)
}

// thenRead is a read sent in the pipeline right after a COMMIT
// (commitThen): q with args, its rows handed to read once the COMMIT's
// result is in. err is the read's outcome (nil when it was not sent:
// the statement before it failed); sent tells whether it ran.
type thenRead struct {
	q    string
	args []any
	read func(pgx.Rows) error
	sent bool
	err  error
}

type thenKey struct{}

// commitThen is commitWith, and also sends t's read after the COMMIT in
// the same pipeline: a read that must see the state after the commit
// costs no round trip of its own. It runs outside the transaction (with
// a snapshot of its own), whether the COMMIT succeeded or not.
func commitThen(ctx context.Context, t *thenRead) context.Context {
	return context.WithValue(commitWith(ctx), thenKey{}, t)
}

func (p *pgConn) Prepare(q string) (driver.Stmt, error) {
	return p.PrepareContext(context.Background(), q)
}
func (p *pgConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	// A prepared statement runs on the inner connection, past pending.
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.c.PrepareContext(ctx, pgSQL(q))
}
func (p *pgConn) Close() error { return p.c.Close() }
func (p *pgConn) Begin() (driver.Tx, error) {
	return p.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx begins a transaction lazily: its BEGIN goes with the first
// statement.
func (p *pgConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	begin := "begin"
	switch sql.IsolationLevel(o.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		begin += " isolation level read uncommitted"
	case sql.LevelReadCommitted:
		begin += " isolation level read committed"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		begin += " isolation level repeatable read"
	case sql.LevelSerializable:
		begin += " isolation level serializable"
	default:
		return nil, fmt.Errorf("unsupported isolation: %v", o.Isolation)
	}
	if o.ReadOnly {
		begin += " read only"
	}
	if p.c.Conn().IsClosed() {
		return nil, driver.ErrBadConn
	}
	p.pending = append(p.pending[:0], begin)
	p.inTx, p.unsent, p.committed, p.commitErr = true, true, false, nil
	return pgTx{p}, nil
}

// pgTx is a transaction of pgConn.
type pgTx struct{ p *pgConn }

func (t pgTx) Commit() error {
	p := t.p
	p.pending, p.inTx = p.pending[:0], false // savepoint statements: COMMIT ends them
	switch {
	case p.committed:
		err := p.commitErr
		p.committed, p.commitErr = false, nil
		return err
	case p.unsent:
		p.unsent = false
		return nil
	}
	tag, err := p.c.Conn().Exec(context.Background(), "commit")
	if err == nil && tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return err
}

func (t pgTx) Rollback() error {
	p := t.p
	p.pending, p.inTx = p.pending[:0], false
	if p.unsent || p.committed {
		p.unsent, p.committed, p.commitErr = false, false, nil
		return nil
	}
	_, err := p.c.Conn().Exec(context.Background(), "rollback")
	return err
}

// flush sends the pending statements alone (one round trip).
func (p *pgConn) flush(ctx context.Context) error {
	if len(p.pending) == 0 {
		return nil
	}
	q := strings.Join(p.pending, "; ")
	p.pending, p.unsent = p.pending[:0], false
	_, err := p.c.Conn().Exec(ctx, q)
	return err
}

func (p *pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	commit := ctx.Value(commitKey{}) != nil
	if p.inTx && len(args) == 0 && !commit && ctx.Value(deferKey{}) != nil {
		p.pending = append(p.pending, q)
		return driver.RowsAffected(0), nil
	}
	if len(p.pending) == 0 && !commit {
		return p.c.ExecContext(ctx, pgSQL(q), args)
	}
	if len(args) == 0 && !commit {
		// One simple query, the pending statements first.
		q = strings.Join(p.pending, "; ") + "; " + pgSQL(q)
		p.pending, p.unsent = p.pending[:0], false
		tag, err := p.c.Conn().Exec(ctx, q)
		return driver.RowsAffected(tag.RowsAffected()), err
	}
	br, err := p.send(ctx, q, args, commit)
	if err != nil {
		return nil, err
	}
	tag, err := br.Exec()
	return driver.RowsAffected(tag.RowsAffected()), p.finish(br, commit, err)
}

func (p *pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	commit := ctx.Value(commitKey{}) != nil
	if len(p.pending) == 0 && !commit {
		return p.c.QueryContext(ctx, pgSQL(q), args)
	}
	br, err := p.send(ctx, q, args, commit)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if !commit {
		if err != nil {
			return nil, errors.Join(err, br.Close())
		}
		return &pgRows{m: p.c.Conn().TypeMap(), rows: rows, br: br}, nil
	}
	// The COMMIT's result comes after all the rows: read them first.
	var out *pgRows
	if err == nil {
		out, err = bufferRows(p.c.Conn().TypeMap(), rows)
	}
	if err = p.finish(br, commit, err); err != nil {
		return nil, err
	}
	return out, nil
}

// send sends the pending statements, q with args and, with commit,
// COMMIT, as one pgx batch (one round trip), and reads the pending
// statements' results. The caller reads q's result from the batch, then
// calls finish.
func (p *pgConn) send(ctx context.Context, q string, args []driver.NamedValue, commit bool) (pgx.BatchResults, error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(p.pending)+2)}
	for _, s := range p.pending {
		b.Queue(s)
	}
	pending := len(p.pending)
	p.pending, p.unsent = p.pending[:0], false
	a := make([]any, len(args))
	for i, v := range args {
		a[i] = v.Value
	}
	b.Queue(pgSQL(q), a...)
	if commit {
		b.Queue("commit")
		if t, _ := ctx.Value(thenKey{}).(*thenRead); t != nil {
			b.Queue(pgSQL(t.q), t.args...)
			p.then = t
		}
	}
	br := p.c.Conn().SendBatch(ctx, b)
	for range pending {
		if _, err := br.Exec(); err != nil {
			return nil, errors.Join(err, br.Close())
		}
	}
	return br, nil
}

// finish takes the COMMIT's result (commit: it was sent; err: q failed,
// so it was not run) for Commit to report, and closes br.
func (p *pgConn) finish(br pgx.BatchResults, commit bool, err error) error {
	if err == nil && commit {
		// Committed or not, the transaction is over: Commit reports how.
		var tag pgconn.CommandTag
		tag, p.commitErr = br.Exec()
		if p.commitErr == nil && tag.String() == "ROLLBACK" {
			p.commitErr = pgx.ErrTxCommitRollback
		}
		p.committed = true
		if t := p.then; t != nil {
			t.sent = true
			rows, qerr := br.Query()
			if qerr == nil {
				qerr = t.read(rows)
				rows.Close()
				if qerr == nil {
					qerr = rows.Err()
				}
			}
			t.err = qerr
		}
	}
	p.then = nil
	if cerr := br.Close(); err == nil && !p.committed {
		err = cerr
	}
	return err
}

func (p *pgConn) Ping(ctx context.Context) error { return p.c.Ping(ctx) }
func (p *pgConn) ResetSession(ctx context.Context) error {
	p.pending, p.inTx, p.unsent, p.committed, p.commitErr, p.then = p.pending[:0], false, false, false, nil, nil
	return p.c.ResetSession(ctx)
}
func (p *pgConn) IsValid() bool { return !p.c.Conn().IsClosed() }
func (p *pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if v {
			nv.Value = int64(1)
		}
		return nil
	}
	return p.c.CheckNamedValue(nv)
}

// pgRows are the rows of a statement sent in a pipeline (pgConn), as
// database/sql values of the types stdlib's Rows give: integers as
// int64, bytea and JSON as []byte, booleans, floats, times; anything else
// as text. Streamed from the batch, or read whole (bufferRows) when a
// COMMIT follows them.
type pgRows struct {
	m    *pgtype.Map
	rows pgx.Rows         // nil when buffered
	br   pgx.BatchResults // closed with the rows
	cols []string
	vals [][]driver.Value // buffered rows
}

func bufferRows(m *pgtype.Map, rows pgx.Rows) (*pgRows, error) {
	defer rows.Close()
	r := &pgRows{m: m, rows: rows}
	r.Columns()
	for {
		row := make([]driver.Value, len(r.cols))
		if err := r.Next(row); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		r.vals = append(r.vals, row)
	}
	r.rows = nil
	return r, nil
}

func (r *pgRows) Columns() []string {
	if r.cols == nil && r.rows != nil {
		fds := r.rows.FieldDescriptions()
		r.cols = make([]string, len(fds))
		for i, fd := range fds {
			r.cols[i] = fd.Name
		}
	}
	return r.cols
}

func (r *pgRows) Close() error {
	r.vals = nil
	if r.rows == nil {
		return nil
	}
	r.rows.Close()
	err := r.rows.Err()
	r.rows = nil
	return errors.Join(err, r.br.Close())
}

func (r *pgRows) Next(dest []driver.Value) error {
	if r.rows == nil {
		if len(r.vals) == 0 {
			return io.EOF
		}
		copy(dest, r.vals[0])
		r.vals = r.vals[1:]
		return nil
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	fds := r.rows.FieldDescriptions()
	for i, src := range r.rows.RawValues() {
		dest[i] = nil
		if src == nil {
			continue
		}
		v, err := pgValue(r.m, fds[i], src)
		if err != nil {
			return fmt.Errorf("column %s: %w", fds[i].Name, err)
		}
		dest[i] = v
	}
	return nil
}

// pgValue decodes one column's value as stdlib's Rows do.
func pgValue(m *pgtype.Map, fd pgconn.FieldDescription, src []byte) (driver.Value, error) {
	switch fd.DataTypeOID {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		var d int64
		err := m.Scan(fd.DataTypeOID, fd.Format, src, &d)
		return d, err
	case pgtype.BoolOID:
		var d bool
		err := m.Scan(fd.DataTypeOID, fd.Format, src, &d)
		return d, err
	case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID:
		var d []byte
		err := m.Scan(fd.DataTypeOID, fd.Format, src, &d)
		return d, err
	case pgtype.Float4OID, pgtype.Float8OID:
		var d float64
		err := m.Scan(fd.DataTypeOID, fd.Format, src, &d)
		return d, err
	case pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.DateOID:
		var d time.Time
		err := m.Scan(fd.DataTypeOID, fd.Format, src, &d)
		return d, err
	}
	var d string
	err := m.Scan(fd.DataTypeOID, fd.Format, src, &d)
	return d, err
}

// insertID runs q, an INSERT of one row into a table with an id column,
// and returns the new row's id: SQLite's last insert rowid, PostgreSQL's
// RETURNING id (pgx has no LastInsertId).
func (t *Tx) insertID(ctx context.Context, q string, args ...any) (int64, error) {
	if t.s.pg {
		var id int64
		err := t.queryRow(ctx, q+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := t.exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// pgText is text as a PostgreSQL TEXT value holds it: valid UTF-8
// without NUL (SQLite keeps any bytes).
func pgText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
