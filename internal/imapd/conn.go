package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

// opTimeout bounds one store operation of a command.
const opTimeout = time.Minute

// writeTimeout bounds each write to the client: a big FETCH may take as
// long as the client keeps reading, but one that stops reading is dropped.
const writeTimeout = time.Minute

// maxErrors in a row (BAD or unknown commands) end a session.
const maxErrors = 50

// Session states (RFC 9051 3).
type state int

const (
	notAuthenticated state = iota
	authenticated
	selected
	loggedOut
)

// conn is one IMAP connection and its session. Only its own goroutine
// touches it (IDLE reads DONE in a helper goroutine while it waits).
type conn struct {
	srv    *Server
	ctx    context.Context // cancelled by Shutdown
	raw    net.Conn        // as accepted: netserve tracks it
	nc     net.Conn        // raw, or TLS over it after STARTTLS
	br     *bufio.Reader
	bw     *wire.BufWriter
	r      *wire.Reader
	enc    *wire.Encoder
	log    *slog.Logger
	ip     netip.Addr
	tls    bool
	origin uintptr // marks this session's writes in the change feed

	state state
	acct  store.Account
	feed  *accountFeed
	sel   *selection
	rev2  bool // ENABLE IMAP4rev2
	utf8  bool // ENABLE UTF8=ACCEPT
	// condstore is on once the client used CONDSTORE (RFC 7162 3.1);
	// qresync once it enabled QRESYNC (3.2.3).
	condstore, qresync bool
	// saved is the SEARCHRES result (RFC 5182), as UIDs.
	saved  []uint32
	errors int
	// zw compresses what is written once COMPRESS DEFLATE is on; zdirty
	// says it holds bytes that no deflate flush has sent yet.
	zw     *flate.Writer
	zdirty bool
	// idling is set while IDLE's goroutine reads DONE: netReader then
	// leaves flushing to the goroutine that writes the updates.
	idling atomic.Bool

	checkedOpen time.Time // when stillOpen last asked the store
	kick        <-chan struct{}
}

func (s *Server) newConn(ctx context.Context, nc net.Conn) *conn {
	id := s.nextID.Add(1)
	c := &conn{srv: s, ctx: ctx, raw: nc, nc: nc, origin: uintptr(id)}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.ip = a.AddrPort().Addr().Unmap()
	} else if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.ip = ap.Addr().Unmap()
	}
	c.log = s.log.With("session", id, "remote", nc.RemoteAddr().String())
	_, c.tls = nc.(*tls.Conn)
	c.setupIO()
	return c
}

// setupIO (re)builds the reader, writer, wire reader and encoder over nc.
func (c *conn) setupIO() {
	c.setupIOOver(netReader{c, c.nc}, deadlineWriter{c.nc})
}

// netReader reads from the network, sending first what the responses
// wrote: the server only ever waits for the client in a read, so no
// reply can sit in a buffer while the client waits for it, whether the
// unread part is a pipelined command cut across packets or the rest of
// a deflate stream that the inflater must see before it hands out the
// command it already holds.
type netReader struct {
	c *conn
	r io.Reader
}

func (n netReader) Read(p []byte) (int, error) {
	if !n.c.idling.Load() {
		if err := n.c.flush(); err != nil {
			return 0, err
		}
	}
	return n.r.Read(p)
}

// setupIOOver builds them over a reader and writer of nc (COMPRESS).
func (c *conn) setupIOOver(r io.Reader, w io.Writer) {
	c.br = bufio.NewReaderSize(r, 4096)
	c.bw = wire.NewBufWriter(w)
	c.r = wire.NewReader(c.br, wire.Limits{})
	c.enc = wire.NewEncoder(c.bw)
	c.r.Continue = func() error {
		if err := c.enc.Continuation("Ready for literal data"); err != nil {
			return err
		}
		return c.flush()
	}
	c.r.AppendLimit = c.appendLimit
	c.r.UTF8, c.enc.UTF8 = c.utf8, c.utf8
}

// flush sends what the responses wrote, through the compressor if on.
func (c *conn) flush() error {
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if c.zw != nil && c.zdirty {
		c.zdirty = false
		return c.zw.Flush()
	}
	return nil
}

// zwriter is the compressor as the response buffer's writer.
type zwriter struct{ c *conn }

func (z zwriter) Write(p []byte) (int, error) {
	z.c.zdirty = true
	return z.c.zw.Write(p)
}

// written drops a response writer's error on purpose: the encoder keeps
// the first write error (wire.Encoder.Err), and run checks it after every
// command and ends the connection.
func written(error) {}

// deadlineWriter arms the write deadline before each write.
type deadlineWriter struct{ nc net.Conn }

func (w deadlineWriter) Write(b []byte) (int, error) {
	if err := w.nc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return 0, err
	}
	return w.nc.Write(b)
}

// opCtx bounds one store operation; Shutdown cancels it. Writes carry the
// session's origin.
func (c *conn) opCtx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	return store.WithOrigin(ctx, c.origin), cancel
}

