package imapd

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"time"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

func (c *conn) cmdCapability(*wire.Command) (string, error) {
	return "", c.enc.Capability(c.capabilities())
}

// cmdNoop answers NOOP and CHECK: the pending updates follow any command.
func (c *conn) cmdNoop(*wire.Command) (string, error) { return "", nil }

func (c *conn) cmdLogout(*wire.Command) (string, error) {
	c.state = loggedOut
	return "", c.enc.Status("*", "BYE", "", "Logging out")
}

// cmdID answers ID (RFC 2971) with the server's name; the client's
// fields are only logged (cut short).
func (c *conn) cmdID(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.ID)
	var attrs []any
	for i, f := range args.Fields {
		if i >= 8 {
			break
		}
		v := f.Value
		if len(v) > 64 {
			v = v[:64]
		}
		attrs = append(attrs, "id_"+cut(f.Name, 32), v)
	}
	if len(attrs) > 0 {
		c.log.Debug("imap client id", attrs...)
	}
	return "", c.enc.ID([]wire.IDField{{Name: "name", Value: "boxmail"}, {Name: "vendor", Value: "boxmail"}})
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// cmdStartTLS switches to TLS (RFC 9051 6.2.1). Whatever the client sent
// after STARTTLS in the clear is dropped, so that none of it is taken as
// said over TLS.
func (c *conn) cmdStartTLS(cmd *wire.Command) (string, error) {
	if c.tls || c.srv.opts.TLSConfig == nil || c.srv.opts.ImplicitTLS {
		return "", bad("STARTTLS is not available")
	}
	if err := c.enc.Status(cmd.Tag, "OK", "", "Begin TLS negotiation now"); err != nil {
		return "", errEnd
	}
	if err := c.flush(); err != nil {
		return "", errEnd
	}
	if c.br.Buffered() > 0 {
		c.log.Info("imap: dropped input sent in the clear after STARTTLS", "bytes", c.br.Buffered())
	}
	tc := tls.Server(c.raw, c.srv.opts.TLSConfig)
	if err := tc.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return "", errEnd
	}
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.log.Debug("imap STARTTLS handshake failed", "err", err)
		return "", errEnd
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		return "", errEnd
	}
	c.nc, c.tls = tc, true
	c.setupIO()
	return "", errTagged
}

// errTagged tells run that the handler has written its tagged answer.
var errTagged = errors.New("answered")

func (c *conn) cmdLogin(cmd *wire.Command) (string, error) {
	a := cmd.Args.(*wire.Login)
	return c.login(a.User, a.Password)
}

// cmdAuthenticate runs AUTHENTICATE PLAIN (RFC 4616), with the initial
// response on the command line (SASL-IR) or after a continuation.
func (c *conn) cmdAuthenticate(cmd *wire.Command) (string, error) {
	a := cmd.Args.(*wire.Authenticate)
	if a.Mechanism != "PLAIN" {
		return "", no(wire.CodeCannot, "Unsupported mechanism")
	}
	if !c.loginAllowed() {
		return "", errPrivacyRequired
	}
	resp := a.Initial
	if !a.HasInitial {
		if err := c.enc.Continuation(""); err != nil {
			return "", errEnd
		}
		if err := c.flush(); err != nil {
			return "", errEnd
		}
		line, err := c.r.ReadLine()
		var we *wire.Error
		if errors.As(err, &we) {
			return "", we
		} else if err != nil {
			return "", errEnd
		}
		if line == "*" {
			return "", bad("AUTHENTICATE cancelled")
		}
		resp = line
	}
	if resp == "=" {
		resp = ""
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return "", bad("Invalid base64")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || (len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1])) {
		return "", errAuthFailed
	}
	return c.login(string(parts[1]), string(parts[2]))
}

// login checks the full email address and password with the store,
// through the login limiter.
func (c *conn) login(user, password string) (string, error) {
	if !c.loginAllowed() {
		return "", errPrivacyRequired
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	var acct store.Account
	err := c.srv.opts.Guard.Login(ctx, c.ip, user, password, func() (err error) {
		acct, err = c.srv.opts.Store.AuthenticateDevice(ctx, user, password, store.LoginRecord{Protocol: "imap", Addr: c.ip.String()})
		return err
	})
	if errors.Is(err, store.ErrAuthFailed) {
		c.log.Info("imap login failed", "user", user)
		c.srv.opts.Metrics.Login("imap", false)
		return "", errAuthFailed
	} else if err != nil {
		c.log.Error("imap login: store error", "user", user, "err", err)
		return "", errInternal
	}
	c.acct = acct
	c.state = authenticated
	c.checkedOpen = time.Now() // the login just checked it
	c.log = c.log.With("account", acct.Email)
	c.feed = c.srv.feeds.acquire(acct.ID)
	c.kick = c.feed.kicked()
	c.log.Info("imap login")
	c.srv.opts.Metrics.Login("imap", true)
	return wire.CodeCapability(c.capabilities()), nil
}

// cmdEnable turns on the extensions the session knows (RFC 5161).
func (c *conn) cmdEnable(cmd *wire.Command) (string, error) {
	var on []string
	for _, name := range cmd.Args.(*wire.Enable).Caps {
		switch name {
		case "IMAP4REV2":
			if !c.rev2 {
				c.rev2, c.enc.IMAP4rev2 = true, true
				on = append(on, "IMAP4rev2")
			}
		case "CONDSTORE", "QRESYNC":
			if name == "QRESYNC" && !c.qresync {
				c.qresync = true
				on = append(on, name)
			}
			if !c.condstore {
				c.condstore = true
				on = append(on, "CONDSTORE")
			}
		case "UTF8=ACCEPT":
			if !c.utf8 {
				c.utf8 = true
				c.r.UTF8, c.enc.UTF8 = true, true
				on = append(on, "UTF8=ACCEPT")
			}
		}
	}
	return "", c.enc.Enabled(on)
}

func (c *conn) cmdNamespace(*wire.Command) (string, error) {
	return "", c.enc.NamespaceResponse([]wire.Namespace{{Prefix: "", Delim: delim}}, nil, nil)
}

const delim = '/'
