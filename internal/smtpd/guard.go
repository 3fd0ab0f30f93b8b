package smtpd

// The hooks of the shared defences (internal/guard), which decides:
// logins go through its limiter (Auth), inbound recipients through its
// DNSBL and greylisting (Rcpt), a bare-IP HELO from outside the trusted
// networks is refused, and a session that collects ten permanent errors
// is closed (go-smtp itself closes after the fourth unknown command).

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/emersion/go-smtp"

	"boxmail/internal/guard"
	"boxmail/internal/mailauth"
)

// maxErrors permanent errors end a session with 421.
const maxErrors = 10

// remoteIP is the client's address.
func (c *session) remoteIP() netip.Addr {
	ap, _ := netip.ParseAddrPort(c.remote)
	return ap.Addr().Unmap()
}

func refusal(r *guard.Refusal) *smtp.SMTPError {
	return smtpErr(r.Code, smtp.EnhancedCode(r.Enhanced), r.Text)
}

// checkHelo refuses an inbound client's bare-IP HELO (RFC 5321 4.1.3).
func (c *session) checkHelo() error {
	if c.s.o.Mode != Inbound {
		return nil
	}
	if _, trusted := c.trusted(); trusted {
		return nil
	}
	if r := guard.CheckHelo(c.c.Hostname()); r != nil {
		c.log.Info("invalid HELO", "helo", sanitizeHelo(c.c.Hostname()))
		return refusal(r)
	}
	return nil
}

// guardRcpt asks the guard about an inbound recipient: DNSBL, then
// greylisting, which asks for SPF only when it decides.
func (c *session) guardRcpt(ctx context.Context, to string) error {
	if c.s.o.Mode != Inbound || c.s.o.Guard == nil {
		return nil
	}
	ip := c.remoteIP()
	var checked, pass bool
	spfPass := func(ctx context.Context) bool {
		if !checked && c.s.o.Resolver != nil {
			checked = true
			ctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			res, _ := mailauth.CheckSPF(ctx, c.s.o.Resolver, ip, c.c.Hostname(), c.from)
			pass = res.Status == "pass"
		}
		return pass
	}
	if r := c.s.o.Guard.Rcpt(ctx, ip, c.from, to, spfPass); r != nil {
		return refusal(r)
	}
	return nil
}

// counted passes a command's reply through, and ends the session instead
// when it is the maxErrors-th permanent error.
func (c *session) counted(err error) error {
	se, ok := err.(*smtp.SMTPError)
	if !ok || se.Code < 500 {
		return err
	}
	c.errors++
	if c.errors < maxErrors {
		return err
	}
	c.log.Info("too many errors, closing", "errors", c.errors)
	c.bye.Do(func() {
		conn := c.c.Conn()
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		// A farewell: the connection closes next whether it got out or not.
		_, _ = io.WriteString(conn, fmt.Sprintf("421 4.7.0 Too many errors (last: %d %s), closing connection\r\n", se.Code, se.Message))
		conn.Close()
	})
	return err
}
