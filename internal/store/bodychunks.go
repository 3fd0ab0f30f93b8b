package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
)

// chunkBlobs keeps shared bodies in the database, in body_chunks rows of
// bodyChunkSize bytes (bodystore.go): a 50 MiB message is fifty rows,
// written in one transaction and read one row at a time.
type chunkBlobs struct{ s *Store }

var _ blobStore = (*chunkBlobs)(nil)

func (c *chunkBlobs) prefix() string { return "db:" }

func (c *chunkBlobs) put(ctx context.Context, key string, r io.Reader, size int64) error {
	name := c.prefix() + key
	var one int
	err := c.s.bdb.QueryRowContext(ctx, "SELECT 1 FROM body_chunks WHERE name = ? AND seq = 0", name).Scan(&one)
	if err == nil {
		return nil // the same bytes, stored whole by an earlier transaction
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	tx, err := c.s.bdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	buf := make([]byte, bodyChunkSize)
	var written int64
	for seq := 0; ; seq++ {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || seq == 0 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO body_chunks(name, seq, data) VALUES(?, ?, ?) ON CONFLICT DO NOTHING", name, seq, buf[:n]); err != nil {
				return errors.Join(err, tx.Rollback())
			}
			written += int64(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		} else if rerr != nil {
			return errors.Join(rerr, tx.Rollback())
		}
	}
	if written != size {
		return errors.Join(fmt.Errorf("body %s: read %d bytes, want %d", name, written, size), tx.Rollback())
	}
	return tx.Commit()
}

func (c *chunkBlobs) open(ctx context.Context, key string, size int64) (io.ReadCloser, error) {
	return &chunkReader{ctx: ctx, s: c.s, name: c.prefix() + key, left: size}, nil
}

func (c *chunkBlobs) remove(ctx context.Context, tx *sql.Tx, key string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM body_chunks WHERE name = ?", c.prefix()+key)
	return err
}

func (c *chunkBlobs) keys(ctx context.Context, fn func(string)) error {
	rows, err := c.s.rdb.QueryContext(ctx, "SELECT name FROM body_chunks WHERE seq = 0")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		fn(n[len(c.prefix()):])
	}
	return rows.Err()
}

// chunkReader streams a chunked body, holding one chunk at a time.
type chunkReader struct {
	ctx  context.Context
	s    *Store
	name string
	seq  int
	left int64 // bytes not yet fetched
	buf  *bytes.Reader
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for r.buf == nil || r.buf.Len() == 0 {
		if r.left <= 0 {
			return 0, io.EOF
		}
		var data []byte
		err := r.s.rdb.QueryRowContext(r.ctx, "SELECT data FROM body_chunks WHERE name = ? AND seq = ?", r.name, r.seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("body %s: chunk %d is missing: %w", r.name, r.seq, io.ErrUnexpectedEOF)
		} else if err != nil {
			return 0, err
		}
		if len(data) == 0 {
			return 0, fmt.Errorf("body %s: chunk %d is empty: %w", r.name, r.seq, io.ErrUnexpectedEOF)
		}
		r.seq++
		r.left -= int64(len(data))
		r.buf = bytes.NewReader(data)
	}
	return r.buf.Read(p)
}

func (r *chunkReader) Close() error { return nil }
