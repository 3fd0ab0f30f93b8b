package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"boxmail/internal/mailmsg"
)

// Large bodies live in files, small ones in the database.
//
// A body of at least Options.FileBodyMin bytes is written to its own file
// under DIR/bodies (named at random; the bodies row keeps the name and an
// empty data BLOB). Small bodies stay BLOBs: one WAL fsync per group commit
// beats a file write+fsync+directory fsync per message (bench/results,
// store-bodies). For a large body the file is cheaper: it is written once
// (a BLOB goes through the WAL and again into the database at checkpoint,
// page by page through the transpiled C), the fsync happens in the
// delivering goroutine rather than in the single writer, and the bytes can
// be streamed in (BodyWriter) rather than held whole.
//
// Order of durability: the file is written and fsynced (with its
// directory) before the transaction that references it commits, so a
// committed row never names a missing file. A crash in between leaves an
// unreferenced file, removed by the sweep at Open once it is an hour old
// (another process, such as an import, may be writing a fresh one). When a
// file's row is deleted, a trigger records the name in dead_files; the
// writer removes the file after that commit and the record in its next
// batch.

// DefaultFileBodyMin is the size from which a body is kept in a file.
const DefaultFileBodyMin = 256 << 10

const bodiesDir = "bodies"

// orphanAge is how old an unreferenced body file must be for the sweep at
// Open to remove it.
const orphanAge = time.Hour

// maxFileHeader bounds the header section kept in the headers table for a
// body streamed into a file without a blank line.
const maxFileHeader = 256 << 10

// body is a message body on its way into a transaction: inline bytes, or
// a file already written and fsynced.
type body struct {
	data []byte
	file string // name under DIR/bodies, "" when inline
	// pin is the token of a shared blob's pin (bodystore.go), deleted by
	// insertBody in the transaction that names the blob.
	pin    string
	size   int64
	header []byte
	// The header_search row (headerSearchRow), computed before the writer
	// runs; nil has insertBody compute it.
	search [][]byte
	// The body_text row of an inline body (bodyText), computed before the
	// writer runs when textSet.
	text    string
	textSet bool
}

// inline is a body kept in the database whatever its size: written inside
// a transaction (bounces, vacation replies), where a file would cost the
// writer an fsync.
func inline(data []byte) body { return body{data: data, size: int64(len(data))} }

// SpooledBody is a body already durable in the store's file area, ready
// to be stored by a transaction (ImportItem.Body). Discard it if it is not
// used.
type SpooledBody struct {
	s *Store
	b body
}

// Size is the body's length in bytes.
func (sb *SpooledBody) Size() int64 { return sb.b.size }

// Discard removes the file of a body that no transaction stored.
func (sb *SpooledBody) Discard() {
	if sb != nil && sb.b.file != "" {
		sb.s.removeBodyFile(sb.b.file)
	}
}

// FileBodyMin is the size from which bodies go to files (negative: never).
func (s *Store) FileBodyMin() int64 { return s.fileMin }

func (s *Store) bodyPath(name string) string {
	return filepath.Join(s.dir, bodiesDir, name)
}

// prepareBody turns prefix followed by data into a body for a
// transaction, writing it to a body file when it is large. prefix (fields
// put in front of a message, often nil) saves the caller a copy of a
// large message. The caller discards the returned body if the
// transaction fails.
func (s *Store) prepareBody(prefix, data []byte) (body, error) {
	size := int64(len(prefix) + len(data))
	if s.fileMin < 0 || size < s.fileMin {
		if len(prefix) > 0 {
			data = append(prefix[:len(prefix):len(prefix)], data...)
		}
		return body{data: data, size: size, search: headerSearchRow(data), text: bodyText(data), textSet: true}, nil
	}
	w, err := s.NewBodyWriter()
	if err != nil {
		return body{}, err
	}
	for _, p := range [][]byte{prefix, data} {
		if _, err := w.Write(p); err != nil {
			w.Abort()
			return body{}, err
		}
	}
	sb, err := w.Finish()
	if err != nil {
		return body{}, err
	}
	return sb.b, nil
}

