// Package imapd is boxmail's IMAP server: a github.com/emersion/go-imap/v2
// imapserver whose Session is backed directly by the store.
//
// # Protocols
//
//   - IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051), as far as go-imap v2
//     implements them (see "What go-imap v2 decides" below)
//   - STARTTLS and LOGINDISABLED (RFC 3501 6.2.1; ours, quota.go), AUTHENTICATE PLAIN
//     (RFC 4616) with SASL-IR (RFC 4959)
//   - IDLE (RFC 2177), NAMESPACE (RFC 2342), UIDPLUS (RFC 4315),
//     MOVE (RFC 6851), SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154),
//     LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), CHILDREN
//     (RFC 3348), ESEARCH (RFC 4731), STATUS=SIZE (RFC 8438), UNSELECT
//     (RFC 3691), ENABLE (RFC 5161), LITERAL+ (RFC 7888), BINARY
//     (RFC 3516); QUOTA (RFC 9208) on IMAPS
//
// Usernames are full email addresses; passwords are checked with
// store.AuthenticateDevice (app passwords, and the main password unless
// the account has TOTP on), through the shared login limiter
// (Options.Guard, internal/guard). Without TLS, LOGIN and AUTHENTICATE are refused
// unless Options.InsecureAuth is set.
//
// # Mailbox state and push
//
// UIDVALIDITY and UIDs are the store's, so they survive restarts. Each
// logged-in account has one store.Subscribe subscription per Server (an
// accountFeed). Its events are applied, in commit order, to the shared
// state of every mailbox some session has selected (mailboxState: the UID
// list in the server's view plus an imapserver.MailboxTracker), which
// queues EXISTS, EXPUNGE and FETCH FLAGS for each session's
// imapserver.SessionTracker. A goroutine per account applies events as
// soon as they are published, so an idling client sees a delivery within
// milliseconds, and a change made by another process (`boxmail migrate
// import`, a CLI command) within about a quarter of a second, once the
// store has read it from its change log. A session also applies them
// itself right after its own writes, so its own EXPUNGE or APPEND is
// reflected before the tagged OK.
// Writes carry the session's origin (store.WithOrigin) so a session's own
// STORE is not echoed back to it as an unsolicited FETCH.
//
// \Recent: the session that SELECTs a mailbox first takes its recent
// messages (store.ClearRecent); EXAMINE leaves them. Messages that arrive
// while a mailbox is selected are recent to every session that has it
// selected read-write (the store keeps \Recent for the next SELECT).
//
// # Limits
//
// APPEND takes at most Options.MaxMessageBytes (max_message_size,
// advertised as APPENDLIMIT, RFC 7889): an APPEND announced above it, or
// above what is left of the account's quota, is refused (NO [TOOBIG],
// NO [OVERQUOTA]) before any byte of it is read. Nothing is set aside for
// the announced size: a message from store.FileBodyMin up is streamed
// into a body file. The connection wrapper (quota.go) answers such an
// APPEND itself, in place of the continuation request, and reads past the
// bytes of a refused LITERAL+ one, keeping none (go-imap answers NO and
// then parses them as commands). So that the wrapper sees the commands
// sent over TLS on the STARTTLS port too, STARTTLS is the wrapper's:
// before TLS it lists STARTTLS and LOGINDISABLED and refuses LOGIN and
// AUTHENTICATE (Session.Login refuses them too), and drops what was sent
// in the clear after STARTTLS.
//
// Headers are parsed up to 128 KiB (maxParsedHeader, fetch.go), and a
// FETCH or SEARCH that needs whole messages loads at most 32 MiB of them
// at once (maxChunkBytes).
//
// # Errors
//
// Errors a client should see are *imap.Error values (NONEXISTENT,
// ALREADYEXISTS, TRYCREATE, CANNOT, ...). Any other error is logged with
// the session's id and answered "NO [SERVERBUG] Internal error"; its text
// never reaches the client. Passwords and message bodies are never logged.
//
// # What go-imap v2 (v2.0.0-beta.8) decides for us
//
//   - There is no ID command (RFC 2971): the library answers it "BAD
//     Unknown command", and before login it sends BYE and closes the
//     connection, so long ID strings cannot be handled at all.
//   - MOVE: the library does not poll after MOVE, so the EXPUNGEs for the
//     moved messages are written before the tagged OK only when the session
//     has already been handed an update writer (any earlier command in the
//     authenticated state); otherwise they come with the next command.
//   - CLOSE and EXPUNGE both call Session.Expunge and look the same to the
//     session, so EXPUNGE in an EXAMINEd mailbox answers OK and does nothing
//     (CLOSE must not fail there).
//   - A malformed sequence set ("FETCH x FLAGS") or date in SEARCH is not a
//     syntax error to the library's decoder, so it is answered
//     "NO [SERVERBUG] Internal server error" instead of BAD (the session
//     goes on).
//   - ENVELOPE is written by the library; group syntax (RFC 5322 3.4) is
//     handled here by emitting the RFC 3501 group start and end markers.
//   - SEARCHRES ($), CONDSTORE/QRESYNC, NOTIFY and COMPRESS are not
//     implemented by the library's server side and are not advertised.
//     QUOTA (RFC 9208) is answered beside the library on IMAPS only
//     (Options.ImplicitTLS, quota.go).
//
// # Performance (2-core dev VM, go test -bench . ./internal/imapd/)
//
// SELECT of a 100,000-message mailbox: 35 ms; FETCH of 1,000 envelopes:
// 28-35 ms; both through imapclient over loopback (bench_test.go).
package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"boxmail/internal/guard"
	"boxmail/internal/netserve"
	"boxmail/internal/store"
)

