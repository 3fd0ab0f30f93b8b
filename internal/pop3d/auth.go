package pop3d

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"time"
)

// authAllowed reports whether this connection may log in now.
func (c *conn) authAllowed() bool { return c.tls || c.s.o.InsecureAuth }

// capa lists the capabilities of the current state (RFC 2449 5).
func (c *conn) capa(string) error {
	c.reply("+OK Capability list follows")
	c.reply("TOP")
	c.reply("UIDL")
	c.reply("RESP-CODES")
	c.reply("AUTH-RESP-CODE")
	c.reply("PIPELINING")
	if c.sess == nil {
		if c.authAllowed() {
			c.reply("USER")
			c.reply("SASL PLAIN")
		}
		if c.s.o.TLSConfig != nil && !c.tls {
			c.reply("STLS")
		}
	}
	c.reply("IMPLEMENTATION boxmail")
	c.reply(".")
	return nil
}

// stls starts TLS (RFC 2595 4).
func (c *conn) stls(string) error {
	if c.tls {
		c.reply("-ERR Already using TLS")
		return nil
	}
	if c.s.o.TLSConfig == nil {
		c.reply("-ERR TLS not available")
		return nil
	}
	// Commands pipelined behind STLS were sent in clear and would be run
	// as if they came through TLS (the STARTTLS injection of
	// CVE-2011-0411): refuse them.
	if c.r.Buffered() > 0 {
		c.reply("-ERR Commands after STLS must wait for TLS")
		return errQuit
	}
	c.reply("+OK Begin TLS negotiation")
	if err := c.flush(); err != nil {
		return err
	}
	tc := tls.Server(c.nc, c.s.o.TLSConfig)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.log.Debug("pop3 STLS handshake failed", "err", err)
		return err
	}
	tc.SetDeadline(time.Time{})
	c.nc, c.tls = tc, true
	c.r, c.w = bufio.NewReaderSize(tc, maxLine), bufio.NewWriter(deadlineWriter{tc})
	c.user = "" // the client starts over (RFC 2595 4)
	return nil
}

const plainRefused = "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections: use STLS or port 995"

func (c *conn) userCmd(arg string) error {
	if !c.authAllowed() {
		c.reply(plainRefused)
		return nil
	}
	if arg == "" {
		return c.badCommand("-ERR USER needs a name")
	}
	c.user = arg
	c.reply("+OK Send the password") // no hint whether the account exists
	return nil
}

func (c *conn) pass(arg string) error {
	if !c.authAllowed() {
		c.reply(plainRefused)
		return nil
	}
	if c.user == "" {
		c.reply("-ERR USER first")
		return nil
	}
	user := c.user
	c.user = ""
	return c.login(user, arg)
}

// auth runs AUTH (RFC 5034): PLAIN, with or without an initial response.
// "AUTH" alone lists the mechanisms.
func (c *conn) auth(arg string) error {
	mech, ir, hasIR := strings.Cut(arg, " ")
	if mech == "" {
		c.reply("+OK Mechanisms follow")
		if c.authAllowed() {
			c.reply("PLAIN")
		}
		c.reply(".")
		return nil
	}
	if !c.authAllowed() {
		c.reply(plainRefused)
		return nil
	}
	if !strings.EqualFold(mech, "PLAIN") {
		c.reply("-ERR Unsupported authentication mechanism")
		return nil
	}
	if !hasIR {
		c.reply("+ ")
		if err := c.flush(); err != nil {
			return err
		}
		line, err := c.readLine()
		if err != nil {
			c.readFailed(err)
			return errQuit
		}
		ir = line
	}
	if ir == "*" {
		c.reply("-ERR Authentication cancelled")
		return nil
	}
	if ir == "=" { // an empty initial response (RFC 5034 4)
		ir = ""
	}
	b, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		c.reply("-ERR Invalid base64")
		return nil
	}
	user, pass, err := parsePlain(b)
	if err != nil {
		c.reply("-ERR [AUTH] Authentication failed")
		return nil
	}
	return c.login(user, pass)
}

// login checks the credentials through the limiter and enters the
// TRANSACTION state.
func (c *conn) login(user, pass string) error {
	ctx, cancel := c.opCtx()
	defer cancel()
	var sess Session
	err := c.s.o.Guard.Login(ctx, c.ip, user, pass, func() error {
		var err error
		sess, err = c.s.o.Backend.Login(ctx, user, pass, c.ip)
		return err
	})
	switch {
	case errors.Is(err, ErrAuthFailed):
		c.log.Info("pop3 login failed", "user", printable(user))
		c.s.o.Metrics.Login("pop3", false)
		c.reply("-ERR [AUTH] Authentication failed")
		return nil
	case errors.Is(err, ErrInUse):
		c.log.Info("pop3 maildrop in use", "user", printable(user))
		c.reply("-ERR [IN-USE] Mailbox is locked by another POP3 session")
		return nil
	case err != nil:
		c.log.Error("pop3 login", "user", printable(user), "err", err)
		c.reply("-ERR [SYS/TEMP] Internal error, try again later")
		return nil
	}
	c.sess = sess
	c.msgs = sess.Messages()
	c.deleted = make([]bool, len(c.msgs))
	c.retrieved = make([]bool, len(c.msgs))
	c.log = c.log.With("user", user)
	c.log.Info("pop3 login", "messages", len(c.msgs))
	c.s.o.Metrics.Login("pop3", true)
	c.replyf("+OK Logged in, %d messages", len(c.msgs))
	return nil
}

// printable shortens a client-chosen name for the log.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return s
}