// discardBody removes the file of a body whose transaction failed.
func (s *Store) discardBody(b body) {
	if b.file != "" {
		s.removeBodyFile(b.file)
	}
}

// BodyWriter streams one message body into the store's file area without
// holding it in memory. Write the bytes, then Finish (fsync) or Abort.
type BodyWriter struct {
	s      *Store
	f      *os.File
	name   string
	size   int64
	header bytes.Buffer
	hdrEnd bool
	find   mailmsg.EndFinder
	err    error
	// sum hashes the bytes of a body bound for a shared blob
	// (bodystore.go); nil for a local body file.
	sum hash.Hash
}

// NewBodyWriter starts a body file.
func (s *Store) NewBodyWriter() (*BodyWriter, error) {
	var rnd [16]byte
	rand.Read(rnd[:])
	name := hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(s.bodyPath(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, classify(fmt.Errorf("creating body file: %w", err))
	}
	return &BodyWriter{s: s, f: f, name: name, sum: s.blobHash()}, nil
}

// Write appends p to the body.
func (w *BodyWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.hdrEnd {
		w.keepHeader(p)
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if w.sum != nil {
		w.sum.Write(p[:n])
	}
	if err != nil {
		w.err = classify(fmt.Errorf("writing body file: %w", err))
	}
	return n, w.err
}

// keepHeader collects the header section (up to the blank line) as the
// bytes go by.
func (w *BodyWriter) keepHeader(p []byte) {
	start := w.header.Len()
	p = p[:min(len(p), maxFileHeader-start)]
	w.header.Write(p)
	if i := w.find.Feed(p); i >= 0 {
		w.header.Truncate(start + i)
		w.hdrEnd = true
	} else if w.header.Len() >= maxFileHeader {
		w.hdrEnd = true
	}
}

// Finish makes the body durable (file and directory fsynced, or stored
// as a shared blob) and returns it for a transaction.
func (w *BodyWriter) Finish() (*SpooledBody, error) {
	if w.sum != nil {
		return w.finishBlob()
	}
	if w.err == nil {
		if err := w.f.Sync(); err != nil {
			w.err = classify(fmt.Errorf("syncing body file: %w", err))
		}
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = classify(fmt.Errorf("closing body file: %w", err))
	}
	if w.err == nil {
		w.err = syncDir(filepath.Join(w.s.dir, bodiesDir))
	}
	if w.err != nil {
		w.s.removeBodyFile(w.name)
		return nil, w.err
	}
	header := bytes.Clone(w.header.Bytes())
	return &SpooledBody{s: w.s, b: body{file: w.name, size: w.size, header: header, search: headerSearchRow(header)}}, nil
}

// finishBlob stores the spooled file as a shared blob (bodystore.go) and
// removes it: the blob, not the local file, is the durable copy.
func (w *BodyWriter) finishBlob() (*SpooledBody, error) {
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = classify(fmt.Errorf("closing body file: %w", err))
	}
	defer w.s.removeBodyFile(w.name)
	if w.err != nil {
		return nil, w.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), blobWriteTimeout)
	defer cancel()
	name, pin, err := w.s.storeBlob(ctx, w.s.bodyPath(w.name), w.size, w.sum.Sum(nil))
	if err != nil {
		return nil, err
	}
	header := bytes.Clone(w.header.Bytes())
	return &SpooledBody{s: w.s, b: body{file: name, pin: pin, size: w.size, header: header, search: headerSearchRow(header)}}, nil
}

// blobWriteTimeout bounds the write of one shared blob.
const blobWriteTimeout = 10 * time.Minute

// Abort removes the unfinished body.
func (w *BodyWriter) Abort() {
	_ = w.f.Close() // the file is removed next: its close error does not matter
	w.s.removeBodyFile(w.name)
}