// Options configure a Server.
type Options struct {
	Store     *store.Store
	Logger    *slog.Logger
	TLSConfig *tls.Config // for STARTTLS; nil = no STARTTLS
	// InsecureAuth allows LOGIN/AUTHENTICATE without TLS (quickstart on
	// loopback only).
	InsecureAuth bool
	Hostname     string
	// Guard is the shared login limiter; nil limits nothing.
	Guard *guard.Guard
	// ImplicitTLS says Serve is given TLS listeners (IMAPS). Connections
	// then also answer GETQUOTAROOT and GETQUOTA (RFC 9208; quota.go),
	// which takes a wrapper above TLS that hides the TLS from go-imap: it
	// is told that logins are safe (they are), and offers no STARTTLS.
	ImplicitTLS bool
	// OpenCheckEvery is how often a logged-in session asks whether its
	// account was disabled meanwhile (default 30 s); one that was gets BYE.
	// A disabling that reaches the change feed is acted on at once.
	OpenCheckEvery time.Duration
	// MaxMessageBytes is the largest message APPEND takes, advertised as
	// APPENDLIMIT (RFC 7889); the box's max_message_size, default 50 MiB.
	MaxMessageBytes int64
}

// Server is an IMAP server over a store.
type Server struct {
	opts   Options
	log    *slog.Logger
	imap   *imapserver.Server
	feeds  *feeds
	nextID atomic.Uint64
	// ctx is the sessions' base context: Shutdown cancels it, so store
	// work in flight stops.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	sessions  sync.WaitGroup // live sessions; Add only under mu while !closing
	serving   sync.WaitGroup // Serve calls; Add only under mu while !closing
	listeners map[net.Listener]bool
}

// capabilities advertised beyond what go-imap adds by itself.
var capabilities = imap.CapSet{
	imap.CapIMAP4rev1:        {},
	imap.CapIMAP4rev2:        {},
	imap.CapNamespace:        {},
	imap.CapUIDPlus:          {},
	imap.CapESearch:          {},
	imap.CapListExtended:     {},
	imap.CapListStatus:       {},
	imap.CapMove:             {},
	imap.CapStatusSize:       {},
	imap.CapBinary:           {},
	imap.CapChildren:         {},
	imap.CapSpecialUse:       {},
	imap.CapCreateSpecialUse: {},
	imap.CapLiteralPlus:      {},
}

