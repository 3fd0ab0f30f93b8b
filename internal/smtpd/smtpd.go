// Package smtpd is boxmail's SMTP front-end on emersion/go-smtp: the
// MX-style inbound server (port 25) and the submission servers (587 with
// STARTTLS, 465 with implicit TLS). It translates go-smtp's Session into
// policy decisions and hands accepted messages to delivery.
//
// Supported: RFC 5321 SMTP, RFC 3207 STARTTLS, RFC 4954 AUTH (PLAIN and
// LOGIN, only over TLS), RFC 1870 SIZE, RFC 2920 PIPELINING, RFC 6152
// 8BITMIME, RFC 6531 SMTPUTF8, RFC 2034 ENHANCEDSTATUSCODES and RFC 3030
// CHUNKING (go-smtp provides the last ones).
//
// Policy: inbound accepts only local recipients and never relays;
// submission requires authentication and allows as envelope sender and
// From: only addresses the user owns or aliases that permit them.
// Inbound mail is checked (SPF, DKIM, DMARC) and submitted mail is
// DKIM-signed at the end of DATA: mailauth.go says what is decided there.
// The defences (login limiter, DNSBL, greylisting, HELO and error limits)
// are decided by internal/guard; guard.go holds the hooks.
//
// Every error a session method returns is an *smtp.SMTPError: go-smtp
// would send the text of any other error to the client, so internal
// errors are logged here and answered with a generic 451.
package smtpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"boxmail/internal/delivery"
	"boxmail/internal/guard"
	"boxmail/internal/metrics"
	"boxmail/internal/netserve"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// Mode says which role a server plays.
type Mode int

const (
	// Inbound is the MX-style server: mail for local domains, no AUTH.
	Inbound Mode = iota
	// Submission is for the box's own users: AUTH required, may relay.
	Submission
)

// Options configure a Server.
type Options struct {
	Mode      Mode
	Deliverer *delivery.Deliverer
	Store     *store.Store // for AUTH
	Logger    *slog.Logger
	Hostname  string
	TLSConfig *tls.Config // STARTTLS; nil disables it
	// MaxMessageBytes is the SIZE limit (default 50 MiB).
	MaxMessageBytes int64
	// MaxRecipients per message (default 100).
	MaxRecipients int
	// ReadTimeout/WriteTimeout per command (default 5 minutes / 1 minute).
	ReadTimeout, WriteTimeout time.Duration
	// Resolver is used for SPF, DKIM and DMARC checks of inbound mail
	// (see mailauth.go); nil skips the checks.
	Resolver resolver.Resolver
	// TrustedNetworks are clients whose inbound mail is not checked.
	TrustedNetworks []netip.Prefix
	// Guard is the shared defences (guard.go): login limiter, DNSBL and
	// greylisting of inbound recipients; nil: none.
	Guard *guard.Guard
	// DataBudget bounds the message data held in memory at once; share
	// one among a box's SMTP servers. nil: a budget of its own, of
	// MaxMessageBytes.
	DataBudget *DataBudget
	// Metrics counts messages, sessions and logins; nil: none.
	Metrics *metrics.Metrics
}

// Server is one SMTP listener's server.
type Server struct {
	o       Options
	log     *slog.Logger
	srv     *smtp.Server
	mu      sync.Mutex
	conns   map[*session]struct{}
	closing atomic.Bool
	// Serve calls and their listeners, so that Shutdown can stop them
	// before go-smtp's Shutdown (whose Serve adds to a WaitGroup without
	// a lock while Shutdown waits on it: a data race). Add under mu only.
	serving   sync.WaitGroup
	listeners map[net.Listener]bool
	// ctx is the sessions' base context, cancelled when Shutdown starts:
	// DNS and store work in flight stops. dataCtx is what a message
	// whose data is being received works under (its checks and commit):
	// cancelled only when Shutdown's grace period ends, so that such a
	// message may still finish, as Shutdown promises.
	ctx, dataCtx       context.Context
	cancel, dataCancel context.CancelFunc
}

// ErrServerClosed is returned by Serve after Shutdown: the same value as
// every boxmail server's (netserve.ErrServerClosed), in place of go-smtp's.
var ErrServerClosed = netserve.ErrServerClosed

