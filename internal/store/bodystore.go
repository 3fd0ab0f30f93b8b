package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// Shared bodies (issue 23 phase 2b). On PostgreSQL a large body (from
// FileBodyMin up) must be readable by every node of the box, so it is
// not a file in one node's data dir but a blob in a store every node
// reaches, chosen by Options.BodyStore:
//
//   - "db" (the default on PostgreSQL): in the database, in body_chunks
//     rows of bodyChunkSize bytes, so no body is one giant value and a
//     read streams chunk by chunk;
//   - "s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false]": an
//     S3-compatible bucket (bodys3.go), the URL form of the backup's S3
//     target;
//   - "file": phase 1's local body files (one node only).
//
// A SQLite box always keeps its large bodies in files (bodyfile.go).
//
// A blob is content-addressed: bodies.file holds "db:" or "s3:" followed
// by the SHA-256 of the bytes (hex), so two deliveries of the same
// bytes share it. The delivering goroutine (BodyWriter.Finish) writes
// it durably before the row that names it commits: first a pin
// (blob_pins, committed), then the blob (one transaction of chunks, or
// a completed S3 upload), then the writer commits the bodies row. A
// crash in between leaves an orphan that the sweep at Open removes once
// its pin is older than orphanAge.
//
// GC (gcBlob) deletes a blob only under an exclusive transaction
// advisory lock on its name, after seeing that no bodies row names it
// and that it has no fresh pin; a writer pins under the shared form of
// that lock. So a delivery of the same bytes racing GC either pins
// first (GC sees the pin and keeps the blob) or waits until GC has
// deleted it, then pins and writes the blob again before its row
// commits: a committed row never names a deleted blob.

// bodyChunkSize is the size of a body_chunks row.
const bodyChunkSize = 1 << 20

// Body store kinds (Options.BodyStore).
const (
	BodyStoreFile = "file"
	BodyStoreDB   = "db"
)

// blobStore is where the shared blobs of one kind live.
type blobStore interface {
	// prefix is the kind's prefix of the names in bodies.file ("db:").
	prefix() string
	// put stores size bytes read from r under key (the SHA-256 hex),
	// durably when it returns; a blob already there is kept.
	put(ctx context.Context, key string, r io.Reader, size int64) error
	// open opens the blob for reading, in order or at an offset, without
	// holding it whole.
	open(ctx context.Context, key string, size int64) (BodyReader, error)
	// remove deletes the blob; one already gone is no error. It runs
	// inside GC's transaction (tx), which holds the name's lock.
	remove(ctx context.Context, tx *sql.Tx, key string) error
	// keys calls fn with every stored key (the orphan sweep).
	keys(ctx context.Context, fn func(key string)) error
}

// CheckBodyStore checks a body_store value without connecting (config).
func CheckBodyStore(v string) error {
	switch {
	case v == "" || v == BodyStoreFile || v == BodyStoreDB:
		return nil
	case strings.HasPrefix(v, "s3://"):
		_, err := parseS3URL(v)
		return err
	}
	return errors.New("want db, file or s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false]")
}

// RedactBodyStore names a body_store value without its secret.
func RedactBodyStore(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return v
}

// openBlobStores sets up the shared body stores of a PostgreSQL store:
// the one new bodies go to, and the S3 bucket when configured.
func (s *Store) openBlobStores(opts Options) error {
	v := opts.BodyStore
	s.url = opts.URL
	if !s.pg {
		if v != "" && v != BodyStoreFile {
			return fmt.Errorf("body_store %s: a SQLite store keeps its large bodies in files (set store_url for a shared body store)", RedactBodyStore(v))
		}
		return nil
	}
	s.dbBlobs = &chunkBlobs{s: s}
	switch {
	case v == "" || v == BodyStoreDB:
		s.blobs = s.dbBlobs
	case v == BodyStoreFile:
	default:
		b, err := openS3Blobs(v)
		if err != nil {
			return err
		}
		s.s3Blobs, s.blobs = b, b
	}
	bdb, err := openPG(opts.URL, false)
	if err != nil {
		return err
	}
	bdb.SetMaxOpenConns(4)
	s.bdb = bdb
	return nil
}

// BodyStore names where new large bodies go: "file", "db" or the S3
// URL without its secret.
func (s *Store) BodyStore() string {
	switch {
	case s.blobs == nil:
		return BodyStoreFile
	case s.blobs == s.dbBlobs:
		return BodyStoreDB
	}
	return s.s3Blobs.String()
}

// blobOf returns the store and key of a shared blob name, or ok false
// for a local body file name.
func (s *Store) blobOf(name string) (b blobStore, key string, ok bool, err error) {
	switch {
	case strings.HasPrefix(name, "db:"):
		if s.dbBlobs == nil {
			return nil, "", true, fmt.Errorf("body %s: the chunk store exists only on PostgreSQL", name)
		}
		return s.dbBlobs, name[3:], true, nil
	case strings.HasPrefix(name, "s3:"):
		if s.s3Blobs == nil {
			return nil, "", true, fmt.Errorf("body %s is in S3, but body_store names no S3 bucket", name)
		}
		return s.s3Blobs, name[3:], true, nil
	}
	return nil, "", false, nil
}

// isBlobName tells a shared blob's name from a local body file's.
func isBlobName(name string) bool {
	return strings.HasPrefix(name, "db:") || strings.HasPrefix(name, "s3:")
}

// blobLockSQL takes a transaction advisory lock on a blob name; GC takes
// it exclusive, a writer shared.
const (
	blobLockSQL       = "SELECT pg_advisory_xact_lock(hashtextextended(?, 31))"
	blobSharedLockSQL = "SELECT pg_advisory_xact_lock_shared(hashtextextended(?, 31))"
)