func (c *conn) serve() {
	defer c.close()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			return
		}
		if err := tc.HandshakeContext(c.ctx); err != nil {
			c.log.Debug("imap TLS handshake failed", "err", err)
			return
		}
		if err := tc.SetDeadline(time.Time{}); err != nil {
			return
		}
	}
	c.log.Debug("imap connection")
	if c.srv.ns.Closing() {
		_ = c.enc.Status("*", "BYE", "", "Server shutting down") // the session ends either way
		_ = c.flush()
		return
	}
	_ = c.enc.Status("*", "OK", wire.CodeCapability(c.capabilities()), "boxmail IMAP server ready")
	for c.state != loggedOut {
		if err := c.next(); err != nil {
			return
		}
	}
	_ = c.flush() // the session ends here, whether the last reply got out or not
}

// close releases the session's hold on the feed.
func (c *conn) close() {
	if c.sel != nil {
		c.unselect()
	}
	if c.feed != nil {
		c.srv.feeds.release(c.acct.ID, c.feed)
		c.feed = nil
	}
}

// errEnd ends the connection (after a BYE, or when the client is gone).
var errEnd = errors.New("connection ends")

// next reads and runs one command. A non-nil error ends the connection.
func (c *conn) next() error {
	if !c.srv.ns.ArmRead(c.raw, c.srv.opts.IdleTimeout) {
		return c.bye("Server shutting down")
	}
	cmd, err := c.r.ReadCommand()
	var werr *wire.Error
	if errors.As(err, &werr) {
		if werr.Answer(c.enc) != nil || werr.Kind == wire.BYE {
			return errEnd
		}
		return c.countError()
	}
	if err != nil {
		return c.readFailed(err)
	}
	return c.run(cmd)
}

// countError ends a session that sends only errors.
func (c *conn) countError() error {
	if c.errors++; c.errors >= maxErrors {
		return c.bye("Too many errors")
	}
	return nil
}

// readFailed says goodbye after a failed read where it still can.
func (c *conn) readFailed(err error) error {
	var ne net.Error
	switch {
	case c.srv.ns.Closing():
		return c.bye("Server shutting down")
	case errors.As(err, &ne) && ne.Timeout():
		return c.bye("Autologout: idle for too long")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
	default:
		c.log.Debug("imap read failed", "err", err)
	}
	return errEnd
}

// bye writes an untagged BYE and ends the connection.
func (c *conn) bye(text string) error {
	_ = c.enc.Status("*", "BYE", "", text) // the connection ends either way
	_ = c.flush()
	return errEnd
}

// command is one command's handler and the states it runs in.
type command struct {
	states []state
	fn     func(c *conn, cmd *wire.Command) (code string, err error)
}

var (
	any3   = []state{notAuthenticated, authenticated, selected}
	before = []state{notAuthenticated}
	authed = []state{authenticated, selected}
	insel  = []state{selected}
)

// commands is the dispatch table; handlers live beside their commands.
var commands = map[string]command{
	"CAPABILITY": {any3, (*conn).cmdCapability}, "NOOP": {any3, (*conn).cmdNoop},
	"LOGOUT": {any3, (*conn).cmdLogout}, "ID": {any3, (*conn).cmdID},
	"STARTTLS": {before, (*conn).cmdStartTLS}, "LOGIN": {before, (*conn).cmdLogin},
	"AUTHENTICATE": {before, (*conn).cmdAuthenticate},
	"ENABLE":       {authed, (*conn).cmdEnable}, "NAMESPACE": {authed, (*conn).cmdNamespace},
	"LIST": {authed, (*conn).cmdList}, "LSUB": {authed, (*conn).cmdList},
	"CREATE": {authed, (*conn).cmdCreate}, "DELETE": {authed, (*conn).cmdDelete},
	"RENAME": {authed, (*conn).cmdRename}, "SUBSCRIBE": {authed, (*conn).cmdSubscribe},
	"UNSUBSCRIBE": {authed, (*conn).cmdSubscribe}, "STATUS": {authed, (*conn).cmdStatus},
	"APPEND": {authed, (*conn).cmdAppend}, "COMPRESS": {authed, (*conn).cmdCompress}, "GETQUOTA": {authed, (*conn).cmdGetQuota},
	"GETQUOTAROOT": {authed, (*conn).cmdGetQuotaRoot}, "SETQUOTA": {authed, (*conn).cmdSetQuota},
	"SELECT": {authed, (*conn).cmdSelect}, "EXAMINE": {authed, (*conn).cmdSelect},
	"IDLE":  {authed, (*conn).cmdIdle},
	"CLOSE": {insel, (*conn).cmdClose}, "UNSELECT": {insel, (*conn).cmdUnselect},
	"CHECK": {insel, (*conn).cmdNoop}, "FETCH": {insel, (*conn).cmdFetch},
	"STORE": {insel, (*conn).cmdStore}, "SEARCH": {insel, (*conn).cmdSearch},
	"COPY": {insel, (*conn).cmdCopy}, "MOVE": {insel, (*conn).cmdCopy},
	"EXPUNGE": {insel, (*conn).cmdExpunge},
}

