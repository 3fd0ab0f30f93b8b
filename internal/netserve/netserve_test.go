package netserve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// echo answers each line, or panics on "panic".
func echo(s **Server) Handler {
	return func(ctx context.Context, nc net.Conn) {
		r := bufio.NewReader(nc)
		for {
			if !(*s).ArmRead(nc, time.Minute) {
				io.WriteString(nc, "bye\n")
				return
			}
			line, err := r.ReadString('\n')
			if err != nil {
				if (*s).Closing() {
					io.WriteString(nc, "bye\n")
				}
				return
			}
			if strings.TrimSpace(line) == "panic" {
				panic("injected")
			}
			io.WriteString(nc, line)
		}
	}
}

func start(t *testing.T) (*Server, net.Listener, chan error) {
	t.Helper()
	var s *Server
	s = New(nil, echo(&s))
	l := listen(t)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	return s, l, errc
}

func dial(t *testing.T, l net.Listener) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, s string) string {
	t.Helper()
	io.WriteString(c, s+"\n")
	line, _ := r.ReadString('\n')
	return strings.TrimSpace(line)
}

func TestShutdownWakesIdleConnectionsAndServeReturnsErrServerClosed(t *testing.T) {
	s, l, errc := start(t)
	c, r := dial(t, l)
	if got := roundTrip(t, c, r, "hi"); got != "hi" {
		t.Fatalf("echo: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if line, _ := r.ReadString('\n'); line != "bye\n" {
		t.Errorf("client got %q, want bye", line)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Error("connection still open after Shutdown")
	}
	if err := <-errc; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	if err := s.Serve(listen(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if s.Context().Err() == nil {
		t.Error("base context not cancelled")
	}
}

func TestAPanicClosesOnlyItsConnection(t *testing.T) {
	s, l, _ := start(t)
	defer s.Close()
	a, ra := dial(t, l)
	b, rb := dial(t, l)
	io.WriteString(a, "panic\n")
	if _, err := ra.ReadByte(); err == nil {
		t.Error("the panicking connection is still open")
	}
	if got := roundTrip(t, b, rb, "still"); got != "still" {
		t.Errorf("other connection: %q", got)
	}
	c, rc := dial(t, l)
	if got := roundTrip(t, c, rc, "new"); got != "new" {
		t.Errorf("new connection: %q", got)
	}
}

func TestShutdownForceClosesAfterItsDeadline(t *testing.T) {
	var seen context.Context
	started := make(chan struct{})
	s := New(nil, func(ctx context.Context, nc net.Conn) {
		seen = ctx
		close(started)
		for { // ignores the wake-up: only closing ends it
			_, err := nc.Read(make([]byte, 1))
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	l := listen(t)
	go s.Serve(l)
	c, r := dial(t, l)
	<-started
	_ = c
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	if seen.Err() == nil {
		t.Error("handler context not cancelled")
	}
	if _, err := r.ReadByte(); err == nil {
		t.Error("connection still open")
	}
}
