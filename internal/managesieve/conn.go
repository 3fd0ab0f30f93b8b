package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"boxmail/internal/sieve"
)

// Error is a reply the client should see: NO with an optional response
// code (RFC 5804 1.3) and a one-line message.
type Error struct {
	Code string // "NONEXISTENT", "ACTIVE", "ALREADYEXISTS", "QUOTA/MAXSCRIPTS", ...
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// opTimeout bounds the backend work of one command.
const opTimeout = time.Minute

type conn struct {
	s   *Server
	ctx context.Context // cancelled by Shutdown
	raw net.Conn        // as accepted: netserve tracks it
	nc  net.Conn        // raw, or TLS over it after STARTTLS
	r   *bufio.Reader
	w   *bufio.Writer
	tls bool
	log *slog.Logger

	sess Session // nil until AUTHENTICATE succeeds
}

func newConn(ctx context.Context, s *Server, nc net.Conn) *conn {
	_, isTLS := nc.(*tls.Conn)
	return &conn{s: s, ctx: ctx, raw: nc, nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc), tls: isTLS,
		log: s.log.With("remote", nc.RemoteAddr().String())}
}

// opCtx bounds one backend operation; Shutdown cancels it.
func (c *conn) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, opTimeout)
}

func (c *conn) line(format string, a ...any) {
	fmt.Fprintf(c.w, format+"\r\n", a...)
}

func (c *conn) flush() error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
		return err
	}
	return c.w.Flush()
}

// reply sends OK/NO: text must be one line.
func (c *conn) reply(kind, code, text string) {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r", " "), "\n", " ")
	if code != "" {
		c.line("%s (%s) %s", kind, code, quote(text))
	} else {
		c.line("%s %s", kind, quote(text))
	}
}

func (c *conn) capabilities() {
	c.line(`"IMPLEMENTATION" "boxmail"`)
	if c.tls || c.s.o.InsecureAuth {
		c.line(`"SASL" "PLAIN"`)
	} else {
		c.line(`"SASL" ""`)
	}
	c.line(`"SIEVE" %s`, quote(strings.Join(sieve.Extensions, " ")))
	if !c.tls && c.s.o.TLSConfig != nil {
		c.line(`"STARTTLS"`)
	}
	c.line(`"MAXREDIRECTS" "%d"`, c.s.o.MaxRedirects)
	if c.sess != nil {
		c.line(`"OWNER" %s`, quote(c.sess.Owner()))
	}
	c.line(`"VERSION" "1.0"`)
}

// bye says goodbye before the connection is closed (netserve closes it).
func (c *conn) bye(text string) {
	c.line("BYE %s", quote(text))
	if err := c.flush(); err != nil {
		c.log.Debug("BYE not sent", "err", err)
	}
}

func (c *conn) serve() {
	defer func() { _ = c.nc.Close() }() //nolint:errcheck // the client may have gone; TLS sends its close_notify
	c.capabilities()
	c.reply("OK", "", "boxmail ManageSieve ready")
	if c.flush() != nil {
		return
	}
	for {
		name, args, ok := c.next()
		if !ok {
			return
		}
		if name == "" {
			continue // a syntax error, answered
		}
		c.log.Debug("command", "cmd", name, "args", len(args))
		done, err := c.run(name, args)
		if err != nil {
			c.replyError(name, err)
		}
		if c.flush() != nil || done {
			return
		}
	}
}

// next reads the next command. ok false ends the session (after a BYE
// where one is due); an empty name is a syntax error already answered.
func (c *conn) next() (name string, args []string, ok bool) {
	if !c.s.ns.ArmRead(c.raw, c.s.o.IdleTimeout) {
		c.bye("server shutting down")
		return "", nil, false
	}
	limit := maxPreAuth
	if c.sess != nil {
		limit = maxAuthed
	}
	name, args, err := readCommand(c.r, limit)
	var pe protoError
	var ne net.Error
	switch {
	case err == nil:
		if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
			return "", nil, false
		}
		return name, args, true
	case errors.As(err, &pe) && pe.fatal:
		c.bye(pe.msg)
		return "", nil, false
	case errors.As(err, &pe):
		c.reply("NO", "", pe.msg)
		return "", nil, c.flush() == nil
	case errors.As(err, &ne) && ne.Timeout():
		if c.s.ns.Closing() {
			c.bye("server shutting down")
		} else {
			c.bye("idle too long")
		}
	case !errors.Is(err, io.EOF):
		c.log.Debug("read failed", "err", err)
	}
	return "", nil, false
}

// replyError answers a failed command: an *Error as it says, anything
// else logged and answered generically.
func (c *conn) replyError(name string, err error) {
	var e *Error
	if errors.As(err, &e) {
		c.reply("NO", e.Code, e.Msg)
		return
	}
	c.log.Error("command failed", "cmd", name, "err", err)
	c.reply("NO", "", "internal error, try again later")
}
