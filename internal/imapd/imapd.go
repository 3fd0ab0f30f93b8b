// Package imapd is boxmail's IMAP server: our own protocol layer (the
// command reader and response encoder of imapd/wire, a connection loop,
// one file per command group) with sessions backed directly by the store.
// It is not a mail store, nor an IMAP client (internal/migrate has one).
//
// # Protocols
//
//   - IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051); a client that
//     sends ENABLE IMAP4rev2 gets rev2's answers (no \Recent, ESEARCH)
//   - STARTTLS and LOGINDISABLED (RFC 3501 6.2.1), implicit TLS (RFC 8314),
//     LOGIN and AUTHENTICATE PLAIN (RFC 4616) with SASL-IR (RFC 4959)
//   - IDLE (RFC 2177), NAMESPACE (RFC 2342), ID (RFC 2971), UIDPLUS
//     (RFC 4315), MOVE (RFC 6851), SPECIAL-USE and CREATE-SPECIAL-USE
//     (RFC 6154), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
//     CHILDREN (RFC 3348), ESEARCH (RFC 4731), SEARCHRES (RFC 5182),
//     STATUS=SIZE (RFC 8438), UNSELECT (RFC 3691), ENABLE (RFC 5161),
//     LITERAL+ (RFC 7888), BINARY (RFC 3516), UTF8=ACCEPT (RFC 6855),
//     APPENDLIMIT (RFC 7889), QUOTA (RFC 9208) on every port
//   - CONDSTORE and QRESYNC (RFC 7162), COMPRESS=DEFLATE (RFC 4978; the
//     client's stream is read with imapd/inflate, compress.go says why)
//
// Usernames are full email addresses; passwords are checked with
// store.AuthenticateDevice (app passwords, and the main password unless
// the account has TOTP on), through the shared login limiter
// (Options.Guard, internal/guard). Without TLS, LOGIN and AUTHENTICATE
// are refused (NO [PRIVACYREQUIRED], LOGINDISABLED advertised) unless
// Options.InsecureAuth is set. Whatever a client sent in the clear after
// STARTTLS is dropped.
//
// # Layout
//
// imapd.go (options, lifecycle on internal/netserve, errors), conn.go
// (the connection loop, states and dispatch), auth.go (commands of any
// state and before login), mailboxes.go (LIST, STATUS, CREATE, ...,
// QUOTA), append.go, selected.go (SELECT and the commands of the selected
// state), view.go (sequence numbers and pending updates), feed.go (the
// account's change feed), fetch.go, search.go, idle.go, condstore.go
// (CONDSTORE/QRESYNC), compress.go, msgbytes.go (what SEARCH's
// go-message parsing is given of a message).
//
// # Mailbox state and push
//
// UIDVALIDITY and UIDs are the store's, so they survive restarts. Each
// logged-in account has one store.Subscribe subscription per Server (an
// accountFeed). Its events are queued, in commit order, on every session
// that has the mailbox selected (view.go). A session keeps its own list
// of UIDs (position+1 is the sequence number the client knows) and turns
// queued events into EXISTS, RECENT, EXPUNGE and FETCH FLAGS only where
// the protocol allows it: after any command, during IDLE, and never an
// EXPUNGE while answering a FETCH, STORE or SEARCH by sequence number
// (RFC 9051 7.5.1). A session's own flag changes are answered by the
// command itself, never echoed. A keyword a client has not yet been told
// of comes with an untagged FLAGS and PERMANENTFLAGS first.
//
// \Recent (IMAP4rev1 only): a message is recent to exactly one session.
// The session that SELECTs a mailbox takes its recent messages
// (store.ClearRecent); EXAMINE leaves them. A message that arrives while
// the mailbox is selected goes to the first read-write session that hears
// of it and asks the store (usually the one that added it by APPEND or
// COPY).
//
// # Limits
//
// Every command is read within wire's limits (line length, literal sizes,
// nesting, argument count): a violation is answered BAD or NO, or BYE
// when the input cannot be resynchronised. APPEND takes at most
// Options.MaxMessageBytes (advertised as APPENDLIMIT): an APPEND
// announced above it, or above what is left of the account's quota, is
// refused (NO [TOOBIG], NO [OVERQUOTA]) before any byte of it is read; the
// bytes of a refused LITERAL+ one are read past after the answer, keeping
// none. A message from store.FileBodyMin up is streamed into a body file.
// Headers are parsed up to 128 KiB (wire.MaxParsedHeader), at most 10,000
// MIME parts, and a FETCH or SEARCH that needs whole messages loads at
// most 32 MiB of them at once (maxChunkBytes).
//
// # Errors
//
// Errors a client should see are *wire.Error values carrying their
// response code (NONEXISTENT, ALREADYEXISTS, TRYCREATE, CANNOT, ...). Any
// other error is logged with the session's id and answered "NO
// [SERVERBUG] Internal error"; its text never reaches the client.
// Passwords and message bodies are never logged.
//
// # Performance
//
// Responses are encoded straight into the connection's wire.BufWriter
// (FETCH FLAGS writes no per-message string: flagText) and flushed once
// per batch of commands the client pipelined, once per IDLE push, and
// through the deflate compressor when COMPRESS is on. FETCH of UID and
// FLAGS comes from the store's in-memory flags (store.LoadFlags).
//
// # Not done
//
// NOTIFY (RFC 5465) is not implemented. MULTIAPPEND is accepted but not
// atomic, and not advertised. store/condstore.go is a stand-in: its
// VanishedSince reports every UID below UIDNEXT that is not present.
package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math"
	"net"
	"sync/atomic"
	"time"

	"boxmail/internal/guard"
	"boxmail/internal/imapd/wire"
	"boxmail/internal/metrics"
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
	// ImplicitTLS says Serve is given TLS listeners (IMAPS): no STARTTLS
	// is offered, and logins are taken.
	ImplicitTLS bool
	// OpenCheckEvery is how often a logged-in session asks whether its
	// account was disabled meanwhile (default 30 s); one that was gets BYE.
	// A disabling that reaches the change feed is acted on at once.
	OpenCheckEvery time.Duration
	// MaxMessageBytes is the largest message APPEND takes, advertised as
	// APPENDLIMIT (RFC 7889); the box's max_message_size, default 50 MiB.
	MaxMessageBytes int64
	// IdleTimeout ends a session silent for that long (default 30
	// minutes, RFC 9051 5.4's least autologout timer; IDLE included).
	IdleTimeout time.Duration
	// Metrics counts sessions, logins and IDLE connections; nil: none.
	Metrics *metrics.Metrics
}

