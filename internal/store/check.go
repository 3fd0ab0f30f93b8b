package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
)

// IntegrityCheck runs SQLite's integrity check over the whole database
// (on PostgreSQL, which checks its own pages, only the body files'
// check) and returns an error listing the problems, if any.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if s.pg { // PostgreSQL checks its own pages; the body files are ours
		if problems := s.checkBodyFiles(ctx); len(problems) > 0 {
			return fmt.Errorf("database integrity check failed: %s", strings.Join(problems, "; "))
		}
		return nil
	}
	rows, err := s.rdb.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	problems = append(problems, s.checkBodyFiles(ctx)...)
	if len(problems) > 0 {
		return fmt.Errorf("database integrity check failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkBodyFiles reports body rows whose file (bodyfile.go) is missing or
// of the wrong size.
func (s *Store) checkBodyFiles(ctx context.Context) []string {
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, file, size FROM bodies WHERE file IS NOT NULL")
	if err != nil {
		return []string{err.Error()}
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var id, size int64
		var name string
		if err := rows.Scan(&id, &name, &size); err != nil {
			return append(problems, err.Error())
		}
		if isBlobName(name) {
			if p := s.checkBlob(ctx, id, name, size); p != "" {
				problems = append(problems, p)
			}
			continue
		}
		if fi, err := os.Stat(s.bodyPath(name)); err != nil {
			problems = append(problems, fmt.Sprintf("body %d: %v", id, err))
		} else if fi.Size() != size {
			problems = append(problems, fmt.Sprintf("body %d: file %s holds %d bytes, want %d", id, name, fi.Size(), size))
		}
	}
	if err := rows.Err(); err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

// checkBlob checks a body kept in the shared body store: a database blob
// has chunks holding its size (an S3 object is trusted: listing a bucket
// per body is the sweep's job, SweepBodyBlobs).
func (s *Store) checkBlob(ctx context.Context, id int64, name string, size int64) string {
	if !strings.HasPrefix(name, "db:") {
		return ""
	}
	var got sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT sum(length(data)) FROM body_chunks WHERE name = ?", name).Scan(&got); err != nil {
		return fmt.Sprintf("body %d: %v", id, err)
	}
	if got.Int64 != size {
		return fmt.Sprintf("body %d: its chunks hold %d bytes, want %d", id, got.Int64, size)
	}
	return ""
}
