package guard

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ListenOptions say how Listener treats one front-end's connections.
type ListenOptions struct {
	// Proto names the protocol the per-client limit counts in: give the
	// STARTTLS and the implicit-TLS listener of one protocol the same.
	Proto string
	// Refuse is written to a client over a limit before it is closed,
	// e.g. "421 4.7.0 Too many connections, try again later\r\n".
	Refuse string
	// TLS is set for an implicit-TLS listener: the refusal is written
	// inside a TLS session. Wrap the inner (TCP) listener, and pass
	// Listener's result to tls.NewListener.
	TLS *tls.Config
	// EarlyTalker, when set, makes clients outside the trusted networks
	// and the allow-list wait Options.GreetWait before the front-end
	// greets them; one that sends anything first gets this line and is
	// closed (inbound SMTP only).
	EarlyTalker string
}

type connKey struct {
	proto string
	net   netip.Prefix
}

// Listener wraps ln with the connection limits (see the package comment).
// Connections are handed to the front-end only once admitted; the count
// is released when the front-end closes the connection.
func (g *Guard) Listener(ln net.Listener, o ListenOptions) net.Listener {
	if g == nil {
		return ln
	}
	l := &listener{Listener: ln, g: g, o: o, ch: make(chan net.Conn), done: make(chan struct{}), errc: make(chan error, 1)}
	go l.acceptLoop()
	return l
}

type listener struct {
	net.Listener
	g    *Guard
	o    ListenOptions
	ch   chan net.Conn
	errc chan error
	done chan struct{}
	once sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *listener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			select {
			case l.errc <- err:
			case <-l.done:
			}
			return
		}
		delay = 0
		go l.admit(c)
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr().Unmap()
}

// admit runs the checks of one new connection in its own goroutine, so a
// greet wait or a refusal never holds up the accept loop.
func (l *listener) admit(c net.Conn) {
	g := l.g
	ip := remoteIP(c)
	allowed := contains(g.o.Allow, ip)
	key := connKey{l.o.Proto, ClientNet(ip)}
	if !allowed && !g.acquire(key) {
		g.log.Info("connection refused: too many", "proto", l.o.Proto, "remote", ip)
		l.refuse(c, l.o.Refuse)
		return
	}
	if allowed {
		g.connMu.Lock()
		g.total++
		g.connMu.Unlock()
		key.proto = "" // counted in the total only
	}
	gc := &conn{Conn: c, g: g, key: key}
	if l.o.EarlyTalker != "" && g.o.GreetWait > 0 && !allowed && !contains(g.o.Trusted, ip) {
		c.SetReadDeadline(time.Now().Add(g.o.GreetWait))
		var b [1]byte
		_, err := c.Read(b[:])
		c.SetReadDeadline(time.Time{})
		var ne net.Error
		if err == nil {
			g.log.Info("early talker refused", "proto", l.o.Proto, "remote", ip)
			l.refuse(gc, l.o.EarlyTalker)
			return
		} else if !errors.As(err, &ne) || !ne.Timeout() {
			_ = gc.Close() // gone before the greeting: nothing to tell
			return
		}
	}
	select {
	case l.ch <- gc:
	case <-l.done:
		_ = gc.Close() // the listener is closing: the client sees the close
	}
}

// refuse writes line (inside TLS on an implicit-TLS port) and closes c.
func (l *listener) refuse(c net.Conn, line string) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var w io.Writer = c
	if l.o.TLS != nil {
		tc := tls.Server(c, l.o.TLS)
		if tc.Handshake() != nil {
			c.Close()
			return
		}
		w = tc
	}
	if _, err := io.WriteString(w, line); err != nil {
		l.g.log.Debug("refusal not written", "proto", l.o.Proto, "err", err)
	}
	c.Close()
}

// acquire counts a connection if the limits allow it.
func (g *Guard) acquire(k connKey) bool {
	g.connMu.Lock()
	defer g.connMu.Unlock()
	if g.total >= g.o.MaxConns || g.conns[k] >= g.o.MaxConnsPerIP {
		return false
	}
	g.conns[k]++
	g.total++
	return true
}

func (g *Guard) release(k connKey) {
	g.connMu.Lock()
	defer g.connMu.Unlock()
	g.total--
	if k.proto == "" {
		return
	}
	if g.conns[k] <= 1 {
		delete(g.conns, k)
	} else {
		g.conns[k]--
	}
}

// Conns returns the number of connections counted now (for tests and
// status).
func (g *Guard) Conns() int {
	g.connMu.Lock()
	defer g.connMu.Unlock()
	return g.total
}

// conn releases its count once, when closed.
type conn struct {
	net.Conn
	g    *Guard
	key  connKey
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.g.release(c.key) })
	return err
}