// run dispatches one command and answers it.
func (c *conn) run(cmd *wire.Command) error {
	h, ok := commands[cmd.Name]
	if !ok {
		if err := c.r.AbortAppend(); err != nil {
			return errEnd
		}
		_ = c.enc.Status(cmd.Tag, "BAD", "", "Command not supported: "+cmd.Name)
		return c.countError()
	}
	allowed := false
	for _, s := range h.states {
		allowed = allowed || s == c.state
	}
	if !allowed {
		if err := c.r.AbortAppend(); err != nil {
			return errEnd
		}
		_ = c.enc.Status(cmd.Tag, "BAD", "", cmd.Name+" is not allowed "+stateText[c.state])
		return c.countError()
	}
	code, err := h.fn(c, cmd)
	if errors.Is(err, errEnd) {
		return err
	}
	if errors.Is(err, errTagged) {
		return nil
	}
	if c.enc.Err() != nil {
		return errEnd
	}
	if uerr := c.afterCommand(cmd); uerr != nil {
		return uerr
	}
	return c.answer(cmd, code, err)
}

var stateText = map[state]string{
	notAuthenticated: "before login", authenticated: "without a selected mailbox",
	selected: "with a mailbox selected", loggedOut: "after LOGOUT",
}

// afterCommand writes the pending mailbox updates the command allows,
// and checks that the account is still open.
func (c *conn) afterCommand(cmd *wire.Command) error {
	if err := c.stillOpen(); err != nil {
		return err
	}
	if c.sel == nil || cmd.Name == "LOGOUT" {
		return nil
	}
	expunges := cmd.UID
	switch cmd.Name {
	case "FETCH", "STORE", "SEARCH":
	default:
		expunges = true
	}
	c.sendUpdates(expunges)
	if c.enc.Err() != nil {
		return errEnd
	}
	return nil
}

// answer writes the tagged response of a command.
func (c *conn) answer(cmd *wire.Command, code string, err error) error {
	if err == nil {
		c.errors = 0
		if werr := c.enc.Status(cmd.Tag, "OK", code, cmd.Name+" completed"); werr != nil {
			return errEnd
		}
		return nil
	}
	var we *wire.Error
	if !errors.As(err, &we) {
		c.log.Error("imap command failed", "command", cmd.Name, "err", err)
		we = errInternal
	}
	if we.Kind == wire.BYE {
		return c.bye(we.Text)
	}
	kind := "NO"
	if we.Kind == wire.BAD {
		kind = "BAD"
		if cerr := c.countError(); cerr != nil {
			return cerr
		}
	}
	if werr := c.enc.Status(cmd.Tag, kind, we.Code, we.Text); werr != nil {
		return errEnd
	}
	return nil
}

// capabilities lists what the session is offered in its state.
func (c *conn) capabilities() []string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "ID", "ENABLE", "IDLE", "SASL-IR"}
	if c.state == notAuthenticated {
		if c.srv.opts.TLSConfig != nil && !c.tls && !c.srv.opts.ImplicitTLS {
			caps = append(caps, "STARTTLS")
		}
		if c.loginAllowed() {
			return append(caps, "AUTH=PLAIN")
		}
		return append(caps, "LOGINDISABLED")
	}
	return append(caps, "NAMESPACE", "UIDPLUS", "UNSELECT", "MOVE", "ESEARCH", "SEARCHRES",
		"LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CREATE-SPECIAL-USE", "CHILDREN",
		"STATUS=SIZE", "BINARY", "UTF8=ACCEPT", "APPENDLIMIT="+itoa(c.srv.opts.MaxMessageBytes),
		"CONDSTORE", "QRESYNC", "COMPRESS=DEFLATE", "QUOTA", "QUOTA=RES-STORAGE")
}

// loginAllowed: TLS is on, or logins in the clear are allowed.
func (c *conn) loginAllowed() bool {
	return c.tls || c.srv.opts.ImplicitTLS || c.srv.opts.InsecureAuth
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			break
		}
	}
	return string(b[i:])
}

// stillOpen says goodbye to the client (BYE, connection closed) when the
// account was disabled since the last check (by the admin panel, or by
// `boxmail user disable` from another process), asking at once when the
// change feed told of a disabling (kick) and otherwise at most every
// Options.OpenCheckEvery, in case the feed missed one. A phone keeps its
// IMAP connection for days: it must not keep reading mail after the admin
// closed the account.
func (c *conn) stillOpen() error {
	if c.acct.ID == 0 {
		return nil
	}
	select {
	case <-c.kick:
		c.kick = c.feed.kicked()
	default:
		if time.Since(c.checkedOpen) < c.srv.opts.OpenCheckEvery {
			return nil
		}
	}
	c.checkedOpen = time.Now()
	ctx, cancel := c.opCtx()
	defer cancel()
	off, err := c.srv.opts.Store.AccountDisabled(ctx, c.acct.ID)
	if err != nil || !off {
		return nil // a store error is not a reason to cut a session
	}
	c.log.Info("imap session closed: account disabled")
	_ = c.bye("This account has been disabled")
	return errEnd
}