// removeBodyFile removes a body file that no row refers to. A failure
// leaves an orphan that sweepBodyFiles removes at a later start; it is
// logged.
func (s *Store) removeBodyFile(name string) {
	if isBlobName(name) {
		return // a shared blob no row names: GC's (bodystore.go), once its pin is stale
	}
	if err := os.Remove(s.bodyPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("removing a body file", "file", name, "err", err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return classify(fmt.Errorf("syncing %s: %w", dir, err))
	}
	return nil
}

// insertBody stores b and returns its id; references are counted by
// triggers when messages or queue rows point at it.
func insertBody(ctx context.Context, tx *Tx, b body) (int64, error) {
	var id int64
	var err error
	header := b.header
	if tx.s.pg && b.file == "" {
		return insertInlineBodyPG(ctx, tx, b)
	}
	if b.file == "" {
		id, err = tx.insertID(ctx, "INSERT INTO bodies(size, data) VALUES(?, ?)", len(b.data), b.data)
		header, _ = mailmsg.Split(b.data)
	} else {
		id, err = tx.insertID(ctx, "INSERT INTO bodies(size, data, file) VALUES(?, ?, ?)", b.size, []byte{}, b.file)
	}
	if err == nil && b.pin != "" {
		_, err = tx.exec(ctx, "DELETE FROM blob_pins WHERE name = ? AND token = ?", b.file, b.pin)
	}
	if err != nil {
		return 0, err
	}
	if _, err = tx.exec(ctx, "INSERT INTO headers(body_id, data) VALUES(?, ?)", id, header); err != nil {
		return 0, err
	}
	search := b.search
	if search == nil {
		search = headerSearchRow(header)
	}
	if b.file == "" {
		text := b.text
		if !b.textSet {
			text = bodyText(b.data)
		}
		if tx.s.pg {
			text = pgText(text)
		}
		if err := insertBodyText(ctx, tx.exec, id, text); err != nil {
			return 0, err
		}
	}
	return id, insertHeaderSearch(ctx, tx.exec, id, search)
}

// insertInlineBodySQLPG (PostgreSQL) writes an inline body with its
// header, header_search and body_text rows (no text: none) in one
// statement.
const insertInlineBodySQLPG = inlineBodyCTEPG + " SELECT id FROM b"

// inlineBodyCTEPG is the WITH clause of insertInlineBodySQLPG: b is the
// new body's id.
const inlineBodyCTEPG = `WITH b AS (INSERT INTO bodies(size, data) VALUES(?1, ?2) RETURNING id),
h AS (INSERT INTO headers(body_id, data) SELECT id, ?3::bytea FROM b),
s AS (INSERT INTO header_search(body_id, subject, hfrom, hto, cc, bcc) SELECT id, ?4::bytea, ?5::bytea, ?6::bytea, ?7::bytea, ?8::bytea FROM b),
t AS (INSERT INTO body_text(rowid, text) SELECT id, ?9::text FROM b WHERE ?9::text <> '')`

// insertInlineBodyPG is insertBody of an inline body on PostgreSQL: one
// round trip instead of five.
func insertInlineBodyPG(ctx context.Context, tx *Tx, b body) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, insertInlineBodySQLPG, inlineBodyArgsPG(b)...).Scan(&id)
	return id, err
}

// inlineBodyArgsPG are insertInlineBodySQLPG's arguments for b, the
// first nine of bodyAndMessageSQLPG's.
func inlineBodyArgsPG(b body) []any {
	header, _ := mailmsg.Split(b.data)
	search := b.search
	if search == nil {
		search = headerSearchRow(header)
	}
	text := b.text
	if !b.textSet {
		text = bodyText(b.data)
	}
	return []any{len(b.data), b.data, header, search[0], search[1], search[2], search[3], search[4], pgText(text)}
}

// readBodyFile returns the bytes of a body kept in a file or a shared
// blob.
func (s *Store) readBodyFile(name string) ([]byte, error) {
	if isBlobName(name) {
		return s.readBlob(name)
	}
	b, err := os.ReadFile(s.bodyPath(name))
	if err != nil {
		return nil, fmt.Errorf("body file %s: %w", name, err)
	}
	return b, nil
}