// New builds a Server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 50 << 20
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 100
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Minute
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = time.Minute
	}
	if o.DataBudget == nil {
		o.DataBudget = NewDataBudget(o.MaxMessageBytes)
	}
	s := &Server{o: o, log: o.Logger, conns: map[*session]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.dataCtx, s.dataCancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(s)
	srv.Domain = o.Hostname
	srv.TLSConfig = o.TLSConfig
	srv.MaxMessageBytes = o.MaxMessageBytes
	srv.MaxRecipients = o.MaxRecipients
	// RFC 5321 allows 1000 bytes a line, but HTML mail with far longer
	// lines is common and Postfix takes it; go-smtp's limit (2000) also
	// bounds DATA lines. A command line of megabytes is still cut.
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = o.ReadTimeout
	srv.WriteTimeout = o.WriteTimeout
	srv.EnableSMTPUTF8 = true
	// REQUIRETLS (RFC 8689) on submission: go-smtp advertises it only
	// inside TLS; the queue keeps the mark (delivery/tlspolicy.go).
	srv.EnableREQUIRETLS = o.Mode == Submission
	srv.ErrorLog = slogAdapter{o.Logger}
	s.srv = srv
	return s
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.l.Warn(fmt.Sprint(v...)) }

// Serve accepts connections on l until Shutdown, then returns
// ErrServerClosed (at once when called after Shutdown). For implicit TLS
// (port 465) pass a tls.NewListener.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		if err := l.Close(); err != nil {
			s.log.Debug("closing a listener after shutdown", "err", err)
		}
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]bool{}
	}
	s.listeners[l] = true
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	err := s.srv.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) || s.closing.Load() {
		return ErrServerClosed
	}
	return err
}

// Shutdown stops accepting connections, answers idle sessions and those
// in the middle of a transaction with 421, lets messages whose data is
// being received finish (their 250 is sent, then 421) until ctx ends, and
// then closes what remains. A message is never half-stored: it is either
// committed before its 250 or not at all. The sessions' context is
// cancelled at once (DNS and store work of idle sessions and of commands
// before DATA stops); a message being received keeps its context until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.dataCancel()
	s.mu.Lock()
	s.closing.Store(true)
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	served := make(chan struct{})
	go func() { s.serving.Wait(); close(served) }()
	select {
	case <-served:
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		err := s.srv.Shutdown(ctx)
		if errors.Is(err, net.ErrClosed) {
			err = nil // we closed the listeners ourselves, above
		}
		done <- err
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			if !c.inData.Load() {
				c.goodbye()
			}
		}
		s.mu.Unlock()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			s.dataCancel()
			s.mu.Lock()
			for c := range s.conns {
				c.goodbye()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if s.closing.Load() {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}
	}
	sess := &session{s: s, c: c, id: newID(), remote: c.Conn().RemoteAddr().String()}
	sess.log = s.log.With("session", sess.id, "remote", sess.remote)
	if err := sess.checkHelo(); err != nil {
		return nil, err
	}
	sess.ctx, sess.cancel = context.WithCancel(s.ctx) // ended by Logout
	s.mu.Lock()
	s.conns[sess] = struct{}{}
	s.mu.Unlock()
	sess.endSession = s.o.Metrics.Session(s.protocol()) // metrics.go
	return sess, nil
}