// New builds a Server. Call Serve to accept connections.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OpenCheckEvery <= 0 {
		opts.OpenCheckEvery = 30 * time.Second
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 50 << 20
	}
	opts.MaxMessageBytes = min(opts.MaxMessageBytes, math.MaxUint32) // APPENDLIMIT is a 32-bit number here
	s := &Server{opts: opts, log: opts.Logger.With("component", "imap")}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.feeds = newFeeds(opts.Store, s.log)
	libOpts := &imapserver.Options{
		NewSession:   s.newSession,
		Caps:         capabilities.Copy(),
		Logger:       libLogger{s.log},
		TLSConfig:    opts.TLSConfig,
		InsecureAuth: opts.InsecureAuth,
	}
	switch {
	case opts.ImplicitTLS:
		libOpts.Caps[imap.CapQuota] = struct{}{}
		libOpts.Caps[imap.Cap("QUOTA=RES-STORAGE")] = struct{}{}
		libOpts.TLSConfig, libOpts.InsecureAuth = nil, true
	case opts.TLSConfig != nil:
		// STARTTLS is the wrapper's (quota.go), so that it still sees
		// the commands after it; go-imap is told logins are safe, and
		// the wrapper and Session.Login refuse them before TLS.
		libOpts.TLSConfig, libOpts.InsecureAuth = nil, true
	}
	s.imap = imapserver.New(libOpts)
	return s
}

// ErrServerClosed is returned by Serve after Shutdown: the same value as
// every boxmail server's (netserve.ErrServerClosed).
var ErrServerClosed = netserve.ErrServerClosed

// Serve accepts connections on l until Shutdown, then returns
// ErrServerClosed (at once when called after Shutdown). For IMAPS pass a
// tls.NewListener.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
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
	s.log.Info("imap serving", "addr", l.Addr().String(), "hostname", s.opts.Hostname)
	if s.opts.ImplicitTLS || s.opts.TLSConfig != nil {
		l = quotaListener{Listener: l, srv: s}
	}
	err := s.imap.Serve(l)
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ErrServerClosed
	}
	return err
}

// Shutdown cancels the sessions' context, closes the listeners and every
// connection, then waits (until ctx ends) for the sessions to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closing
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	var err error
	if first {
		// Stop our Serve calls first: go-imap's Close waits on a
		// WaitGroup that its Serve adds to without a lock, a race when
		// the two run at once (the race detector caught it at Ctrl-C).
		s.mu.Lock()
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
		err = s.imap.Close()
	}
	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.feeds.closeAll()
	return err
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.sessions.Add(1)
	}
	s.mu.Unlock()
	if closing {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	id := s.nextID.Add(1)
	sess := &session{
		srv:    s,
		conn:   c,
		origin: uintptr(id),
		log:    s.log.With("session", id, "remote", c.NetConn().RemoteAddr().String()),
	}
	if qc, ok := c.NetConn().(*quotaConn); ok {
		qc.sess.Store(sess)
	}
	sess.log.Debug("imap connection")
	return sess, nil, nil
}

// libLogger passes go-imap's own messages (failed reads, panics) to slog.
type libLogger struct{ log *slog.Logger }

func (l libLogger) Printf(format string, args ...any) {
	l.log.Warn("imapserver: " + fmt.Sprintf(format, args...))
}

// Errors the client sees.
var (
	errReadOnly        = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only"}
	errInternal        = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal error"}
	errPrivacyRequired = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired, Text: "TLS is required to authenticate"}
	errOverQuota       = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Mailbox full: over quota"}
)

// errTooBig is the answer to an APPEND announced above the limit.
func errTooBig(limit int64) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: fmt.Sprintf("Messages are limited to %d bytes", limit)}
}

// storeError turns a store error into what the client should see. Errors
// the client cannot act on are logged and answered generically.
func (sess *session) storeError(op string, err error) error {
	var imapErr *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &imapErr):
		return err
	case errors.Is(err, store.ErrNotFound):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	case errors.Is(err, store.ErrExists):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	case errors.Is(err, store.ErrInvalid):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Not allowed for this mailbox or name"}
	case errors.Is(err, store.ErrOverQuota):
		return errOverQuota
	case errors.Is(err, store.ErrDiskFull):
		sess.log.Error("imap "+op+" failed: disk full", "account", sess.acct.Email, "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "The server's disk is full; try again later"}
	case errors.Is(err, store.ErrMailboxInUse):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeInUse, Text: "Mailbox is in use"}
	}
	sess.log.Error("imap "+op+" failed", "account", sess.acct.Email, "err", err)
	return errInternal
}
