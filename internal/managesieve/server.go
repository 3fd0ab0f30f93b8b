// Package managesieve is boxmail's ManageSieve server (RFC 5804): users'
// mail clients list, upload, check, activate, rename and delete their
// Sieve scripts. Uploads are validated with package sieve (a script that
// does not parse is refused with its line:col error, RFC 5804 2.6) and
// stored through package store.
//
// Supported: STARTTLS, AUTHENTICATE PLAIN (only over TLS unless
// Options.InsecureAuth), CAPABILITY, LISTSCRIPTS, GETSCRIPT, PUTSCRIPT,
// CHECKSCRIPT, SETACTIVE, DELETESCRIPT, RENAMESCRIPT, HAVESPACE, NOOP,
// LOGOUT. Not supported: UNAUTHENTICATE, SASL mechanisms other than PLAIN,
// proxy authorization.
//
// Files: server.go (lifecycle), conn.go (one connection, replies),
// parse.go (command line and string/literal syntax), commands.go.
package managesieve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"boxmail/internal/guard"
	"boxmail/internal/store"
)

// Options configure a Server.
type Options struct {
	Store     *store.Store
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

	mu      sync.Mutex
	lns     map[net.Listener]bool
	conns   map[*conn]bool
	closing bool
	wg      sync.WaitGroup
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
	return &Server{o: o, log: o.Logger, lns: map[net.Listener]bool{}, conns: map[*conn]bool{}}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("managesieve: server closed")

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[ln] = true
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, tells each client BYE and closes its
// connection after the command in progress, waiting up to ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}
