package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// This file keeps upgrades safe: before Open migrates a database that
// holds data to a newer schema, it takes a consistent copy of it
// (DIR/boxmail.db.before-vN, N the version being migrated to), and it
// refuses a database written by a newer binary.

// NewerSchemaError is returned by Open for a database whose schema is
// newer than this binary knows: an older binary must not guess at it.
type NewerSchemaError struct {
	Path       string
	Have, Know int
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("%s: this database was written by a newer boxmail (schema %d); this binary knows up to %d: install the newer binary", e.Path, e.Have, e.Know)
}

// BackupName is the file, beside the database, that holds its copy taken
// before migrating it to schema version target.
func BackupName(target int) string { return fmt.Sprintf("%s.before-v%d", FileName, target) }

// backupBeforeMigrating checks the schema version of the database at path
// (through db) and, when it holds data and needs migrating, copies it to
// BackupName(SchemaVersion()) first. It returns the backup's path, or ""
// when none was needed. A backup already there is kept: it is the older
// state, from before an upgrade that stopped midway.
func backupBeforeMigrating(ctx context.Context, db *sql.DB, path string) (string, error) {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return "", err
	}
	know := SchemaVersion()
	if v > know {
		return "", &NewerSchemaError{Path: path, Have: v, Know: know}
	}
	if v == 0 || v == know {
		return "", nil // a new database, or one already current
	}
	dst := filepath.Join(filepath.Dir(path), BackupName(know))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := vacuumInto(ctx, db, dst); err != nil {
		return "", fmt.Errorf("backing up the database before migrating it from schema %d to %d: %w", v, know, err)
	}
	return dst, nil
}

// vacuumInto writes a consistent copy of the database to dst durably: VACUUM
// INTO a temporary name in the same directory, fsync, rename, fsync of the
// directory (the internal/safefile convention), so a crash leaves no
// half-written backup under dst's name.
func vacuumInto(ctx context.Context, db *sql.DB, dst string) (err error) {
	dir := filepath.Dir(dst)
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(dst)+".tmp"+hex.EncodeToString(rnd[:]))
	defer func() {
		if err != nil {
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Sync(); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	// A link, not a rename: a backup another process has just taken is
	// older (it was taken before its migration) and wins.
	if err := os.Link(tmp, dst); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return errors.Join(err, d.Close())
	}
	return d.Close()
}
