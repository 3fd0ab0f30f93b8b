// Package netserve is the accept loop of the servers whose wire protocol
// boxmail writes itself (pop3d, managesieve, imapd): it accepts
// connections, tracks them, recovers a handler's panic, gives every
// handler a context that Shutdown cancels, and drains on Shutdown.
//
// It is not a protocol framework: it knows nothing of lines, commands,
// TLS or logins; the handler owns the connection. smtpd, built on
// go-smtp's own loop, does not use it, but follows the same contract and
// returns the same ErrServerClosed.
//
// # Contract
//
//   - Serve(l) blocks until Shutdown or Close, then returns
//     ErrServerClosed (as net/http does); any other accept error that is
//     not temporary is returned as is. Serve after Shutdown closes l and
//     returns ErrServerClosed at once.
//   - A temporary accept error (a timeout, e.g. EMFILE surfaced by a
//     limiting listener) backs off from 5 ms up to 1 s and retries.
//   - Each connection runs Handler(ctx, conn) in its own goroutine. ctx
//     derives from the server's base context (made by New) and is
//     cancelled when Shutdown or Close is called, or when the handler
//     returns. The connection is closed when the handler returns.
//   - A panic in a handler is logged (slog, with the stack) and closes
//     only that connection; the server keeps serving.
//   - Shutdown(ctx) stops accepting, cancels the base context, wakes every
//     connection blocked in a read (its read deadline is set to now, so
//     the handler can say goodbye), waits for the handlers to return or
//     ctx to end, and then closes what is left and returns ctx.Err().
//     Handlers arm their read deadlines through ArmRead, so a deadline set
//     after Shutdown's wake-up cannot undo it.
//   - Close closes the listeners and every connection at once.
package netserve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server closed")

// Handler serves one connection until it returns; the connection is
// closed afterwards.
type Handler func(ctx context.Context, nc net.Conn)

// Server is one accept loop (for any number of listeners) and its
// connections.
type Server struct {
	handler Handler
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup // handlers; Add only under mu while !closing
}

// New returns a Server that runs h for every connection; log (nil: none)
// receives panics and accept errors.
func New(log *slog.Logger, h Handler) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{handler: h, log: log, ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// Context is the base context: cancelled by Shutdown and Close.
func (s *Server) Context() context.Context { return s.ctx }

// Closing reports whether Shutdown or Close has been called.
func (s *Server) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// ArmRead sets nc's read deadline to now+d unless the server is shutting
// down, and reports whether it did. It holds the lock Shutdown wakes the
// connections under, so Shutdown's wake-up is never undone.
func (s *Server) ArmRead(nc net.Conn, d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if err := nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return false // the connection is closed: the read will fail anyway
	}
	return true
}

// Serve accepts connections on l until Shutdown or Close and always
// returns a non-nil error: ErrServerClosed after those.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		if err := l.Close(); err != nil {
			s.log.Debug("closing a listener after shutdown", "err", err)
		}
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.Closing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.start(nc)
	}
}

// start runs the handler of nc unless the server is closing.
func (s *Server) start(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		closeQuietly(nc)
		return
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run(nc)
}

func (s *Server) run(nc net.Conn) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in a connection handler; connection closed", "panic", r,
				"remote", nc.RemoteAddr().String(), "stack", string(debug.Stack()))
		}
		cancel()
		closeQuietly(nc)
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	s.handler(ctx, nc)
}

// closeQuietly closes a connection whose close error nobody can act on
// (the peer may have gone already).
func closeQuietly(nc net.Conn) {
	_ = nc.Close() //nolint:errcheck // see above
}

// stop marks the server closing, closes the listeners, cancels the base
// context and applies f to every connection, all under the lock.
func (s *Server) stop(f func(net.Conn)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	s.cancel()
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("closing a listener", "err", err)
		}
	}
	for nc := range s.conns {
		f(nc)
	}
}

// wake makes a read in progress return at once with a timeout error.
func wake(nc net.Conn) {
	_ = nc.SetReadDeadline(time.Now()) //nolint:errcheck // a closed connection is awake already
}

// Shutdown stops accepting, cancels the base context, wakes idle
// connections, and waits for the handlers until ctx ends; then it closes
// the connections left, waits for their handlers and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop(wake)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.stop(closeQuietly)
	<-done
	return ctx.Err()
}

// Close closes the listeners and every connection and waits for the
// handlers to return.
func (s *Server) Close() error {
	s.stop(closeQuietly)
	s.wg.Wait()
	return nil
}