// Server is an IMAP server over a store.
type Server struct {
	opts   Options
	log    *slog.Logger
	ns     *netserve.Server
	feeds  *feeds
	nextID atomic.Uint64
	// ctx is the sessions' base context: Shutdown cancels it, so store
	// work in flight stops.
	ctx context.Context
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
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	opts.MaxMessageBytes = min(opts.MaxMessageBytes, math.MaxUint32) // APPENDLIMIT is a 32-bit number here
	s := &Server{opts: opts, log: opts.Logger.With("component", "imap")}
	s.feeds = newFeeds(opts.Store, s.log)
	s.ns = netserve.New(s.log, func(ctx context.Context, nc net.Conn) {
		defer opts.Metrics.Session("imap")()
		s.newConn(ctx, nc).serve()
	})
	s.ctx = s.ns.Context()
	return s
}

// ErrServerClosed is returned by Serve after Shutdown: the same value as
// every boxmail server's (netserve.ErrServerClosed).
var ErrServerClosed = netserve.ErrServerClosed

// Serve accepts connections on l until Shutdown, then returns
// ErrServerClosed (at once when called after Shutdown). For IMAPS pass a
// tls.NewListener.
func (s *Server) Serve(l net.Listener) error {
	if !s.ns.Closing() {
		s.log.Info("imap serving", "addr", l.Addr().String(), "hostname", s.opts.Hostname)
	}
	return s.ns.Serve(l)
}

// Shutdown stops accepting, cancels the sessions' context, says BYE to
// every session at its next read (an idling one at once), and waits
// (until ctx ends) for the sessions to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.ns.Shutdown(ctx)
	s.feeds.closeAll()
	return err
}

// Errors the client sees.
var (
	errReadOnly        = &wire.Error{Kind: wire.NO, Code: wire.CodeCannot, Text: "Mailbox is read-only"}
	errInternal        = &wire.Error{Kind: wire.NO, Code: wire.CodeServerBug, Text: "Internal error"}
	errPrivacyRequired = &wire.Error{Kind: wire.NO, Code: wire.CodePrivacyReq, Text: "TLS is required to authenticate"}
	errOverQuota       = &wire.Error{Kind: wire.NO, Code: wire.CodeOverQuota, Text: "Mailbox full: over quota"}
	errTryCreate       = &wire.Error{Kind: wire.NO, Code: wire.CodeTryCreate, Text: "No such mailbox"}
	errAuthFailed      = &wire.Error{Kind: wire.NO, Code: wire.CodeAuthFailed, Text: "Authentication failed"}
)

// bad is a BAD answer with text.
func bad(text string) *wire.Error { return &wire.Error{Kind: wire.BAD, Text: text} }

// no is a NO answer with a code and text.
func no(code, text string) *wire.Error { return &wire.Error{Kind: wire.NO, Code: code, Text: text} }

// storeError turns a store error into what the client should see. Errors
// the client cannot act on are logged and answered generically.
func (c *conn) storeError(op string, err error) error {
	var we *wire.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &we):
		return err
	case errors.Is(err, store.ErrNotFound):
		return no(wire.CodeNonExistent, "No such mailbox")
	case errors.Is(err, store.ErrExists):
		return no(wire.CodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrInvalid):
		return no(wire.CodeCannot, "Not allowed for this mailbox or name")
	case errors.Is(err, store.ErrOverQuota):
		return errOverQuota
	case errors.Is(err, store.ErrDiskFull):
		c.log.Error("imap "+op+" failed: disk full", "err", err)
		return no(wire.CodeOverQuota, "The server's disk is full; try again later")
	case errors.Is(err, store.ErrMailboxInUse):
		return no(wire.CodeInUse, "Mailbox is in use")
	}
	c.log.Error("imap "+op+" failed", "err", err)
	return errInternal
}
