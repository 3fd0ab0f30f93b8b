package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

// Error is a reply the client should see: NO with an optional response
// code (RFC 5804 1.3) and a one-line message.
type Error struct {
	Code string // "NONEXISTENT", "ACTIVE", "ALREADYEXISTS", "QUOTA/MAXSCRIPTS", ...
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

type conn struct {
	s   *Server
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	tls bool

	account store.Account
	authed  bool

	mu      sync.Mutex
	closing bool
}

func newConn(s *Server, nc net.Conn) *conn {
	_, isTLS := nc.(*tls.Conn)
	return &conn{s: s, nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc), tls: isTLS}
}

func (c *conn) shutdown() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	// Wake a connection waiting for a command; it answers BYE.
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func (c *conn) line(format string, a ...any) {
	fmt.Fprintf(c.w, format+"\r\n", a...)
}

func (c *conn) flush() error {
	c.nc.SetWriteDeadline(time.Now().Add(time.Minute))
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
	if c.authed {
		c.line(`"OWNER" %s`, quote(c.account.Email))
	}
	c.line(`"VERSION" "1.0"`)
}

func (c *conn) serve() {
	defer c.nc.Close()
	log := c.s.log.With("remote", c.nc.RemoteAddr().String())
	c.capabilities()
	c.reply("OK", "", "boxmail ManageSieve ready")
	if c.flush() != nil {
		return
	}
	for {
		if c.isClosing() {
			c.line(`BYE "server shutting down"`)
			c.flush()
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(c.s.o.IdleTimeout))
		limit := maxPreAuth
		if c.authed {
			limit = maxAuthed
		}
		name, args, err := readCommand(c.r, limit)
		var pe protoError
		switch {
		case errors.As(err, &pe):
			if pe.fatal {
				c.line("BYE %s", quote(pe.msg))
				c.flush()
				return
			}
			c.reply("NO", "", pe.msg)
			if c.flush() != nil {
				return
			}
			continue
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if c.isClosing() {
					c.line(`BYE "server shutting down"`)
				} else {
					c.line(`BYE "idle too long"`)
				}
				c.flush()
			} else if !errors.Is(err, io.EOF) {
				log.Debug("read failed", "err", err)
			}
			return
		}
		c.nc.SetReadDeadline(time.Time{})
		log.Debug("command", "cmd", name, "args", len(args))
		done, err := c.dispatch(name, args)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				c.reply("NO", e.Code, e.Msg)
			} else {
				log.Error("command failed", "cmd", name, "err", err)
				c.reply("NO", "", "internal error, try again later")
			}
		}
		if c.flush() != nil || done {
			return
		}
	}
}

func (c *conn) ctx() context.Context { return context.Background() }
