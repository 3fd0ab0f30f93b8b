package managesieve

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

func wantArgs(args []string, n int, usage string) error {
	if len(args) != n {
		return &Error{Msg: "usage: " + usage}
	}
	return nil
}

// dispatch runs one command; done means close the connection.
func (c *conn) dispatch(name string, args []string) (done bool, err error) {
	switch name {
	case "CAPABILITY":
		c.capabilities()
		c.reply("OK", "", "capability completed")
		return false, nil
	case "NOOP":
		if len(args) == 1 {
			c.reply("OK", "TAG "+quote(args[0]), "done")
		} else {
			c.reply("OK", "", "done")
		}
		return false, nil
	case "LOGOUT":
		c.reply("OK", "", "bye")
		return true, nil
	case "STARTTLS":
		return c.starttls()
	case "AUTHENTICATE":
		return false, c.authenticate(args)
	}
	if !c.authed {
		switch name {
		case "LISTSCRIPTS", "GETSCRIPT", "PUTSCRIPT", "CHECKSCRIPT", "SETACTIVE", "DELETESCRIPT", "RENAMESCRIPT", "HAVESPACE":
			return false, &Error{Msg: "authenticate first"}
		}
		return false, &Error{Msg: fmt.Sprintf("unknown command %s", name)}
	}
	ctx := c.ctx()
	st := c.s.o.Store
	id := c.account.ID
	switch name {
	case "LISTSCRIPTS":
		l, err := st.SieveScripts(ctx, id)
		if err != nil {
			return false, err
		}
		for _, s := range l {
			if s.Active {
				c.line("%s ACTIVE", quote(s.Name))
			} else {
				c.line("%s", quote(s.Name))
			}
		}
		c.reply("OK", "", "listscripts completed")
	case "GETSCRIPT":
		if err := wantArgs(args, 1, "GETSCRIPT name"); err != nil {
			return false, err
		}
		s, err := st.SieveScriptByName(ctx, id, args[0])
		if errors.Is(err, store.ErrNotFound) {
			return false, &Error{Code: "NONEXISTENT", Msg: "there is no script " + args[0]}
		} else if err != nil {
			return false, err
		}
		c.line("{%d}\r\n%s", len(s.Content), s.Content)
		c.reply("OK", "", "getscript completed")
	case "CHECKSCRIPT":
		if err := wantArgs(args, 1, "CHECKSCRIPT script"); err != nil {
			return false, err
		}
		if err := check(args[0]); err != nil {
			return false, err
		}
		c.reply("OK", "", "script is valid")
	case "PUTSCRIPT":
		if err := wantArgs(args, 2, "PUTSCRIPT name script"); err != nil {
			return false, err
		}
		if err := checkName(args[0]); err != nil {
			return false, err
		}
		if err := check(args[1]); err != nil {
			return false, err
		}
		if err := c.checkCount(args[0]); err != nil {
			return false, err
		}
		if err := st.PutSieveScript(ctx, id, args[0], args[1]); err != nil {
			return false, err
		}
		c.s.log.Info("script stored", "account", c.account.Email, "script", args[0], "size", len(args[1]))
		c.reply("OK", "", "putscript completed")
	case "SETACTIVE":
		if err := wantArgs(args, 1, "SETACTIVE name"); err != nil {
			return false, err
		}
		err := st.SetActiveSieveScript(ctx, id, args[0])
		if errors.Is(err, store.ErrNotFound) {
			return false, &Error{Code: "NONEXISTENT", Msg: "there is no script " + args[0]}
		} else if err != nil {
			return false, err
		}
		c.s.log.Info("script activated", "account", c.account.Email, "script", args[0])
		c.reply("OK", "", "setactive completed")
	case "DELETESCRIPT":
		if err := wantArgs(args, 1, "DELETESCRIPT name"); err != nil {
			return false, err
		}
		err := st.DeleteSieveScript(ctx, id, args[0])
		switch {
		case errors.Is(err, store.ErrNotFound):
			return false, &Error{Code: "NONEXISTENT", Msg: "there is no script " + args[0]}
		case errors.Is(err, store.ErrScriptActive):
			return false, &Error{Code: "ACTIVE", Msg: "the script is active; deactivate it first"}
		case err != nil:
			return false, err
		}
		c.reply("OK", "", "deletescript completed")
	case "RENAMESCRIPT":
		if err := wantArgs(args, 2, "RENAMESCRIPT old new"); err != nil {
			return false, err
		}
		if err := checkName(args[1]); err != nil {
			return false, err
		}
		err := st.RenameSieveScript(ctx, id, args[0], args[1])
		switch {
		case errors.Is(err, store.ErrNotFound):
			return false, &Error{Code: "NONEXISTENT", Msg: "there is no script " + args[0]}
		case errors.Is(err, store.ErrExists):
			return false, &Error{Code: "ALREADYEXISTS", Msg: "a script " + args[1] + " exists"}
		case err != nil:
			return false, err
		}
		c.reply("OK", "", "renamescript completed")
	case "HAVESPACE":
		if err := wantArgs(args, 2, "HAVESPACE name size"); err != nil {
			return false, err
		}
		n, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || n < 0 {
			return false, &Error{Msg: "size must be a number"}
		}
		if err := checkName(args[0]); err != nil {
			return false, err
		}
		if n > sieve.MaxScriptSize {
			return false, &Error{Code: "QUOTA/MAXSIZE", Msg: fmt.Sprintf("scripts may be at most %d bytes", sieve.MaxScriptSize)}
		}
		if err := c.checkCount(args[0]); err != nil {
			return false, err
		}
		c.reply("OK", "", "putscript would succeed")
	default:
		return false, &Error{Msg: fmt.Sprintf("unknown command %s", name)}
	}
	return false, nil
}

