// Package store is boxmail's only owner of persistent state: domains,
// accounts, aliases, mailboxes, messages, the outbound queue and password
// hashes. No other package issues SQL.
//
// # On-disk layout
//
// Everything lives in one SQLite database, DIR/boxmail.db, opened through
// the pure-Go modernc.org/sqlite driver in WAL mode with synchronous=FULL,
// so a committed transaction is on disk (the WAL is fsynced) before Commit
// returns. Message bodies are stored as BLOBs in the bodies table, one row
// per delivered message even when it lands in several mailboxes (messages
// rows reference it; a trigger deletes a body when its last reference goes).
// Large bodies (Options.FileBodyMin, 256 KiB by default) are kept in files
// under DIR/bodies instead, under random names the rows keep (bodyfile.go).
// Beside each body: its header section (headers table, for FETCH ENVELOPE
// and SEARCH) and the folded values of Subject/From/To/Cc/Bcc that header
// SEARCH compares (header_search, headersearch.go).
//
// Bodies in the database rather than in files beside it was decided by
// measurement (BenchmarkDeliverBlob vs BenchmarkDeliverFile in
// bench_test.go, 4 KiB messages, 8 concurrent writers, this 2-core VM):
// one WAL fsync per group-committed batch costs far less than a
// write+fsync+rename+dir-fsync per message file. See bench/results/ for the
// figures.
//
// # Writes and durability
//
// All writes of the running server go through one writer goroutine that
// runs each write function in its own SAVEPOINT inside a shared
// transaction, then commits the batch once (group commit): concurrent
// deliveries share one fsync instead of serialising on it. A write function
// that fails rolls back only its own savepoint. Write returns only after
// the batch's COMMIT has returned, so callers may then acknowledge (for
// SMTP: send 250).
//
// Admin commands from another process (boxmail user add ...) open the same
// database; SQLite's locking serialises them with the server and the
// server sees their changes on its next query, since nothing about
// domains, accounts or aliases is cached.
//
// # Change feed
//
// After a batch commits, the events its write functions recorded (new
// message, flags changed, expunged, mailbox list changed) are published to
// subscribers of the affected account (Subscribe). IMAP IDLE is built on it.
// Before publishing, the writer applies them to the in-memory flags of big
// mailboxes (flagcache.go); that copy and the SELECT cache are checked
// against the mailbox's UIDVALIDITY and MODSEQ on every use, so another
// process's changes are never missed.
//
// The same batch also writes its events as one row of the change_log
// table, so that they reach the subscribers of other processes (a
// `boxmail migrate import` beside `boxmail serve`, later other nodes): a
// Store with subscribers watches for other writers' commits and publishes
// their rows within about a quarter of a second, in commit order with its
// own (changelog.go).
//
// # PostgreSQL
//
// With Options.URL (store_url = postgres://...), the same API runs on a
// PostgreSQL database instead (issue 23, docs/postgresql.md): the same
// SQL, rewritten once per statement text for PostgreSQL (dialect.go), a
// schema created in one step at version 27 (pgschema.go), the same
// writer and group commit, with serialization failures and deadlocks
// retried per write. There a batch's first write runs without a
// savepoint (runFirst), and the connection sends BEGIN, savepoints and
// COMMIT with the statements next to them (pgConn). Body files stay
// under DIR.
//
// This package knows nothing of SMTP or IMAP wire formats; it stores bytes
// and metadata. The one piece of mail parsing it does is reading the
// header fields kept for SEARCH (FoldHeaderValue).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Errors the store returns that callers are expected to test for.
var (
	ErrNotFound       = errors.New("not found")
	ErrExists         = errors.New("already exists")
	ErrAuthFailed     = errors.New("authentication failed")
	ErrInvalid        = errors.New("invalid argument")
	ErrClosed         = errors.New("store closed")
	ErrMailboxInUse   = errors.New("mailbox has children or is special")
	ErrDomainNotEmpty = errors.New("still has accounts or aliases")
)

