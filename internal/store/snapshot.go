package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	sqlite "modernc.org/sqlite"
)

// Snapshots for backups (internal/backup).
//
// SnapshotDB copies the database while the server keeps writing, through
// SQLite's online backup API in one step: the copy is the database as of
// one read transaction (WAL mode: writers go on meanwhile), page for page.
// Page for page rather than VACUUM INTO on purpose: pages the server did
// not change since the last backup keep their place in the file, so a
// backup that cuts the copy into fixed-size chunks uploads only the
// chunks around changed pages (VACUUM INTO rewrites the layout, and every
// overflow page pointer with it, after the first new row).

// backuper is the method of modernc.org/sqlite's connection that starts
// an online backup.
type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// SnapshotDB writes a consistent copy of the database to path, which must
// not exist. Body files are not copied: SnapshotInfo of the copy names
// those it references (they never change once written). The copy is not
// fsynced: it is a staging file the backup reads back at once and stores
// durably elsewhere (a crash loses nothing but the copy), and its flush,
// 156 MB on the backup benchmark's box, stood between the copy and the
// first upload of its chunks.
//
// On PostgreSQL the copy is the same kind of file (snapshotPG): a SQLite
// database of this schema, so a backup restores as a SQLite box.
func (s *Store) SnapshotDB(ctx context.Context, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("snapshot %s: %w", path, ErrExists)
	}
	if s.pg {
		return s.snapshotPG(ctx, path)
	}
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		return err
	}
	err = conn.Raw(func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return errors.New("the sqlite driver has no online backup")
		}
		// The copy is written without a rollback journal and without
		// fsyncs: a failed copy is removed, not rolled back (see above).
		bk, err := b.NewBackup("file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
		if err != nil {
			return err
		}
		if _, err := bk.Step(-1); err != nil {
			return errors.Join(err, bk.Finish())
		}
		return bk.Finish()
	})
	if err = errors.Join(err, conn.Close()); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// snapshotPG writes a snapshot of a PostgreSQL store (issue 23): a new
// SQLite database at path with this binary's schema, holding every table
// as one read-only REPEATABLE READ transaction sees it (the nodes go on
// writing meanwhile), row for row as `boxmail store copy` copies them
// (copy.go: ids, UIDs and MODSEQs kept, the text index rebuilt, the id
// counters set). The large bodies (database chunks, read in the same
// transaction; S3 objects; this node's files) are written as body files
// beside it, DIR(path)/bodies/NAME, each row its own file, so the
// snapshot is a whole SQLite box. Nothing is fsynced: like the SQLite
// copy it is a staging file (SnapshotDB). Restored, the box runs on
// SQLite; `boxmail store copy --to postgres://...` takes it back.
func (s *Store) snapshotPG(ctx context.Context, path string) (err error) {
	bodies := filepath.Join(filepath.Dir(path), bodiesDir)
	if err := os.MkdirAll(bodies, 0o700); err != nil {
		return err
	}
	lite, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	lite.SetMaxOpenConns(1)
	var large []snapshotBlob
	defer func() {
		err = errors.Join(err, lite.Close())
		if err != nil {
			_ = os.Remove(path) // a staging file: the backup fails with err
			for _, b := range large {
				_ = os.Remove(filepath.Join(bodies, b.local))
			}
			err = fmt.Errorf("snapshot of the PostgreSQL store: %w", err)
		}
	}()
	if err := migrate(ctx, lite); err != nil {
		return err
	}
	dst := &Store{rdb: lite, wdb: lite}
	plan, err := copyPlan(ctx, s, dst)
	if err != nil {
		return err
	}
	// The nodes' leases are no state of the box (a restored box is one
	// SQLite node), and the backup's own lease would make every
	// snapshot's database differ.
	plan = slices.DeleteFunc(plan, func(t copyTable) bool { return t.name == "leases" })
	stx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ignoreDone(stx.Rollback())) }()
	dtx, err := lite.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	c := &copier{src: s, dst: dst, tables: plan, rep: &CopyReport{}}
	if large, err = c.snapshotRows(ctx, stx, dtx); err != nil {
		return errors.Join(err, dtx.Rollback())
	}
	for _, b := range large {
		if err := s.exportBlob(ctx, stx, b, filepath.Join(bodies, b.local)); err != nil {
			return errors.Join(err, dtx.Rollback())
		}
	}
	if err := dtx.Commit(); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// snapshotBlob is a large body of a PostgreSQL snapshot: its name in the
// store, the body file the snapshot gives it, its size.
type snapshotBlob struct {
	name, local string
	size        int64
}

