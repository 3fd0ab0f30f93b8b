package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
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
func (s *Store) SnapshotDB(ctx context.Context, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("snapshot %s: %w", path, ErrExists)
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