// Options configure a Store.
type Options struct {
	Logger *slog.Logger
	// MaxBatch bounds how many write functions share one commit (default 256).
	MaxBatch int
	// FileBodyMin is the size from which a message body is kept in a file
	// under DIR/bodies instead of in the database (bodyfile.go); 0 means
	// DefaultFileBodyMin, a negative value never.
	FileBodyMin int64
	// PasswordCost is the bcrypt cost of new password hashes, from
	// bcrypt.MinCost to bcrypt.MaxCost; 0 means DefaultPasswordCost.
	// Tests lower it to bcrypt.MinCost to run fast.
	PasswordCost int
	// OnCommit, if set, is told each group commit's batch size and how
	// long its COMMIT (the WAL fsync) took (metrics.StoreCommit).
	OnCommit func(batch int, commit time.Duration)
	// URL is the store_url of boxmail.conf: "" keeps the state in the
	// embedded SQLite database DIR/boxmail.db; postgres://USER:PASS@HOST:PORT/DB
	// keeps it in that PostgreSQL database (dialect.go, pgschema.go). Body
	// files (FileBodyMin) stay under DIR either way.
	URL string
	// BodyStore is the body_store of boxmail.conf: where a PostgreSQL
	// store keeps the bodies from FileBodyMin up so that every node reads
	// them (bodystore.go): "db" (the default), "file" (the data dir, one
	// node only) or s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX]. A
	// SQLite store accepts only "" or "file".
	BodyStore string

	// count, set by tests on PostgreSQL, counts the statements of both
	// pools (dialect.go).
	count *statementCount
}

// DefaultPasswordCost is the bcrypt cost of password hashes in production.
const DefaultPasswordCost = bcrypt.DefaultCost

// Store is a handle on the database. It is safe for concurrent use.
type Store struct {
	path   string
	dir    string
	log    *slog.Logger
	wdb    *sql.DB // single connection used by the writer goroutine
	rdb    *sql.DB // pool for reads
	reqs   chan *writeReq
	done   chan struct{}
	wg     sync.WaitGroup
	max    int
	feed   feed
	chlog  changeLog // changelog.go: the feed to and from other processes
	closed sync.Once

	commits, writes atomic.Int64 // for Stats

	// The writer's prepared statements, by query text; nil marks one that
	// failed to prepare. Used only by the writer goroutine.
	stmts     map[string]*sql.Stmt
	toPrepare map[string]struct{} // queries seen in the current batch
	// LookupRecipient's statement, prepared on SQLite (recipients.go).
	recipientRead preparedRead

	selects selectCache // imapsupport.go
	totp    totpKey     // totp.go: sealing key of the TOTP secrets
	flags   flagCache   // flagcache.go
	auth    authCache   // authcache.go: verified logins
	logins  loginNotes  // auth.go: logins recorded lately
	hist    history     // history.go: events not yet flushed, the free-space gate

	// Bodies from fileMin bytes on go to files (bodyfile.go); the writer
	// keeps the names of the files it removed until their dead_files
	// records are deleted.
	fileMin      int64
	removedFiles []string
	// On PostgreSQL, the shared body stores (bodystore.go): blobs is where
	// new large bodies go (nil: local files); dbBlobs reads "db:" names,
	// s3Blobs "s3:" names (nil without an S3 body_store); bdb is the pool
	// their writes and GC use, outside the writer.
	blobs   blobStore
	dbBlobs *chunkBlobs
	s3Blobs *s3Blobs
	bdb     *sql.DB
	url     string // Options.URL

	pwCost int // Options.PasswordCost
	dummy  struct {
		once sync.Once
		hash []byte
	} // admin.go: dummyHash
	// onCommit is Options.OnCommit (nil: none).
	onCommit func(batch int, commit time.Duration)
	// pg is set when the store runs on PostgreSQL (Options.URL), decided
	// at Open; the SQL that differs by engine asks it (dialect.go).
	pg bool
}

// Stats counts the writer's work since Open.
type Stats struct {
	Commits int64 // transactions committed (each one fsync of the WAL)
	Writes  int64 // write functions run in them
}

// Stats returns how many writes the group-commit writer has run and in how
// many commits.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load()}
}