// snapshotRows copies every table of the plan from stx into the new
// database's dtx (whose schema's own rows go first), and returns the
// large bodies to export.
func (c *copier) snapshotRows(ctx context.Context, stx, dtx *sql.Tx) ([]snapshotBlob, error) {
	for i := len(c.tables) - 1; i >= 0; i-- {
		if _, err := dtx.ExecContext(ctx, "DELETE FROM "+c.tables[i].name); err != nil {
			return nil, err
		}
	}
	var large []snapshotBlob
	for _, t := range c.tables {
		var err error
		if t.name == "bodies" {
			large, err = c.snapshotBodies(ctx, stx, dtx, t)
		} else {
			err = copyWhole(ctx, stx, dtx, t)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := c.fixRefs(ctx, stx, dtx); err != nil {
		return nil, err
	}
	if err := c.compareCounts(ctx, stx, dtx); err != nil {
		return nil, err
	}
	return large, c.setSequences(ctx, stx, dtx)
}

// snapshotBatchBytes bounds the inline body bytes held at once.
const snapshotBatchBytes = 8 << 20

// snapshotBodies copies the bodies table: references counted again by
// the copied rows (fixRefs checks them), the text index of the inline
// bodies rebuilt, and each large body renamed to the body file it gets.
func (c *copier) snapshotBodies(ctx context.Context, stx, dtx *sql.Tx, t copyTable) ([]snapshotBlob, error) {
	rows, err := stx.QueryContext(ctx, "SELECT "+quoteCols(t.cols)+" FROM bodies ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("reading bodies: %w", err)
	}
	defer rows.Close()
	idc, filec, datac, sizec := t.index("id"), t.index("file"), t.index("data"), t.index("size")
	var large []snapshotBlob
	var batch [][]any
	held := 0
	flush := func() error {
		if err := insertRows(ctx, dtx, t, batch); err != nil {
			return err
		}
		for _, r := range batch {
			if r[filec] == nil {
				if err := insertBodyText(ctx, dtx.ExecContext, r[idc].(int64), bodyText(asBytes(r[datac]))); err != nil {
					return err
				}
			}
		}
		batch, held = batch[:0], 0
		return nil
	}
	for rows.Next() {
		r, err := scanRow(rows, len(t.cols))
		if err != nil {
			return nil, err
		}
		r[t.index("refs")] = int64(0)
		if r[filec] != nil {
			name := asString(r[filec])
			b := snapshotBlob{name: name, size: r[sizec].(int64),
				local: strings.NewReplacer(":", "-", "/", "-").Replace(name) + "-" + fmt.Sprint(r[idc])}
			large = append(large, b)
			r[filec] = b.local
		}
		held += len(asBytes(r[datac]))
		if batch = append(batch, r); len(batch) == 256 || held >= snapshotBatchBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return large, flush()
}

// exportBlob writes a large body of the snapshot to path: a blob in the
// database from its chunks as stx sees them (so a body deleted since is
// still there), any other (S3, this node's file) through the body store.
func (s *Store) exportBlob(ctx context.Context, stx *sql.Tx, b snapshotBlob, path string) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	var n int64
	if strings.HasPrefix(b.name, "db:") {
		rows, err := stx.QueryContext(ctx, "SELECT data FROM body_chunks WHERE name = ? ORDER BY seq", b.name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var chunk []byte
			if err := rows.Scan(&chunk); err != nil {
				return err
			}
			w, err := f.Write(chunk)
			n += int64(w)
			if err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
	} else {
		r, err := s.openStored(ctx, b.name, b.size)
		if err != nil {
			return fmt.Errorf("body %s: %w", b.name, err)
		}
		n, err = io.Copy(f, r)
		if err = errors.Join(err, r.Close()); err != nil {
			return fmt.Errorf("body %s: %w", b.name, err)
		}
	}
	if n != b.size {
		return fmt.Errorf("body %s: %d bytes, the row says %d", b.name, n, b.size)
	}
	return nil
}

// SnapshotInfo is what CheckSnapshot found in a database file.
type SnapshotInfo struct {
	// Schema is the file's schema version (PRAGMA user_version);
	// SchemaVersion() is this binary's.
	Schema   int
	Messages int64
	Accounts int64
	// BodyFiles are the names under DIR/bodies the database references,
	// with their sizes.
	BodyFiles map[string]int64
}

// SnapshotCheck is how deeply CheckSnapshot checks a file's pages.
type SnapshotCheck int

const (
	// CheckIntegrity runs SQLite's integrity_check: every page and
	// record, each index against its table, the full-text index.
	CheckIntegrity SnapshotCheck = iota
	// CheckQuick runs quick_check: pages and records, not whether the
	// indexes hold what their tables do (linear time; about 60% of
	// integrity_check on a box's database).
	CheckQuick
	// CheckContents leaves the pages to a separate call and checks the
	// contents only.
	CheckContents
	// CheckTables runs integrity_check table by table over every
	// ordinary table (the full-text index's shadow tables included):
	// every b-tree page and record, each index against its table. Left
	// out: the full-text index's check of its own postings, 90% of
	// integrity_check's CPU on a box's database (bench/results/
	// backup-2026-12-06b.md) for derived data, and the whole-file page
	// accounting (a page no table uses, the free list), which loses no
	// data. Backup and restore use it; verify --full keeps
	// CheckIntegrity.
	CheckTables
)

// CheckSnapshot opens a database file read-only (a snapshot, or a
// restored database before it is opened as a store), checks its pages as
// level says, checks each mailbox's UIDNEXT against its UIDs and that
// every message has its body row, and lists the body files it
// references. Problems come back as one error naming each.
func CheckSnapshot(ctx context.Context, path string, level SnapshotCheck) (SnapshotInfo, error) {
	var info SnapshotInfo
	if _, err := os.Stat(path); err != nil {
		return info, err
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&immutable=1")
	if err != nil {
		return info, err
	}
	defer func() { _ = db.Close() }() // read only and immutable: nothing to lose
	if level != CheckContents {
		if err := checkPages(ctx, db, level); err != nil {
			return info, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&info.Schema); err != nil {
		return info, err
	}
	if err := db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM accounts)").Scan(&info.Messages, &info.Accounts); err != nil {
		return info, fmt.Errorf("%s: counting: %w", path, err)
	}
	if err := checkUIDs(ctx, db); err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	info.BodyFiles, err = snapshotBodyFiles(ctx, db)
	if err != nil {
		return info, fmt.Errorf("%s: body files: %w", path, err)
	}
	return info, nil
}

// checkPages runs SQLite's integrity_check or quick_check on db.
func checkPages(ctx context.Context, db *sql.DB, level SnapshotCheck) error {
	if level == CheckTables {
		return checkTables(ctx, db)
	}
	pragma := "PRAGMA integrity_check"
	if level == CheckQuick {
		pragma = "PRAGMA quick_check"
	}
	return runCheck(ctx, db, pragma)
}

// checkTables runs integrity_check on each ordinary table of db.
func checkTables(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL %'")
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return errors.Join(err, rows.Close())
		}
		tables = append(tables, name)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	var problems []error
	for _, t := range tables {
		if err := runCheck(ctx, db, `PRAGMA integrity_check("`+strings.ReplaceAll(t, `"`, `""`)+`")`); err != nil {
			problems = append(problems, fmt.Errorf("table %s: %w", t, err))
		}
	}
	return errors.Join(problems...)
}

// runCheck runs one integrity_check or quick_check pragma and returns
// the problems it names as one error.
func runCheck(ctx context.Context, db *sql.DB, pragma string) error {
	rows, err := db.QueryContext(ctx, pragma)
	if err != nil {
		return err
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			problems = append(problems, err.Error())
		} else if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkUIDs finds mailboxes whose UIDNEXT is not above every UID in them
// (a client would see new messages under old UIDs), a UIDVALIDITY of 0,
// and messages whose body row is missing.
func checkUIDs(ctx context.Context, db *sql.DB) error {
	var bad, badValidity, noBody int64
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM mailboxes b WHERE b.uidnext <= (SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = b.id)),
		(SELECT count(*) FROM mailboxes WHERE uidvalidity = 0),
		(SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM bodies WHERE id = m.body_id))`).Scan(&bad, &badValidity, &noBody)
	if err != nil {
		return fmt.Errorf("checking UIDs: %w", err)
	}
	if bad+badValidity+noBody > 0 {
		return fmt.Errorf("%d mailbox(es) with UIDNEXT not above their UIDs, %d with UIDVALIDITY 0, %d message(s) without a body", bad, badValidity, noBody)
	}
	return nil
}

func snapshotBodyFiles(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT file, size FROM bodies WHERE file IS NOT NULL")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	files := map[string]int64{}
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			return nil, err
		}
		files[name] = size
	}
	return files, rows.Err()
}

// BodiesDir is the directory of body files inside a data directory.
const BodiesDir = bodiesDir
