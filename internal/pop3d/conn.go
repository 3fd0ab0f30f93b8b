package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// opTimeout bounds one backend operation of a command.
const opTimeout = time.Minute

// maxBadCommands unknown or malformed commands end a session.
const maxBadCommands = 10

// conn is one POP3 session.
type conn struct {
	s   *Server
	ctx context.Context // cancelled by Shutdown
	raw net.Conn        // as accepted: netserve tracks it
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	log *slog.Logger
	ip  netip.Addr
	tls bool

	user string  // after USER
	sess Session // nil in the AUTHORIZATION state
	msgs []Message
	// deleted and retrieved are per message (0-based) for this session.
	deleted, retrieved []bool
	bad                int
}

func (s *Server) newConn(ctx context.Context, nc net.Conn) *conn {
	id := s.nextID.Add(1)
	c := &conn{s: s, ctx: ctx, raw: nc, nc: nc, r: bufio.NewReaderSize(nc, maxLine), w: bufio.NewWriter(deadlineWriter{nc})}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.ip = a.AddrPort().Addr().Unmap()
	} else if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.ip = ap.Addr().Unmap()
	}
	c.log = s.log.With("session", id, "remote", nc.RemoteAddr().String())
	_, c.tls = nc.(*tls.Conn)
	return c
}

// errQuit ends the command loop after a reply.
var errQuit = errors.New("quit")

func (c *conn) serve() {
	defer func() { // also when a handler panics (netserve logs it)
		if c.sess != nil {
			if err := c.sess.Close(); err != nil {
				c.log.Warn("pop3 session close", "err", err)
			}
		}
		closeConn(c.nc)
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			c.log.Debug("pop3 TLS handshake failed", "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
	}
	c.log.Debug("pop3 connection")
	c.reply("+OK boxmail POP3 server ready")
	if c.flush() != nil {
		return // the client has gone
	}
	for {
		line, err := c.readLine()
		if err != nil {
			c.readFailed(err)
			return
		}
		if err := c.command(line); err != nil {
			_ = c.flush() // the session ends here, whether the last reply got out or not
			return
		}
		if c.r.Buffered() == 0 { // pipelined commands get one flush (RFC 2449 6.6)
			if c.flush() != nil {
				return
			}
		}
	}
}

// readLine reads one line (without CRLF) within the idle timeout.
func (c *conn) readLine() (string, error) {
	if !c.s.ns.ArmRead(c.raw, c.s.o.IdleTimeout) {
		return "", errShutdown
	}
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(line, "\r\n")), nil
}

var (
	errShutdown    = errors.New("shutting down")
	errLineTooLong = errors.New("line too long")
)

// readFailed says goodbye after a failed read where it still can.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errShutdown), c.s.ns.Closing():
		c.reply("-ERR [SYS/TEMP] Server shutting down, try again later")
	case errors.Is(err, errLineTooLong):
		c.reply("-ERR Line too long")
	case errors.As(err, &ne) && ne.Timeout():
		c.reply("-ERR Autologout: idle for too long")
	default:
		return // EOF or a broken connection
	}
	_ = c.flush() // the session ends here, whether the goodbye got out or not
}

// closeConn closes the connection at the end of a session; a close error
// (the client has gone) changes nothing.
func closeConn(nc net.Conn) {
	_ = nc.Close() //nolint:errcheck // see above
}

func (c *conn) reply(line string) {
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
}

func (c *conn) replyf(format string, a ...any) {
	fmt.Fprintf(c.w, format, a...)
	c.w.WriteString("\r\n")
}

func (c *conn) flush() error { return c.w.Flush() }

// writeTimeout bounds each write to the client, so a big RETR may take
// as long as the client keeps reading, but a client that stops reading
// is dropped.
const writeTimeout = time.Minute

// deadlineWriter arms the write deadline before each write.
type deadlineWriter struct{ nc net.Conn }

func (w deadlineWriter) Write(b []byte) (int, error) {
	w.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return w.nc.Write(b)
}

// opCtx bounds one backend operation; Shutdown cancels it.
func (c *conn) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, opTimeout)
}

// command runs one command line; a non-nil error ends the session.
func (c *conn) command(line string) error {
	cmd, arg, err := parseCommand(line)
	if err != nil {
		return c.badCommand("-ERR Syntax error")
	}
	h := c.handler(cmd)
	if h == nil {
		return c.badCommand("-ERR Unknown command " + cmd)
	}
	return h(arg)
}