// FileName is the database file inside the data directory.
const FileName = "boxmail.db"

// Open opens (creating if needed) the database in dir and runs pending
// schema migrations.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.FileBodyMin == 0 {
		opts.FileBodyMin = DefaultFileBodyMin
	}
	if opts.PasswordCost == 0 {
		opts.PasswordCost = DefaultPasswordCost
	}
	if opts.PasswordCost < bcrypt.MinCost || opts.PasswordCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("password cost %d: must be from %d to %d", opts.PasswordCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	open := openSQLite
	if opts.URL != "" {
		open = openPostgres
	}
	wdb, rdb, err := open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, dir: dir, fileMin: opts.FileBodyMin, pwCost: opts.PasswordCost, log: opts.Logger, wdb: wdb, rdb: rdb,
		reqs: make(chan *writeReq, 1024), done: make(chan struct{}), max: opts.MaxBatch, onCommit: opts.OnCommit,
		stmts: map[string]*sql.Stmt{}, toPrepare: map[string]struct{}{}, pg: opts.URL != ""}
	s.feed.subs = map[int64]map[*Subscription]struct{}{}
	s.chlog = newChangeLog(opts.URL)
	if err := s.openBlobStores(opts); err != nil {
		return nil, errors.Join(err, wdb.Close(), rdb.Close())
	}
	if err := s.sweepBodyFiles(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("body files: %w", err), wdb.Close(), rdb.Close(), s.closeBlobs())
	}
	s.checkTextIndex(ctx)
	s.wg.Add(1)
	go s.writer()
	if n, err := s.EncryptTOTPSecrets(ctx); err != nil { // totp.go
		s.log.Warn("sealing TOTP secrets stored in clear", "err", err)
	} else if n > 0 {
		s.log.Info("sealed TOTP secrets stored in clear", "accounts", n)
	}
	if err := s.importSRSKey(ctx); err != nil { // boxsecrets.go
		s.log.Warn("importing the SRS key file", "err", err)
	}
	if _, err := os.Stat(s.totpKeyPath()); err == nil { // totp.go: an older box's key has its check value recorded
		if err := s.CheckTOTPKey(ctx); err != nil { // serve refuses to start on it
			s.log.Warn("TOTP sealing key", "err", err)
		}
	}
	return s, nil
}

// openSQLite opens the writer's connection and the read pool of the
// SQLite database at path, backs it up if it needs migrating, and
// migrates it.
func openSQLite(ctx context.Context, path string, opts Options) (wdb, rdb *sql.DB, err error) {
	// busy_timeout comes first: the pragmas run in order when a connection
	// opens, and switching a new database to WAL while another process
	// (a second Open) holds it must wait, not fail with SQLITE_BUSY.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	wdb, err = sql.Open("sqlite", dsn)
	if err != nil {
		return nil, nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	rdsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
	rdb, err = sql.Open("sqlite", rdsn)
	if err != nil {
		return nil, nil, errors.Join(err, wdb.Close())
	}
	rdb.SetMaxOpenConns(4)
	rdb.SetMaxIdleConns(4)
	var backup string
	err = retryBusy(ctx, func() (err error) {
		backup, err = backupBeforeMigrating(ctx, wdb, path) // schemabackup.go
		return err
	})
	if err != nil {
		var newer *NewerSchemaError
		if errors.As(err, &newer) {
			return nil, nil, errors.Join(err, wdb.Close(), rdb.Close())
		}
		return nil, nil, errors.Join(fmt.Errorf("migrating %s: %w", path, err), wdb.Close(), rdb.Close())
	}
	if backup != "" {
		opts.Logger.Info("migrating the database schema; a copy of it from before is kept", "to", SchemaVersion(), "backup", backup)
	}
	if err := retryBusy(ctx, func() error { return migrate(ctx, wdb) }); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("migrating %s: %w", path, err), wdb.Close(), rdb.Close())
	}
	if err := os.Chmod(path, 0o600); err != nil {
		opts.Logger.Warn("chmod database", "err", err)
	}
	return wdb, rdb, nil
}

