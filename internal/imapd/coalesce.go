package imapd

import (
	"net"
	"sync"
	"time"
)

// go-imap's server flushes its writer after every response line, so
// "FETCH 1:* (FLAGS)" on a 100,000-message mailbox costs 100,000 write
// system calls (and as many TLS records). CoalesceWrites puts a buffer
// under the TLS layer that gathers those writes and sends them when the
// server next waits for the client (Read), when the buffer is full, or a
// moment after the first write into an empty buffer (for pushes such as
// IDLE updates, which no Read follows).

// coalesceDelay bounds how long a write may wait in the buffer.
const coalesceDelay = 500 * time.Microsecond

// coalesceLimit is the buffer size that triggers an immediate send.
const coalesceLimit = 64 << 10

// CoalesceWrites wraps a plain TCP listener so that each accepted
// connection gathers small writes. Apply it below TLS:
// tls.NewListener(imapd.CoalesceWrites(l), conf).
func CoalesceWrites(l net.Listener) net.Listener { return coalescingListener{l} }

type coalescingListener struct{ net.Listener }

func (l coalescingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &coalescingConn{Conn: c}, nil
}

// sendTimeout bounds a send for which no write deadline is set.
const sendTimeout = 30 * time.Second

type coalescingConn struct {
	net.Conn
	mu       sync.Mutex
	buf      []byte
	timer    *time.Timer
	err      error     // a failed background send, reported by the next call
	deadline time.Time // the write deadline last set; see SetWriteDeadline
}

// SetWriteDeadline records the deadline for the sends that follow.
// go-imap sets one before each response line and clears it after: for a
// FETCH of 100,000 messages, 200,000 changes of the socket's timer that
// cost a fifth of the command. Here only a send applies a deadline: the
// one recorded, or sendTimeout from now when there is none.
func (c *coalescingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// SetDeadline sets the read deadline now and records the write deadline.
func (c *coalescingConn) SetDeadline(t time.Time) error {
	_ = c.SetWriteDeadline(t) // it only records t, and never fails
	return c.Conn.SetReadDeadline(t)
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	first := len(c.buf) == 0
	c.buf = append(c.buf, p...)
	if len(c.buf) >= coalesceLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	// The timer runs from the first write into an empty buffer, not the
	// last: resetting it on each of 100,000 FETCH lines cost more than
	// the sends it saves.
	if first {
		if c.timer == nil {
			c.timer = time.AfterFunc(coalesceDelay, c.flushLater)
		} else {
			c.timer.Reset(coalesceDelay)
		}
	}
	return len(p), nil
}

func (c *coalescingConn) flushLater() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flushLocked(); err != nil && c.err == nil {
		c.err = err
	}
}

func (c *coalescingConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	d := c.deadline
	if d.IsZero() {
		d = time.Now().Add(sendTimeout)
	}
	if err := c.Conn.SetWriteDeadline(d); err != nil {
		return err
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > 4*coalesceLimit {
		c.buf = nil // do not keep a large buffer for an idle session
	}
	return err
}

// Read sends what is pending first: the client may be waiting for it.
func (c *coalescingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.flushLocked()
	if err == nil {
		err = c.err
	}
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Close sends what is pending, then closes. TLS's Close has just set the
// write deadline to "now" after its close_notify alert (so that it cannot
// block), which would fail this last send: give it a moment of its own.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if len(c.buf) > 0 {
		c.deadline = time.Now().Add(2 * time.Second)
	}
	ferr := c.flushLocked()
	c.mu.Unlock()
	if err := c.Conn.Close(); err != nil {
		return err
	}
	return ferr // the client did not get the last responses
}
