package imapd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

const password = "correct horse battery"

// testServer is a boxmail IMAP server on a loopback port over a temp store.
type testServer struct {
	store *store.Store
	addr  string
	srv   *Server
}

func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	st := testutil.Store(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = st
	if opts.Logger == nil && os.Getenv("IMAPD_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts.Hostname = "mx.example.test"
	srv := New(opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	return &testServer{store: st, addr: l.Addr().String(), srv: srv}
}

// startInsecure is the usual test server: plain TCP with LOGIN allowed.
func startInsecure(t testing.TB) *testServer {
	return startServer(t, Options{InsecureAuth: true})
}

func (ts *testServer) account(t testing.TB, email string) store.Account {
	t.Helper()
	ctx := context.Background()
	domain := email[len(email)-len("example.test"):]
	if err := ts.store.AddDomain(ctx, domain); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	a, err := ts.store.AddAccount(ctx, email, password, false)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// deliver stores a message in the account's INBOX the way SMTP does.
func (ts *testServer) deliver(t testing.TB, a store.Account, data string) {
	t.Helper()
	err := ts.store.Deliver(context.Background(), store.Delivery{Data: []byte(data), Local: []store.LocalTarget{{AccountID: a.ID}}})
	if err != nil {
		t.Fatal(err)
	}
}

// login connects and logs in as the account.
func (ts *testServer) login(t testing.TB, a store.Account, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(ts.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(a.Email, password).Wait(); err != nil {
		t.Fatalf("login %s: %v", a.Email, err)
	}
	return c
}

func testMessage(subject, body string) string {
	return "From: Alice Example <alice@example.test>\r\n" +
		"To: Bob <bob@example.test>\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 -0700\r\n" +
		"Message-ID: <" + subject + "@example.test>\r\n" +
		"\r\n" + body + "\r\n"
}