// openPostgres opens the writer's connection and the read pool of the
// PostgreSQL database at opts.URL and brings its schema up to date.
// Errors name the URL without its password.
func openPostgres(ctx context.Context, _ string, opts Options) (wdb, rdb *sql.DB, err error) {
	where := RedactURL(opts.URL)
	if err := CheckURL(opts.URL); err != nil {
		return nil, nil, fmt.Errorf("store URL %s: %w", where, err)
	}
	if wdb, err = openPGCounted(opts.URL, false, opts.count); err != nil {
		return nil, nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	if rdb, err = openPGCounted(opts.URL, true, opts.count); err != nil {
		return nil, nil, errors.Join(err, wdb.Close())
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	if err := wdb.PingContext(ctx); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("connecting to %s: %w", where, err), wdb.Close(), rdb.Close())
	}
	if err := migratePG(ctx, wdb); err != nil {
		var newer *NewerSchemaError
		if errors.As(err, &newer) {
			return nil, nil, errors.Join(err, wdb.Close(), rdb.Close())
		}
		return nil, nil, errors.Join(fmt.Errorf("migrating %s: %w", where, err), wdb.Close(), rdb.Close())
	}
	return wdb, rdb, nil
}

// Close stops the writer after the writes already submitted and closes
// the database.
func (s *Store) Close() error {
	s.closed.Do(func() { close(s.done) })
	s.wg.Wait()
	s.feed.closeAll()
	var errs []error
	for _, st := range s.stmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, s.recipientRead.close(), s.wdb.Close(), s.rdb.Close(), s.closeBlobs())
	return errors.Join(errs...)
}

// Tx is the handle a write function gets. It records change-feed events
// that are published only once the batch has committed.
type Tx struct {
	tx     *sql.Tx
	s      *Store
	events []Event
}

func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.s.txStmt(ctx, t.tx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

// execOne runs a statement that must change a row: none changed is
// ErrNotFound, wrapped with what ("alias x@y") unless what is empty.
func (t *Tx) execOne(ctx context.Context, what, q string, args ...any) error {
	res, err := t.exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if what == "" {
			return ErrNotFound
		}
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.s.txStmt(ctx, t.tx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// maxStmts bounds the writer's statement cache (queries are constants in
// this package; the bound only guards against generated ones).
const maxStmts = 256

// txStmt returns the writer's prepared statement for q in tx, or nil when
// q has no prepared statement yet. Parsing SQL was a quarter of the
// writer's CPU; a query seen in a batch is prepared right after it, when
// the single writer connection is free again (preparing on the *sql.DB
// while tx holds that connection would wait forever).
//
// On PostgreSQL it is never used: pgx keeps its own cache of prepared
// statements per connection (QueryExecModeCacheStatement, its default),
// so a statement is parsed once per connection either way, and a
// database/sql Stmt on top only added a Prepare round trip and the
// per-call Tx.StmtContext bookkeeping.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	if s == nil || s.pg {
		return nil
	}
	if st, ok := s.stmts[q]; ok {
		if st == nil {
			return nil
		}
		return tx.StmtContext(ctx, st)
	}
	if len(s.stmts)+len(s.toPrepare) < maxStmts {
		s.toPrepare[q] = struct{}{}
	}
	return nil
}

// prepareSeen prepares the queries the last batch ran unprepared. It runs
// in the writer goroutine between batches.
func (s *Store) prepareSeen() {
	for q := range s.toPrepare {
		delete(s.toPrepare, q)
		st, err := s.wdb.Prepare(q)
		if err != nil {
			s.log.Debug("not caching statement", "err", err)
			st = nil
		}
		s.stmts[q] = st
	}
}

func (s *Store) txExec(ctx context.Context, tx *sql.Tx, q string) (sql.Result, error) {
	return (&Tx{tx: tx, s: s}).exec(ctx, q)
}

func (t *Tx) emit(e Event) { t.events = append(t.events, e) }

type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *Tx) error
	done chan error
	tx   Tx
}

