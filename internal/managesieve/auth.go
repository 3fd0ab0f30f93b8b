package managesieve

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// starttls starts TLS (RFC 5804 2.2).
func (c *conn) starttls([]string) (bool, error) {
	if c.tls {
		return false, &Error{Msg: "TLS is already active"}
	}
	if c.s.o.TLSConfig == nil {
		return false, &Error{Msg: "STARTTLS is not available"}
	}
	if c.r.Buffered() > 0 {
		return true, &Error{Msg: "data after STARTTLS"}
	}
	c.reply("OK", "", "begin TLS negotiation")
	if err := c.flush(); err != nil {
		return true, nil
	}
	tc := tls.Server(c.nc, c.s.o.TLSConfig)
	if err := tc.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return true, nil
	}
	if err := tc.Handshake(); err != nil {
		c.log.Debug("TLS handshake failed", "err", err)
		return true, nil
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		return true, nil
	}
	c.nc, c.tls = tc, true
	c.r.Reset(tc)
	c.w.Reset(tc)
	// RFC 5804 2.2: the capabilities again, as after the greeting.
	c.capabilities()
	c.reply("OK", "", "TLS active")
	return false, nil
}

// authFailedDelay slows down password guessing on one connection.
const authFailedDelay = 500 * time.Millisecond

// authenticate is AUTHENTICATE PLAIN (RFC 5804 2.1, RFC 4616).
func (c *conn) authenticate(args []string) (bool, error) {
	if c.sess != nil {
		return false, &Error{Msg: "already authenticated"}
	}
	if !c.tls && !c.s.o.InsecureAuth {
		return false, &Error{Code: "ENCRYPT-NEEDED", Msg: "use STARTTLS first"}
	}
	if len(args) < 1 || len(args) > 2 {
		return false, &Error{Msg: `usage: AUTHENTICATE "PLAIN" [initial-response]`}
	}
	if !strings.EqualFold(args[0], "PLAIN") {
		return false, &Error{Msg: "only PLAIN is supported"}
	}
	resp := ""
	if len(args) == 2 {
		resp = args[1]
	} else {
		c.line(`""`)
		if err := c.flush(); err != nil {
			return false, err
		}
		a, err := readContinuation(c)
		if err != nil {
			return false, err
		}
		resp = a
	}
	user, pass, err := decodePlain(resp)
	if err != nil {
		return false, err
	}
	return false, c.login(user, pass)
}

// decodePlain decodes a PLAIN response (RFC 4616) into user and password.
func decodePlain(resp string) (user, pass string, err error) {
	if resp == "*" {
		return "", "", &Error{Msg: "authentication cancelled"}
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return "", "", &Error{Msg: "bad base64 in the PLAIN response"}
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		return "", "", &Error{Msg: "bad PLAIN response"}
	}
	authz, user, pass := parts[0], parts[1], parts[2]
	if authz != "" && !strings.EqualFold(authz, user) {
		return "", "", &Error{Msg: "authorization as another user is not allowed"}
	}
	return user, pass, nil
}

// login checks the credentials through the login limiter and the Backend.
func (c *conn) login(user, pass string) error {
	ap, _ := netip.ParseAddrPort(c.nc.RemoteAddr().String()) // a zero address limits nothing
	ip := ap.Addr().Unmap()
	ctx, cancel := c.opCtx()
	defer cancel()
	var sess Session
	err := c.s.o.Guard.Login(ctx, ip, user, pass, func() (err error) {
		sess, err = c.s.o.Backend.Login(ctx, user, pass, ip)
		return err
	})
	if errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrNotFound) {
		c.log.Info("authentication failed", "user", user)
		select {
		case <-time.After(authFailedDelay):
		case <-ctx.Done():
		}
		return &Error{Msg: "authentication failed"}
	} else if err != nil {
		return err
	}
	c.sess = sess
	c.log.Info("authenticated", "user", sess.Owner())
	c.reply("OK", "", "logged in")
	return nil
}

// readContinuation reads the client's answer to a SASL challenge: one
// string (quoted or literal) on its own line.
func readContinuation(c *conn) (string, error) {
	line, err := readLine(c.r)
	if err != nil {
		return "", err
	}
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "{") {
		return strings.Trim(line, `"`), nil
	}
	n := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(line, "{"), "}"), "+")
	size, err := strconv.Atoi(n)
	if err != nil || size < 0 || size > maxLine {
		return "", &Error{Msg: "bad literal"}
	}
	buf := make([]byte, size)
	if _, err := ioReadFull(c.r, buf); err != nil {
		return "", err
	}
	if _, err := readLine(c.r); err != nil {
		return "", err
	}
	return string(buf), nil
}
