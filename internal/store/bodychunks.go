package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
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

// chunkReader reads a chunked body one chunk at a time: in order (Read,
// Seek) or at any offset (ReadAt), fetching only the chunks a read
// touches, so a partial FETCH of the end of a 50 MiB body reads one row.
// Every chunk but the last holds bodyChunkSize bytes (put), so the chunk
// of an offset is offset / bodyChunkSize; a chunk missing or of another
// length is an error naming the blob.
type chunkReader struct {
	ctx  context.Context
	s    *Store
	name string
	size int64
	off  int64 // Read's position

	mu   sync.Mutex // ReadAt may be called concurrently
	seq  int64      // the chunk in data; -1 for none
	data []byte
}

var _ BodyReader = (*chunkReader)(nil)

func (c *chunkBlobs) open(ctx context.Context, key string, size int64) (BodyReader, error) {
	return &chunkReader{ctx: ctx, s: c.s, name: c.prefix() + key, size: size, seq: -1}, nil
}

// chunk returns chunk seq, fetching it unless it is the one held. The
// row is read through pgx's own connection, its bytes (binary format)
// copied from pgx's read buffer into the one buffer the reader keeps:
// database/sql would allocate each chunk anew, and streaming a 40 MiB
// body would leave 40 MiB of garbage for the collector to let pile up.
func (r *chunkReader) chunk(seq int64) ([]byte, error) {
	if seq == r.seq {
		return r.data, nil
	}
	r.seq = -1 // the buffer is overwritten below
	want := min(int64(bodyChunkSize), r.size-seq*bodyChunkSize)
	conn, err := r.s.rdb.Conn(r.ctx)
	if err != nil {
		return nil, fmt.Errorf("body %s: chunk %d: %w", r.name, seq, err)
	}
	found := false
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(*pgConn)
		if !ok {
			return fmt.Errorf("not a PostgreSQL connection: %T", dc)
		}
		rr := pc.c.Conn().PgConn().ExecParams(r.ctx, "SELECT data FROM body_chunks WHERE name = $1 AND seq = $2",
			[][]byte{[]byte(r.name), strconv.AppendInt(nil, seq, 10)}, nil, nil, []int16{1})
		for rr.NextRow() {
			r.data, found = append(r.data[:0], rr.Values()[0]...), true
		}
		_, err := rr.Close()
		return err
	})
	if cerr := conn.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("body %s: chunk %d: %w", r.name, seq, err)
	case !found:
		return nil, fmt.Errorf("body %s: chunk %d is missing: %w", r.name, seq, io.ErrUnexpectedEOF)
	case int64(len(r.data)) != want:
		return nil, fmt.Errorf("body %s: chunk %d has %d bytes, want %d: %w", r.name, seq, len(r.data), want, io.ErrUnexpectedEOF)
	}
	r.seq = seq
	return r.data, nil
}

// ReadAt implements io.ReaderAt.
func (r *chunkReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("body %s: negative offset %d", r.name, off)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(p) && off < r.size {
		seq := off / bodyChunkSize
		data, err := r.chunk(seq)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], data[off-seq*bodyChunkSize:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read implements io.Reader.
func (r *chunkReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil // the next Read says EOF
	}
	return n, err
}

// Seek implements io.Seeker.
func (r *chunkReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("body %s: bad whence %d", r.name, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("body %s: seek to a negative offset", r.name)
	}
	r.off = offset
	return offset, nil
}

// Close drops the chunk held.
func (r *chunkReader) Close() error {
	r.mu.Lock()
	r.seq, r.data = -1, nil
	r.mu.Unlock()
	return nil
}