// write runs fn in the group-commit writer and returns once its effects are
// durably committed (nil) or rolled back (the error).
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	select {
	case s.reqs <- r:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once submitted, wait for the outcome even if ctx ends: the write may
	// already be committed and the caller must not believe otherwise.
	return classify(<-r.done)
}

// ErrDiskFull means the disk (or the filesystem of the data dir) is full:
// nothing was written; the caller should answer with a temporary error
// (SMTP 452 4.3.1) and try again later.
var ErrDiskFull = errors.New("no space left for the mail store")

// sqliteFull is SQLITE_FULL, the primary result code SQLite returns
// when a write meets a full disk (its unix VFS turns ENOSPC into it).
const sqliteFull = 13

// classify turns a full disk into ErrDiskFull, by type only: SQLite's
// SQLITE_FULL ("database or disk is full") and ENOSPC from the body
// files, however deeply wrapped (every wrap in the repository is %w). No
// error reaches the store from another process, so no text is matched.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) {
		return err
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == sqliteFull || errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w (%w)", ErrDiskFull, err)
	}
	return err
}

// sqliteBusy is SQLITE_BUSY: another connection holds the lock and the
// busy timeout could not help (SQLite returns it at once where waiting
// could deadlock, e.g. while several processes open a new database).
const sqliteBusy = 5

// retryBusy runs f, the schema check or the migration, again when SQLite
// answers SQLITE_BUSY, for at most about 10 s: several processes opening
// a new database at once (the first statement of a connection switches it
// to WAL) must all end up with it migrated, once. Each migration is one
// transaction that rechecks the schema version, so a retry is safe.
func retryBusy(ctx context.Context, f func() error) error {
	for try := 0; ; try++ {
		err := f()
		var coded interface{ Code() int }
		if err == nil || try == 200 || !errors.As(err, &coded) || coded.Code()&0xff != sqliteBusy {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(5+rand.IntN(45)) * time.Millisecond):
		}
	}
}

func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]*writeReq, 0, s.max)
	for {
		batch = batch[:0]
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.done:
			// drain what was submitted before Close
			for {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
					if len(batch) == s.max {
						s.runBatch(batch)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				s.runBatch(batch)
			}
			return
		}
	more:
		for len(batch) < s.max {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.runBatch(batch)
	}
}

func (s *Store) runBatch(batch []*writeReq) {
	defer s.prepareSeen() // the writer connection is free again by then
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range batch {
			r.done <- fmt.Errorf("begin: %w", err)
		}
		return
	}
	if len(s.removedFiles) > 0 {
		s.forgetDead(ctx, tx)
	}
	ok := make([]bool, len(batch))
	held := false // savepoint w is open (runOne)
	first := s.pg // PostgreSQL: no write of the batch has succeeded yet (runFirst)
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		var err error
		if first {
			tx, err = s.runFirst(ctx, tx, r)
			if tx == nil { // no transaction to go on with
				r.done <- err
				for _, r := range batch[i+1:] {
					r.done <- err
				}
				return
			}
		} else {
			err = s.runOne(ctx, tx, r, &held)
		}
		if err != nil {
			r.done <- err
			continue
		}
		ok[i] = true
		first = false
	}
	s.commits.Add(1)
	s.writes.Add(int64(len(batch)))
	events := s.chlog.batch[:0] // only the writer goroutine uses it
	for i, r := range batch {
		if ok[i] {
			events = append(events, r.tx.events...)
		}
	}
	defer s.chlog.keepBuffers(events)
	var foreign []Event
	var upto int64
	var dead []string // non-nil: the dead body files, listed in tx (PostgreSQL)
	if len(events) > 0 {
		// Held until this batch's events are published (changelog.go).
		s.chlog.mu.Lock()
		defer s.chlog.mu.Unlock()
		if foreign, upto, err = s.logBatch(ctx, tx, events, &dead); err != nil {
			// Other processes miss these changes; the mail is not refused for it.
			s.log.Error("store change log", "err", err)
		}
	}
	start := time.Now()
	if err := tx.Commit(); err != nil {
		s.log.Error("store commit failed", "err", err, "batch", len(batch))
		for i, r := range batch {
			if ok[i] {
				r.done <- fmt.Errorf("commit: %w", err)
			}
		}
		return
	}
	if s.onCommit != nil {
		s.onCommit(len(batch), time.Since(start))
	}
	if dead != nil {
		s.removeDead(ctx, dead)
	} else {
		s.removeDeadFiles(ctx)
	}
	for _, e := range foreign {
		s.feed.publish(e)
	}
	if upto > 0 && s.chlog.watching {
		s.chlog.seen = upto
	}
	for i, r := range batch {
		if ok[i] {
			for _, e := range r.tx.events {
				s.flags.apply(e) // before the publish: a reader woken by it sees the change
				s.feed.publish(e)
			}
			r.done <- nil
		}
	}
}

