package wire

import (
	"io"
	"strconv"
	"sync"
)

// BufSize is the size of a BufWriter's buffer.
const BufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, BufSize); return &b }}

// BufWriter buffers an Encoder's output like bufio.Writer, except that it
// holds its buffer only while there is something to send: the buffer is
// borrowed from a pool on the first write and handed back by Flush. An
// IMAP connection spends nearly all its life waiting (most of all in
// IDLE), and a bufio.Writer kept 16 KiB per connection for that wait, 40%
// of an idle connection's memory (BenchmarkIdleConnMemory in
// internal/imapd). The first write error sticks.
type BufWriter struct {
	w      io.Writer
	buf    []byte  // BufSize long while held, nil while empty
	n      int     // bytes of buf in use
	pooled *[]byte // what buf came from, for the pool
	err    error
}

// NewBufWriter returns a BufWriter writing to w.
func NewBufWriter(w io.Writer) *BufWriter { return &BufWriter{w: w} }

// Buffered is how many bytes wait for Flush.
func (b *BufWriter) Buffered() int { return b.n }

// room makes sure there is a buffer with room for at least one byte,
// sending what is buffered if it is full.
func (b *BufWriter) room() {
	if b.buf == nil {
		b.pooled = bufPool.Get().(*[]byte)
		b.buf = (*b.pooled)[:BufSize]
	}
	if b.n == len(b.buf) {
		b.send()
	}
}

// send writes out what is buffered, keeping the buffer.
func (b *BufWriter) send() {
	if b.err != nil || b.n == 0 {
		return
	}
	n, err := b.w.Write(b.buf[:b.n])
	if err == nil && n < b.n {
		err = io.ErrShortWrite
	}
	b.err = err
	b.n = 0
}

// Flush writes out what is buffered and gives the buffer back.
func (b *BufWriter) Flush() error {
	b.send()
	if b.buf != nil {
		bufPool.Put(b.pooled)
		b.buf, b.pooled, b.n = nil, nil, 0
	}
	return b.err
}

// WriteByte buffers one byte.
func (b *BufWriter) WriteByte(c byte) error {
	if b.err != nil {
		return b.err
	}
	if b.n == len(b.buf) {
		b.room()
		if b.err != nil {
			return b.err
		}
	}
	b.buf[b.n] = c
	b.n++
	return nil
}

// WriteString buffers s.
func (b *BufWriter) WriteString(s string) (int, error) {
	n := 0
	for len(s) > 0 && b.err == nil {
		if b.n == len(b.buf) {
			b.room()
			if b.err != nil {
				break
			}
		}
		k := copy(b.buf[b.n:], s)
		b.n += k
		s, n = s[k:], n+k
	}
	return n, b.err
}

// Write buffers p; a write bigger than the buffer goes out directly once
// what was buffered before it has.
func (b *BufWriter) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) >= BufSize {
		b.send()
		if b.err != nil {
			return 0, b.err
		}
		n, err := b.w.Write(p)
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
		b.err = err
		return n, err
	}
	n := 0
	for len(p) > 0 && b.err == nil {
		if b.n == len(b.buf) {
			b.room()
			if b.err != nil {
				break
			}
		}
		k := copy(b.buf[b.n:], p)
		b.n += k
		p, n = p[k:], n+k
	}
	return n, b.err
}

// WriteUint buffers n in decimal, formatted in place.
func (b *BufWriter) WriteUint(n uint64) error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf)-b.n < 20 { // the longest uint64
		b.room()
		if len(b.buf)-b.n < 20 {
			b.send()
		}
		if b.err != nil {
			return b.err
		}
	}
	b.n += len(strconv.AppendUint(b.buf[b.n:b.n], n, 10))
	return nil
}
