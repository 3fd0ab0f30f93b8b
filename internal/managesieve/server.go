// Package managesieve is boxmail's ManageSieve server (RFC 5804): users'
// mail clients list, upload, check, activate, rename and delete their
// Sieve scripts. Uploads are validated with package sieve (a script that
// does not parse is refused with its line:col error, RFC 5804 2.6) and
// stored through a Backend (StoreBackend: package store).
//
// Supported: STARTTLS, AUTHENTICATE PLAIN (only over TLS unless
// Options.InsecureAuth), CAPABILITY, LISTSCRIPTS, GETSCRIPT, PUTSCRIPT,
// CHECKSCRIPT, SETACTIVE, DELETESCRIPT, RENAMESCRIPT, HAVESPACE, NOOP,
// LOGOUT. Not supported: UNAUTHENTICATE, SASL mechanisms other than PLAIN,
// proxy authorization. It does not run scripts (package delivery does).
//
// Files: server.go (options and lifecycle, on internal/netserve),
// conn.go (one connection, the command loop, replies), commands.go (one
// function per command and the command table), auth.go (STARTTLS,
// AUTHENTICATE), parse.go (command line and string/literal syntax),
// session.go (the Backend and Session interfaces), store.go (the store
// adapter).
package managesieve

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"boxmail/internal/guard"
	"boxmail/internal/netserve"
)

// Options configure a Server.
type Options struct {
	Backend   Backend
	Logger    *slog.Logger
	TLSConfig *tls.Config // nil: no STARTTLS
	// InsecureAuth allows AUTHENTICATE without TLS (quickstart on loopback).
	InsecureAuth bool
	// MaxScripts per account (default 20).
	MaxScripts int
	// MaxRedirects is announced as MAXREDIRECTS (default 10).
	MaxRedirects int
	// IdleTimeout closes a silent connection (default 10 minutes).
	IdleTimeout time.Duration
	// Guard is the shared login limiter (internal/guard); nil: none.
	Guard *guard.Guard
}

// Server serves ManageSieve connections.
type Server struct {
	o   Options
	log *slog.Logger
	ns  *netserve.Server
}

// New returns a Server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxScripts == 0 {
		o.MaxScripts = 20
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = 10
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	s := &Server{o: o, log: o.Logger}
	s.ns = netserve.New(o.Logger, func(ctx context.Context, nc net.Conn) { newConn(ctx, s, nc).serve() })
	return s
}

// ErrServerClosed is returned by Serve after Shutdown (the one value of
// every boxmail server, netserve.ErrServerClosed).
var ErrServerClosed = netserve.ErrServerClosed

// Serve accepts connections on ln until Shutdown, then returns
// ErrServerClosed (at once when called after Shutdown).
func (s *Server) Serve(ln net.Listener) error { return s.ns.Serve(ln) }

// Shutdown stops accepting, cancels the sessions' context, tells each
// client BYE and closes its connection after the command in progress,
// waiting up to ctx; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error { return s.ns.Shutdown(ctx) }
