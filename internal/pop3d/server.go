// Package pop3d is boxmail's POP3 server, written here (no library): the
// fallback for clients that only download mail.
//
// # Protocols
//
//   - RFC 1939 POP3: USER/PASS, STAT, LIST, UIDL, RETR, TOP, DELE, RSET,
//     NOOP, QUIT with the UPDATE state. APOP is not offered (it needs the
//     password in clear on the server).
//   - RFC 2449 CAPA and response codes: [IN-USE], [SYS/TEMP], [SYS/PERM],
//     and RFC 3206 [AUTH].
//   - RFC 2595 STLS, RFC 5034 AUTH PLAIN (RFC 4616) with an initial
//     response; "AUTH" alone lists the mechanisms (as RFC 1734 clients ask).
//   - Implicit TLS (port 995, RFC 8314) by passing a tls.NewListener.
//
// # Behaviour
//
// The maildrop is the account's INBOX (StoreBackend), fixed at login: the
// message numbers of a session never change. UIDL is the message's UID and
// the mailbox's UIDVALIDITY (Dovecot's format), stable across sessions
// and restarts. DELE only marks; messages are removed at QUIT, all in one
// store transaction with \Seen set on the retrieved ones, so a dropped
// connection deletes nothing. A second session for an account gets
// "-ERR [IN-USE]". Logins (USER/PASS, AUTH) are refused before TLS unless
// Options.InsecureAuth (quickstart on loopback), and go through the shared
// login limiter (internal/guard), which answers a blocked client with the
// same "-ERR [AUTH]" as a wrong password.
//
// Bodies are sent as stored, dot-stuffed, with line ends made CRLF;
// delivery already stores CRLF, so the bytes fetched are the bytes
// delivered. Ten unknown or malformed commands end the session.
//
// # Layout
//
// server.go (options and lifecycle, on internal/netserve), conn.go (the command loop and state),
// parse.go (the command parser, fuzzed), auth.go (CAPA, STLS, USER, PASS,
// AUTH), transaction.go (STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP),
// session.go (the Backend and Session interfaces), store.go (the store
// adapter).
package pop3d

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"boxmail/internal/guard"
	"boxmail/internal/metrics"
	"boxmail/internal/netserve"
)

// Options configure a Server.
type Options struct {
	Backend Backend
	Logger  *slog.Logger
	// TLSConfig enables STLS; nil disables it.
	TLSConfig *tls.Config
	// InsecureAuth allows logins without TLS (quickstart on loopback).
	InsecureAuth bool
	// Guard is the shared login limiter; nil limits nothing.
	Guard *guard.Guard
	// IdleTimeout ends a silent session [10 minutes, RFC 1939 3's least
	// autologout timer].
	IdleTimeout time.Duration
	// Metrics counts sessions and logins; nil: none.
	Metrics *metrics.Metrics
}

// ErrServerClosed is returned by Serve after Shutdown (the one value of
// every boxmail server, netserve.ErrServerClosed).
var ErrServerClosed = netserve.ErrServerClosed

// Server is one POP3 listener's server.
type Server struct {
	o      Options
	log    *slog.Logger
	nextID atomic.Uint64
	ns     *netserve.Server
}

// New builds a Server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	s := &Server{o: o, log: o.Logger}
	s.ns = netserve.New(o.Logger, func(ctx context.Context, nc net.Conn) { defer o.Metrics.Session("pop3")(); s.newConn(ctx, nc).serve() })
	return s
}

// Serve accepts connections on l until Shutdown, then returns
// ErrServerClosed (at once when called after Shutdown). For POP3S pass a
// tls.NewListener. The accept loop, panic recovery and draining are
// internal/netserve's.
func (s *Server) Serve(l net.Listener) error { return s.ns.Serve(l) }

// Shutdown stops accepting, cancels the sessions' context, ends every
// session at its next read with "-ERR [SYS/TEMP]" (without the UPDATE
// state: nothing is deleted), lets a command in progress finish (a QUIT's
// update included: it runs on a context Shutdown does not cancel, bounded
// by its own timeout), and closes what is left when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.ns.Shutdown(ctx) }