// BodyReader is an open stored body. It reads in order (Read, after a
// Seek) or at any offset (ReadAt) without holding the body whole: a body
// file, the chunks of a body in the database, or an S3 object read by
// ranged GETs. Use Seek then Read for a long stretch (an S3 object reads
// it over one GET) and ReadAt for a short one.
type BodyReader interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// memBody is a BodyReader over a body kept in its row.
type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }

// OpenBody returns a reader over a stored body and its size, without
// reading a file-kept body or a shared blob into memory. The reader
// uses ctx until it is closed.
func (s *Store) OpenBody(ctx context.Context, bodyID int64) (BodyReader, int64, error) {
	var data []byte
	var file sql.NullString
	var size int64
	err := s.rdb.QueryRowContext(ctx, "SELECT data, file, size FROM bodies WHERE id = ?", bodyID).Scan(&data, &file, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, ErrNotFound
	} else if err != nil {
		return nil, 0, err
	}
	if !file.Valid {
		return memBody{bytes.NewReader(data)}, int64(len(data)), nil
	}
	if r, ok, err := s.openBlob(ctx, file.String, size); ok {
		return r, size, err
	}
	f, err := os.Open(s.bodyPath(file.String))
	if err != nil {
		return nil, 0, fmt.Errorf("body file %s: %w", file.String, err)
	}
	return f, size, nil
}

// removeDeadFiles runs in the writer after a commit: the files whose rows
// that commit (or an earlier one, or another process) deleted go now;
// their records go in the next batch (forgetDead).
func (s *Store) removeDeadFiles(ctx context.Context) {
	rows, err := s.wdb.QueryContext(ctx, "SELECT name FROM "+deadFilesListed)
	if err != nil {
		s.log.Warn("listing dead body files", "err", err)
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	rows.Close()
	s.removeDead(ctx, names)
}

// deadFilesListed is the part of dead_files one batch removes.
const deadFilesListed = "(SELECT name FROM dead_files LIMIT 256) AS dead"

// removeDead removes the files and blobs named, after the commit that
// made them dead (removeDeadFiles, or on PostgreSQL the batch's change
// log statement, which lists them in the transaction: notify.go).
func (s *Store) removeDead(ctx context.Context, names []string) {
	for _, n := range names {
		if isBlobName(n) {
			if err := s.removeDeadBlob(ctx, n); err != nil {
				s.log.Warn("removing body blob", "blob", n, "err", err)
				continue
			}
		} else if err := os.Remove(s.bodyPath(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("removing body file", "file", n, "err", err)
			continue
		}
		s.removedFiles = append(s.removedFiles, n)
	}
}

// forgetDead deletes the records of removed files inside the batch's
// transaction.
func (s *Store) forgetDead(ctx context.Context, tx *sql.Tx) {
	for _, n := range s.removedFiles {
		if _, err := (&Tx{tx: tx, s: s}).exec(ctx, "DELETE FROM dead_files WHERE name = ?", n); err != nil {
			s.log.Warn("forgetting removed body file", "err", err)
			return
		}
	}
	s.removedFiles = s.removedFiles[:0]
}

// sweepBodyFiles runs at Open: it creates the bodies directory, removes
// the files of deleted bodies, and the files no body row names that are
// older than orphanAge (left by a crash before their commit). The shared
// blobs are swept by one node of several (SweepBodyBlobs, a singleton job
// of the serving process), not at every Open.
func (s *Store) sweepBodyFiles(ctx context.Context) error {
	dir := filepath.Join(s.dir, bodiesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		return err
	}
	known := map[string]bool{}
	rows, err := s.wdb.QueryContext(ctx, "SELECT file FROM bodies WHERE file IS NOT NULL AND file NOT LIKE '__:%'")
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			known[n] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range entries {
		if known[e.Name()] {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < orphanAge {
			continue
		}
		s.log.Info("removing unreferenced body file", "file", e.Name())
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("removing a body file", "file", e.Name(), "err", err)
		}
	}
	s.removeDeadFiles(ctx)
	return nil
}