// storeBlob makes the body file at path (size bytes, SHA-256 sum) a
// shared blob and returns its name for bodies.file and the token of its
// pin (insertBody deletes the pin with the row's commit): pin, then
// write.
func (s *Store) storeBlob(ctx context.Context, path string, size int64, sum []byte) (name, pin string, err error) {
	key := hex.EncodeToString(sum)
	name = s.blobs.prefix() + key
	pin = rand.Text()
	if err := s.pinBlob(ctx, name, pin); err != nil {
		return "", "", classify(fmt.Errorf("pinning body %s: %w", name, err))
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", classify(fmt.Errorf("reading spooled body: %w", err))
	}
	err = s.blobs.put(ctx, key, f, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", classify(fmt.Errorf("storing body %s: %w", name, err))
	}
	return name, pin, nil
}

// pinBlob records that name is being written, under the shared lock GC
// takes exclusive, so GC keeps the blob until the row naming it commits.
func (s *Store) pinBlob(ctx context.Context, name, token string) error {
	tx, err := s.bdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err = tx.ExecContext(ctx, blobSharedLockSQL, name); err == nil {
		_, err = tx.ExecContext(ctx, "INSERT INTO blob_pins(name, token, at) VALUES(?, ?, ?)", name, token, time.Now().Unix())
	}
	if err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// gcBlob deletes the blob called name unless a bodies row names it or a
// fresh pin keeps it. It reports whether the blob is gone.
func (s *Store) gcBlob(ctx context.Context, name string) (bool, error) {
	b, key, _, err := s.blobOf(name)
	if err != nil {
		return false, err
	}
	tx, err := s.bdb.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	gone, err := func() (bool, error) {
		if _, err := tx.ExecContext(ctx, blobLockSQL, name); err != nil {
			return false, err
		}
		// Pins first, then rows: a writer deletes its pin in the
		// transaction that commits its row, so a pin gone is a row seen.
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM blob_pins WHERE name = ? AND at > ? LIMIT 1", name, time.Now().Add(-orphanAge).Unix()).Scan(&one)
		if err == nil {
			return false, nil // being written
		} else if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
		err = tx.QueryRowContext(ctx, "SELECT 1 FROM bodies WHERE file = ? LIMIT 1", name).Scan(&one)
		if err == nil {
			return false, nil // named (again: the same bytes delivered anew)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
		if err := b.remove(ctx, tx, key); err != nil {
			return false, err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM blob_pins WHERE name = ?", name)
		return err == nil, err
	}()
	if err != nil {
		return false, errors.Join(err, tx.Rollback())
	}
	return gone, tx.Commit()
}

// SweepBodyBlobs runs on one node of several, when it starts and daily
// (a singleton job: cmd/boxmail singleton.go): it removes the blobs no
// row names whose pins are stale or missing (left by a crash between
// the write and the commit, or by a failed delivery), and stale pins.
func (s *Store) SweepBodyBlobs(ctx context.Context) error {
	if s.bdb == nil {
		return nil
	}
	stores := []blobStore{s.dbBlobs}
	if s.s3Blobs != nil {
		stores = append(stores, s.s3Blobs)
	}
	for _, b := range stores {
		var names []string
		if err := b.keys(ctx, func(key string) { names = append(names, b.prefix()+key) }); err != nil {
			return err
		}
		for _, n := range names {
			var one int
			err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM bodies WHERE file = ? LIMIT 1", n).Scan(&one)
			if err == nil {
				continue
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if gone, err := s.gcBlob(ctx, n); err != nil {
				s.log.Warn("removing an unreferenced body blob", "blob", n, "err", err)
			} else if gone {
				s.log.Info("removed an unreferenced body blob", "blob", n)
			}
		}
	}
	_, err := s.bdb.ExecContext(ctx, "DELETE FROM blob_pins WHERE at < ?", time.Now().Add(-2*orphanAge).Unix())
	return err
}

// blobHash hashes a body on its way into a shared blob; nil for a store
// whose large bodies are local files, which need no name from their
// bytes (and SQLite's writes stay as fast as before).
func (s *Store) blobHash() hash.Hash {
	if s.blobs == nil {
		return nil
	}
	return sha256.New()
}

// openBlob opens a shared blob of size bytes; ok is false when name is a
// local body file's.
func (s *Store) openBlob(ctx context.Context, name string, size int64) (r BodyReader, ok bool, err error) {
	b, key, ok, err := s.blobOf(name)
	if !ok || err != nil {
		return nil, ok, err
	}
	r, err = b.open(ctx, key, size)
	return r, true, err
}

// readBlob reads a whole shared blob (a FETCH of the full message wants
// its bytes; OpenBody streams instead).
func (s *Store) readBlob(name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), blobWriteTimeout)
	defer cancel()
	var size int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT size FROM bodies WHERE file = ? LIMIT 1", name).Scan(&size); err != nil {
		return nil, fmt.Errorf("body %s: %w", name, err)
	}
	r, _, err := s.openBlob(ctx, name, size)
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err = io.Copy(buf, r)
	if err = errors.Join(err, r.Close()); err != nil {
		return nil, fmt.Errorf("body %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// removeDeadBlob is the writer's removal of a blob whose last row went
// (dead_files): GC under the name's lock, bounded so that a slow S3
// server does not hold the writer long.
func (s *Store) removeDeadBlob(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := s.gcBlob(ctx, name)
	return err
}

// closeBlobs closes the shared body stores' pool.
func (s *Store) closeBlobs() error {
	if s.bdb == nil {
		return nil
	}
	return s.bdb.Close()
}