// handler returns the function of a command in the current state, or
// nil for an unknown command.
func (c *conn) handler(cmd string) func(arg string) error {
	authorization := c.sess == nil
	switch cmd {
	case "CAPA":
		return c.capa
	case "QUIT":
		return c.quit
	case "STLS", "USER", "PASS", "AUTH":
		if !authorization {
			return c.already
		}
	case "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP":
		if authorization {
			return c.notYet
		}
	}
	switch cmd {
	case "STLS":
		return c.stls
	case "USER":
		return c.userCmd
	case "PASS":
		return c.pass
	case "AUTH":
		return c.auth
	case "STAT":
		return c.stat
	case "LIST":
		return c.list
	case "UIDL":
		return c.uidl
	case "RETR":
		return c.retr
	case "TOP":
		return c.top
	case "DELE":
		return c.dele
	case "RSET":
		return c.rset
	case "NOOP":
		return c.noop
	}
	return nil
}

// badCommand answers an unknown or malformed command and ends the session
// after too many.
func (c *conn) badCommand(reply string) error {
	c.bad++
	if c.bad >= maxBadCommands {
		c.reply("-ERR Too many bad commands, closing connection")
		return errQuit
	}
	c.reply(reply)
	return nil
}

func (c *conn) notYet(string) error {
	c.reply("-ERR Log in first")
	return nil
}

func (c *conn) already(string) error {
	c.reply("-ERR Already logged in")
	return nil
}

// quit ends the session; in the TRANSACTION state it enters UPDATE first
// (RFC 1939 6).
func (c *conn) quit(string) error {
	if c.sess == nil {
		c.reply("+OK Bye")
		return errQuit
	}
	var ret, del []int
	for i := range c.msgs {
		if c.deleted[i] {
			del = append(del, i)
		} else if c.retrieved[i] {
			ret = append(ret, i)
		}
	}
	// The UPDATE state finishes even when Shutdown comes meanwhile: it is
	// one short store transaction, and cancelling it would only leave the
	// client's deletions undone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), opTimeout)
	defer cancel()
	if err := c.sess.Update(ctx, ret, del); err != nil {
		c.log.Error("pop3 update failed", "err", err)
		c.reply("-ERR [SYS/TEMP] Deleted messages were not removed, try again")
		return errQuit
	}
	if len(del) > 0 {
		c.log.Info("pop3 deleted", "messages", len(del))
	}
	c.replyf("+OK Bye, %d messages deleted", len(del))
	return errQuit
}

// writeBody writes a multi-line response body (RFC 1939 3) read from r:
// lines end in CRLF, a line starting with "." gets another, and the end
// is ".". With maxBodyLines >= 0 only the header and that many body lines
// are sent (TOP). The message is read a buffer at a time, never whole; a
// line longer than the buffer goes out in pieces. A read or write error
// ends the response without its "." (the caller ends the session).
func (c *conn) writeBody(r io.Reader, maxBodyLines int) error {
	br := bufio.NewReaderSize(r, bodyBuffer)
	inBody, bodyLines := false, 0
	// lineStart: at the start of a message line; cr: the last piece of a
	// long line ended in a CR, held back until it is known whether an LF
	// follows (a CR before the LF is dropped, the line gets CRLF).
	lineStart, cr := true, false
	for !(lineStart && inBody && maxBodyLines >= 0 && bodyLines >= maxBodyLines) {
		piece, err := br.ReadSlice('\n')
		eof := errors.Is(err, io.EOF)
		if err != nil && !eof && !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
		complete := len(piece) > 0 && piece[len(piece)-1] == '\n'
		line := piece
		if complete {
			line = bytes.TrimSuffix(piece[:len(piece)-1], []byte("\r"))
		}
		if cr {
			// Dropped before the LF, or at the end as a last line's.
			if !(complete && len(piece) == 1) && !(eof && len(piece) == 0) {
				c.w.WriteByte('\r')
			}
			cr = false
		}
		if !complete && len(line) > 0 && line[len(line)-1] == '\r' {
			line, cr = line[:len(line)-1], !eof // at the end, a last line's CR goes as before its LF
		}
		if lineStart && len(line) > 0 && line[0] == '.' {
			c.w.WriteByte('.')
		}
		if _, err := c.w.Write(line); err != nil {
			return fmt.Errorf("%w: %w", errClientGone, err) // read no further
		}
		if complete {
			c.w.WriteString("\r\n")
			if inBody {
				bodyLines++
			} else if lineStart && len(line) == 0 {
				inBody = true
			}
			lineStart = true
		} else if len(piece) > 0 {
			lineStart = false
		}
		if eof {
			break
		}
	}
	if !lineStart {
		c.w.WriteString("\r\n") // the last line had no line end
	}
	c.w.WriteString(".\r\n")
	return nil
}

// errClientGone is a write to the client that failed.
var errClientGone = errors.New("the client has gone")

// bodyBuffer is what writeBody reads of a message at a time.
const bodyBuffer = 32 << 10