func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type session struct {
	s      *Server
	ctx    context.Context // the server's base context, ended by Logout
	cancel context.CancelFunc
	c      *smtp.Conn
	id     string
	remote string
	log    *slog.Logger

	user   string // authenticated account email
	from   string
	txn    *delivery.Txn
	rcpts  []string
	inData atomic.Bool
	bye    sync.Once
	errors int // permanent errors so far (guard.go)

	endSession func() // counts the session closed (metrics.go)
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// goodbye sends 421 and closes the connection (once).
func (c *session) goodbye() {
	c.bye.Do(func() {
		conn := c.c.Conn()
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		// A farewell: the connection closes next whether it got out or not.
		_, _ = io.WriteString(conn, "421 4.3.2 Service shutting down, try again later\r\n")
		conn.Close()
	})
}

func smtpErr(code int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// internal logs an internal error and returns the generic temporary reply.
func (c *session) internal(what string, err error) *smtp.SMTPError {
	c.log.Error(what, "err", err)
	return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Internal error, try again later")
}

func (c *session) Reset() {
	if c.txn != nil {
		c.txn.Abort()
	}
	c.txn, c.from, c.rcpts = nil, "", nil
	if c.s.closing.Load() {
		// Called by go-smtp after the reply to DATA/RSET has been flushed.
		c.goodbye()
	}
}

func (c *session) Logout() error {
	c.endSession()
	c.cancel()
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return nil
}

// AuthMechanisms implements smtp.AuthSession. go-smtp offers AUTH only
// over TLS since AllowInsecureAuth is false.
func (c *session) AuthMechanisms() []string {
	if c.s.o.Mode != Submission {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (c *session) Auth(mech string) (sasl.Server, error) {
	if c.s.o.Mode != Submission {
		return nil, smtp.ErrAuthUnsupported
	}
	if c.user != "" {
		return nil, smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "Already authenticated")
	}
	check := func(identity, username, password string) error {
		if identity != "" && !strings.EqualFold(identity, username) {
			return smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "Authorization identity must match the username")
		}
		ctx := c.ctx
		var acc store.Account
		err := c.s.o.Guard.Login(ctx, c.remoteIP(), username, password, func() (err error) {
			acc, err = c.s.o.Store.AuthenticateDevice(ctx, username, password, store.LoginRecord{Protocol: "smtp", Addr: c.remoteIP().String()})
			return err
		})
		if errors.Is(err, store.ErrAuthFailed) {
			c.log.Info("auth failed", "user", username)
			c.s.o.Metrics.Login(c.s.protocol(), false)
			return smtp.ErrAuthFailed
		} else if err != nil {
			return c.internal("auth", err)
		}
		c.user = acc.Email
		c.log = c.log.With("user", acc.Email)
		c.log.Info("authenticated")
		c.s.o.Metrics.Login(c.s.protocol(), true)
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return newLoginServer(func(u, p string) error { return check("", u, p) }), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (c *session) Mail(from string, opts *smtp.MailOptions) error {
	return c.counted(c.mail(from, opts))
}

func (c *session) mail(from string, opts *smtp.MailOptions) error {
	if err := c.checkHelo(); err != nil {
		return err
	}
	if c.s.o.Mode == Submission && c.user == "" {
		return smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
	}
	if opts != nil && opts.Size > c.s.o.MaxMessageBytes {
		return smtpErr(552, smtp.EnhancedCode{5, 3, 4}, fmt.Sprintf("Message size exceeds the limit of %d bytes", c.s.o.MaxMessageBytes))
	}
	if from != "" {
		if _, err := delivery.ParseAddress(from); err != nil {
			return smtpErr(553, smtp.EnhancedCode{5, 1, 7}, "Bad sender address syntax")
		}
	}
	if c.s.o.Mode == Submission {
		ok, err := c.s.o.Deliverer.MayUseSender(c.ctx, c.user, from)
		if err != nil {
			return c.internal("sender check", err)
		}
		if !ok {
			c.log.Info("refused sender", "from", from)
			return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, fmt.Sprintf("You may not send as <%s>", from))
		}
	}
	if opts != nil && opts.RequireTLS {
		if _, ok := c.c.TLSConnectionState(); !ok {
			return smtpErr(530, smtp.EnhancedCode{5, 7, 10}, "REQUIRETLS needs a TLS session") // RFC 8689 4.1
		}
	}
	c.from = from
	c.txn = c.s.o.Deliverer.Begin(from)
	if opts != nil && opts.Size > 0 {
		c.txn.SetSize(opts.Size)
	}
	if opts != nil && opts.RequireTLS {
		c.txn.RequireTLS()
	}
	return nil
}

func (c *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	return c.counted(c.rcpt(to, opts))
}

func (c *session) rcpt(to string, opts *smtp.RcptOptions) error {
	if c.txn == nil {
		return smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "MAIL first")
	}
	ctx := c.ctx
	if err := c.spaceGate(); err != nil { // free disk (space.go)
		return err
	}
	if err := c.guardRcpt(ctx, to); err != nil { // DNSBL, greylisting
		return err
	}
	_, err := c.txn.AddRecipient(ctx, to, c.s.o.Mode == Submission)
	switch {
	case errors.Is(err, delivery.ErrBadAddress):
		return smtpErr(501, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address syntax")
	case errors.Is(err, delivery.ErrUnknownRecipient):
		c.log.Info("unknown recipient", "rcpt", to)
		return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, fmt.Sprintf("<%s>: no such user here", to))
	case errors.Is(err, delivery.ErrOverQuota):
		c.log.Info("recipient over quota", "rcpt", to, "err", err)
		return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, fmt.Sprintf("<%s>: mailbox full, try again later", to))
	case errors.Is(err, delivery.ErrRelayDenied):
		c.log.Info("relay denied", "rcpt", to)
		return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, fmt.Sprintf("<%s>: relay access denied", to))
	case err != nil:
		return c.internal("rcpt", err)
	}
	c.rcpts = append(c.rcpts, to)
	return nil
}