// runFirst (PostgreSQL) runs r's write function as the first of tx's
// writes, without a savepoint: on PostgreSQL a savepoint is a
// subtransaction, with its own transaction id for the rows it writes,
// and most batches hold one write. A failure rolls back the whole
// transaction instead, which holds nothing else yet (forgetDead's
// deletions are made again later: their files are listed and found gone),
// and begins a new one for the rest of the batch, returned; nil when that
// cannot be begun. A serialization failure or a deadlock runs the
// function again, in the new transaction.
func (s *Store) runFirst(ctx context.Context, tx *sql.Tx, r *writeReq) (*sql.Tx, error) {
	r.tx.s = s
	for try := 0; ; try++ {
		r.tx.tx = tx
		ferr := r.fn(r.ctx, &r.tx)
		if ferr == nil {
			return tx, nil
		}
		r.tx.events = nil
		if err := tx.Rollback(); err != nil {
			ferr = errors.Join(ferr, err)
		}
		var err error
		if tx, err = s.wdb.BeginTx(ctx, nil); err != nil {
			return nil, errors.Join(ferr, fmt.Errorf("begin: %w", err))
		}
		if try < maxRetries && pgRetryable(ferr) && r.ctx.Err() == nil {
			time.Sleep(retryPause(try))
			continue
		}
		return tx, ferr
	}
}

// runOne runs r's write function in its own savepoint of tx: a failure
// rolls back only its own changes. On PostgreSQL, a serialization
// failure or a deadlock (another node held the rows) is rolled back to
// the savepoint and the function run again, up to maxRetries times.
//
// The savepoint is released by the next write (held: one is open) or by
// the batch's COMMIT, not at the end of its write: the last write's
// release costs nothing. On PostgreSQL the release and the savepoint go
// with the write's first statement (deferStmt).
func (s *Store) runOne(ctx context.Context, tx *sql.Tx, r *writeReq, held *bool) error {
	if err := s.savepoint(ctx, tx, held); err != nil {
		return err
	}
	r.tx.tx, r.tx.s = tx, s
	for try := 0; ; try++ {
		ferr := r.fn(r.ctx, &r.tx)
		if ferr == nil {
			return nil
		}
		// The savepoint stays after ROLLBACK TO: a retry runs in it again.
		if _, err := s.txExec(ctx, tx, "ROLLBACK TO w"); err != nil {
			ferr = errors.Join(ferr, err)
		}
		r.tx.events = nil
		if s.pg && try < maxRetries && pgRetryable(ferr) && r.ctx.Err() == nil {
			time.Sleep(retryPause(try))
			continue
		}
		return ferr
	}
}

// savepoint opens savepoint w for the next write, releasing the one
// still open (*held) first. On PostgreSQL both are deferred to the
// write's first statement (pgConn): their errors, if any, are its.
func (s *Store) savepoint(ctx context.Context, tx *sql.Tx, held *bool) error {
	if s.pg {
		ctx = deferStmt(ctx)
	}
	if *held {
		if _, err := s.txExec(ctx, tx, "RELEASE w"); err != nil {
			return err
		}
	}
	_, err := s.txExec(ctx, tx, "SAVEPOINT w")
	*held = err == nil
	return err
}

func now() int64 { return time.Now().Unix() }

// queryAll runs a read query and returns one value per row, made by scan
// (nil when there is none): the loop every listing would otherwise write
// out again.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(*sql.Rows) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
