package smtpd

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/resolver"
	"boxmail/internal/testutil"
)

// blockingResolver answers nothing: each lookup waits for its context.
type blockingResolver struct {
	started chan struct{}
	ended   chan error
}

func (r *blockingResolver) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	select {
	case r.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	select {
	case r.ended <- ctx.Err():
	default:
	}
	return nil, ctx.Err()
}

var _ resolver.Resolver = (*blockingResolver)(nil)

// lifecycleServer serves inbound SMTP over a temp store; Shutdown is the
// test's.
func lifecycleServer(t *testing.T, res resolver.Resolver) (*Server, string, chan error) {
	t.Helper()
	ctx := context.Background()
	st := testutil.Store(t)
	if err := st.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAccount(ctx, "me@example.net", "pw-pw-pw-pw", true); err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Mode: Inbound, Deliverer: delivery.New(delivery.Options{Store: st}), Store: st,
		Hostname: "mx.example.net", ReadTimeout: 10 * time.Second, Resolver: res})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	return srv, l.Addr().String(), served
}

type smtpClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *smtpClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sc := &smtpClient{t: t, c: c, r: bufio.NewReader(c)}
	sc.expect("220")
	return sc
}

// expect reads a reply (all its lines) and checks its code.
func (sc *smtpClient) expect(code string) {
	sc.t.Helper()
	for {
		l, err := sc.r.ReadString('\n')
		if err != nil {
			sc.t.Fatalf("read: %v (want %s)", err, code)
		}
		if !strings.HasPrefix(l, code) {
			sc.t.Fatalf("got %q, want %s", l, code)
		}
		if len(l) < 4 || l[3] != '-' {
			return
		}
	}
}

func (sc *smtpClient) cmd(line, code string) {
	sc.t.Helper()
	if _, err := sc.c.Write([]byte(line + "\r\n")); err != nil {
		sc.t.Fatal(err)
	}
	sc.expect(code)
}

// closed reports whether the server has closed the connection, after
// reading what it still sent.
func (sc *smtpClient) closed() bool {
	for {
		if _, err := sc.r.ReadString('\n'); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

func TestShutdownClosesIdleSessionsAndServeReturnsErrServerClosed(t *testing.T) {
	srv, addr, served := lifecycleServer(t, nil)
	c := dialSMTP(t, addr)
	c.cmd("EHLO client.example.org", "250")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.expect("421")
	if !c.closed() {
		t.Error("the connection is still open after Shutdown")
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

// A message's checks wait for DNS that never answers: Shutdown cancels
// the lookup when its grace period ends, and the client is told 421.
func TestShutdownCancelsADNSLookupInFlight(t *testing.T) {
	res := &blockingResolver{started: make(chan struct{}, 1), ended: make(chan error, 1)}
	srv, addr, _ := lifecycleServer(t, res)
	c := dialSMTP(t, addr)
	c.cmd("EHLO client.example.org", "250")
	c.cmd("MAIL FROM:<a@sender.example.org>", "250")
	c.cmd("RCPT TO:<me@example.net>", "250")
	c.cmd("DATA", "354")
	if _, err := c.c.Write([]byte("From: a@sender.example.org\r\nSubject: x\r\n\r\nhi\r\n.\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-res.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no DNS lookup started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-res.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("lookup ended with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the DNS lookup was not cancelled by Shutdown")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if !c.closed() {
		t.Error("the connection is still open after Shutdown")
	}
}