// maxLineLength bounds a line of a command or of DATA.
const maxLineLength = 64 << 10

func (c *session) Data(r io.Reader) (err error) {
	defer func() { c.s.o.Metrics.MessageReceived(receivedResult(err)) }() // metrics.go
	if c.txn == nil || len(c.rcpts) == 0 {
		return smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "No valid recipients")
	}
	if err := c.spaceGate(); err != nil { // free disk (space.go)
		return err
	}
	c.inData.Store(true)
	defer c.inData.Store(false)
	ctx := c.s.dataCtx // see Server: the message may finish during Shutdown
	var trace bytes.Buffer
	c.writeReceived(&trace)
	hdrLen := trace.Len()
	buf, held, err := readMessage(r, trace.Bytes(), c.s.o.DataBudget)
	defer c.s.o.DataBudget.give(held)
	if errors.Is(err, errNoBudget) {
		c.log.Warn("message refused for now: too much mail being received at once")
		return smtpErr(452, smtp.EnhancedCode{4, 3, 1}, "Too much mail is being received at once, try again later")
	}
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // e.g. 552 5.3.4 message too big
		}
		if errors.Is(err, smtp.ErrTooLongLine) { // a retry would fail the same way
			return smtpErr(500, smtp.EnhancedCode{5, 6, 0}, fmt.Sprintf("Line too long (the limit is %d bytes)", maxLineLength))
		}
		c.log.Info("data aborted", "err", err)
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Error reading message data")
	}
	msg := buf[headroom:]
	body := normalizeLineEndings(msg[hdrLen:])
	if c.s.o.Mode == Submission {
		if err := c.checkFrom(ctx, body); err != nil {
			return err
		}
	}
	data, err := c.authenticate(ctx, buf, msg[:hdrLen], body)
	if err != nil {
		return err
	}
	c.txn.SetClient(c.remoteIP()) // the spam filter's sending network
	if err := c.txn.Commit(ctx, data); err != nil {
		if errors.Is(err, delivery.ErrSpamRejected) {
			c.log.Info("refused as spam", "err", err)
			return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Message rejected as spam")
		}
		if errors.Is(err, store.ErrDiskFull) {
			c.log.Error("disk full: message refused", "err", err)
			return smtpErr(452, smtp.EnhancedCode{4, 3, 1}, "Insufficient system storage, try again later")
		}
		return c.internal("commit", err)
	}
	c.txn = nil
	if c.s.o.Mode == Inbound {
		c.s.o.Store.Record(store.EventReceived) // the health history (store/history.go)
	}
	return nil
}

// writeReceived prepends the trace header (RFC 5321 4.4).
func (c *session) writeReceived(w *bytes.Buffer) {
	helo := c.c.Hostname()
	host, _, _ := net.SplitHostPort(c.remote)
	with := "ESMTP"
	if _, ok := c.c.TLSConnectionState(); ok {
		with += "S"
	}
	if c.user != "" {
		with += "A"
	}
	fmt.Fprintf(w, "Received: from %s ([%s])\r\n\tby %s (boxmail) with %s id %s", sanitizeHelo(helo), host, c.s.o.Hostname, with, c.id)
	if len(c.rcpts) == 1 {
		fmt.Fprintf(w, "\r\n\tfor <%s>", c.rcpts[0])
	}
	fmt.Fprintf(w, ";\r\n\t%s\r\n", time.Now().Format(time.RFC1123Z))
}

func sanitizeHelo(h string) string {
	if h == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || r == '(' || r == ')' || r == ';' {
			return '_'
		}
		return r
	}, h)
}

// checkFrom enforces that every address in the From, Sender,
// Resent-From and Resent-Sender fields may be used by the authenticated
// user: a mail program shows any of them as who sent the message.
func (c *session) checkFrom(ctx context.Context, body []byte) error {
	addrs, froms, err := headerSenderAddresses(body)
	if err != nil {
		return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Cannot parse the header: "+replyText(err.Error()))
	}
	if froms == 0 {
		return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Message has no From: header")
	}
	for _, a := range addrs {
		ok, err := c.s.o.Deliverer.MayUseSender(ctx, c.user, a.Address)
		if err != nil {
			return c.internal("from check", err)
		}
		if !ok {
			c.log.Info("refused sender header", "field", a.Field, "address", a.Address)
			return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, fmt.Sprintf("You may not send with %s: <%s>", a.Field, replyText(a.Address)))
		}
	}
	return nil
}
