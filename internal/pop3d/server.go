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
// server.go (listeners, shutdown), conn.go (the command loop and state),
// parse.go (the command parser, fuzzed), auth.go (CAPA, STLS, USER, PASS,
// AUTH), transaction.go (STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP),
// session.go (the Backend and Session interfaces), store.go (the store
// adapter).
package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"boxmail/internal/guard"
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
}

// Server is one POP3 listener's server.
type Server struct {
	o      Options
	log    *slog.Logger
	nextID atomic.Uint64

	mu        sync.Mutex
	closing   bool
	listeners []net.Listener
	conns     map[*conn]struct{}
	wg        sync.WaitGroup
}

// New builds a Server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	return &Server{o: o, log: o.Logger, conns: map[*conn]struct{}{}}
}

// Serve accepts connections on l until Shutdown. For POP3S pass a
// tls.NewListener.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
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
		c := s.newConn(nc)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
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

// Shutdown stops accepting, ends every session at its next read with
// "-ERR [SYS/TEMP]" (without the UPDATE state: nothing is deleted), lets
// a command in progress (a QUIT's update included) finish, and closes
// what is left when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for _, l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.nc.SetReadDeadline(time.Now()) // wakes a waiting read
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// armRead sets the idle deadline for the next command unless the server
// is shutting down; under s.mu, so Shutdown's wake-up is never undone.
func (s *Server) armRead(nc net.Conn, d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	nc.SetReadDeadline(time.Now().Add(d))
	return true
}