// check validates a script; a parse error is returned as RFC 5804 2.6
// wants it, NO with the human-readable reason (line:col).
func check(src string) error {
	if !utf8.ValidString(src) {
		return &Error{Msg: "script is not UTF-8"}
	}
	s, err := sieve.Parse(src)
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		return &Error{Msg: err.Error()}
	}
	return nil
}

func checkName(n string) error {
	if n == "" || len(n) > 128 || !utf8.ValidString(n) {
		return &Error{Msg: "a script name is 1 to 128 UTF-8 characters"}
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 {
			return &Error{Msg: "a script name has no control characters"}
		}
	}
	return nil
}

func (c *conn) checkCount(name string) error {
	l, err := c.s.o.Store.SieveScripts(c.ctx(), c.account.ID)
	if err != nil {
		return err
	}
	for _, s := range l {
		if s.Name == name {
			return nil
		}
	}
	if len(l) >= c.s.o.MaxScripts {
		return &Error{Code: "QUOTA/MAXSCRIPTS", Msg: fmt.Sprintf("at most %d scripts per account", c.s.o.MaxScripts)}
	}
	return nil
}

func (c *conn) starttls() (bool, error) {
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
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.s.log.Debug("TLS handshake failed", "err", err)
		return true, nil
	}
	tc.SetDeadline(time.Time{})
	c.nc, c.tls = tc, true
	c.r.Reset(tc)
	c.w.Reset(tc)
	// RFC 5804 2.2: the capabilities again, as after the greeting.
	c.capabilities()
	c.reply("OK", "", "TLS active")
	return false, nil
}

func (c *conn) authenticate(args []string) error {
	if c.authed {
		return &Error{Msg: "already authenticated"}
	}
	if !c.tls && !c.s.o.InsecureAuth {
		return &Error{Code: "ENCRYPT-NEEDED", Msg: "use STARTTLS first"}
	}
	if len(args) < 1 || len(args) > 2 {
		return &Error{Msg: `usage: AUTHENTICATE "PLAIN" [initial-response]`}
	}
	if !strings.EqualFold(args[0], "PLAIN") {
		return &Error{Msg: "only PLAIN is supported"}
	}
	resp := ""
	if len(args) == 2 {
		resp = args[1]
	} else {
		c.line(`""`)
		if err := c.flush(); err != nil {
			return err
		}
		_, a, err := readContinuation(c)
		if err != nil {
			return err
		}
		resp = a
	}
	if resp == "*" {
		return &Error{Msg: "authentication cancelled"}
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return &Error{Msg: "bad base64 in the PLAIN response"}
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		return &Error{Msg: "bad PLAIN response"}
	}
	authz, user, pass := parts[0], parts[1], parts[2]
	if authz != "" && !strings.EqualFold(authz, user) {
		return &Error{Msg: "authorization as another user is not allowed"}
	}
	var acc store.Account
	ap, _ := netip.ParseAddrPort(c.nc.RemoteAddr().String())
	err = c.s.o.Guard.Login(c.ctx(), ap.Addr().Unmap(), user, pass, func() (err error) {
		acc, err = c.s.o.Store.AuthenticateDevice(c.ctx(), strings.ToLower(user), pass, store.LoginRecord{Protocol: "managesieve", Addr: ap.Addr().Unmap().String()})
		return err
	})
	if errors.Is(err, store.ErrAuthFailed) || errors.Is(err, store.ErrNotFound) {
		c.s.log.Info("authentication failed", "user", user, "remote", c.nc.RemoteAddr().String())
		time.Sleep(500 * time.Millisecond)
		return &Error{Msg: "authentication failed"}
	} else if err != nil {
		return err
	}
	c.account, c.authed = acc, true
	c.s.log.Info("authenticated", "user", acc.Email)
	c.reply("OK", "", "logged in")
	return nil
}

// readContinuation reads the client's answer to a SASL challenge: one
// string (quoted or literal) on its own line.
func readContinuation(c *conn) (string, string, error) {
	line, err := readLine(c.r)
	if err != nil {
		return "", "", err
	}
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "{") {
		// A literal: reuse the command reader by prefixing a dummy name.
		n := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(line, "{"), "}"), "+")
		size, err := strconv.Atoi(n)
		if err != nil || size < 0 || size > maxLine {
			return "", "", &Error{Msg: "bad literal"}
		}
		buf := make([]byte, size)
		if _, err := ioReadFull(c.r, buf); err != nil {
			return "", "", err
		}
		readLine(c.r)
		return "", string(buf), nil
	}
	return "", strings.Trim(line, `"`), nil
}
