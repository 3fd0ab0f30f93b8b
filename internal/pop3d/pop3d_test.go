package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"boxmail/internal/guard"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

const password = "correct horse battery"

type testServer struct {
	st     *store.Store
	dir    string
	addr   string
	srv    *Server
	tls    *tls.Config
	served chan error
}

// start serves POP3 with STLS on a loopback port over a store in dir.
func start(t testing.TB, dir string, mod func(*Options)) *testServer {
	t.Helper()
	st := testutil.StoreAt(t, dir, store.Options{})
	ts := &testServer{st: st, dir: dir, tls: testutil.TLSConfig(t)}
	o := Options{Backend: NewStoreBackend(st), TLSConfig: ts.tls}
	if mod != nil {
		mod(&o)
	}
	ts.srv = New(o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	ts.served = make(chan error, 1)
	go func() { ts.served <- ts.srv.Serve(l) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

func (ts *testServer) stop(t testing.TB) {
	if ts.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := <-ts.served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("serve: %v, want ErrServerClosed", err)
	}
	ts.st.Close()
	ts.srv = nil
}

func (ts *testServer) account(t testing.TB, email string) store.Account {
	t.Helper()
	ctx := context.Background()
	if err := ts.st.AddDomain(ctx, email[strings.IndexByte(email, '@')+1:]); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	a, err := ts.st.AddAccount(ctx, email, password, false)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (ts *testServer) deliver(t testing.TB, a store.Account, data string) {
	t.Helper()
	if err := ts.st.Deliver(context.Background(), store.Delivery{Data: []byte(data), Local: []store.LocalTarget{{AccountID: a.ID}}}); err != nil {
		t.Fatal(err)
	}
}

func (ts *testServer) inbox(t testing.TB, a store.Account) []store.Message {
	t.Helper()
	mb, err := ts.st.MailboxByName(context.Background(), a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ts.st.Messages(context.Background(), mb.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// client is a raw POP3 client for scripted dialogs.
type client struct {
	t  testing.TB
	c  net.Conn
	r  *bufio.Reader
	ip string
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	cl.expect("+OK")
	return cl
}

func (cl *client) send(line string) {
	cl.t.Helper()
	cl.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := cl.c.Write([]byte(line + "\r\n")); err != nil {
		cl.t.Fatalf("send %q: %v", line, err)
	}
}

func (cl *client) line() string {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := cl.r.ReadString('\n')
	if err != nil {
		cl.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		cl.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect reads a status line and checks its prefix.
func (cl *client) expect(prefix string) string {
	cl.t.Helper()
	l := cl.line()
	if !strings.HasPrefix(l, prefix) {
		cl.t.Fatalf("got %q, want %q...", l, prefix)
	}
	return l
}

// cmd sends a command and checks the status line.
func (cl *client) cmd(line, prefix string) string {
	cl.t.Helper()
	cl.send(line)
	return cl.expect(prefix)
}

// body reads a multi-line body and undoes the dot-stuffing.
func (cl *client) body() string {
	cl.t.Helper()
	var b strings.Builder
	for {
		l := cl.line()
		if l == "." {
			return b.String()
		}
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteString("\r\n")
	}
}

func (cl *client) startTLS(cfg *tls.Config) {
	cl.t.Helper()
	cl.cmd("STLS", "+OK")
	tc := tls.Client(cl.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		cl.t.Fatal(err)
	}
	cl.c, cl.r = tc, bufio.NewReader(tc)
}

func (cl *client) login(user string) {
	cl.t.Helper()
	cl.cmd("USER "+user, "+OK")
	cl.cmd("PASS "+password, "+OK")
}

const msg1 = "From: alice@example.test\r\nSubject: one\r\n\r\nHello.\r\n.hidden dot line\r\n..two dots\r\nlast\r\n"
const msg2 = "From: bob@example.test\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"

func TestADownloadSessionDeletesOnlyAtQuit(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	a := ts.account(t, "me@example.test")
	ts.deliver(t, a, msg1)
	ts.deliver(t, a, msg2)

	c := dial(t, ts.addr)
	c.send("CAPA")
	c.expect("+OK")
	capa := c.body()
	if !strings.Contains(capa, "STLS") || strings.Contains(capa, "USER") || !strings.Contains(capa, "UIDL") {
		t.Errorf("CAPA before TLS:\n%s", capa)
	}
	c.cmd("USER me@example.test", "-ERR [AUTH]")
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00me@example.test\x00"+password)), "-ERR [AUTH]")
	c.cmd("STAT", "-ERR")
	c.startTLS(ts.tls)
	c.send("CAPA")
	c.expect("+OK")
	if capa := c.body(); strings.Contains(capa, "STLS") || !strings.Contains(capa, "SASL PLAIN") || !strings.Contains(capa, "USER") {
		t.Errorf("CAPA after TLS:\n%s", capa)
	}
	c.login("me@example.test")
	if l := c.cmd("STAT", "+OK"); l != "+OK 2 "+itoa(len(msg1)+len(msg2)) {
		t.Errorf("STAT = %q", l)
	}
	c.cmd("LIST", "+OK")
	if got := c.body(); got != "1 "+itoa(len(msg1))+"\r\n2 "+itoa(len(msg2))+"\r\n" {
		t.Errorf("LIST = %q", got)
	}
	c.cmd("UIDL", "+OK")
	uidl := c.body()
	mb, _ := ts.st.MailboxByName(context.Background(), a.ID, "INBOX")
	if want := "1 " + UIDL(1, mb.UIDValidity) + "\r\n2 " + UIDL(2, mb.UIDValidity) + "\r\n"; uidl != want {
		t.Errorf("UIDL = %q, want %q", uidl, want)
	}
	c.cmd("RETR 1", "+OK "+itoa(len(msg1))+" octets")
	if got := c.body(); got != msg1 {
		t.Errorf("RETR 1 = %q", got)
	}
	c.cmd("TOP 2 1", "+OK")
	if got := c.body(); got != "From: bob@example.test\r\nSubject: two\r\n\r\nline 1\r\n" {
		t.Errorf("TOP 2 1 = %q", got)
	}
	c.cmd("TOP 2 0", "+OK")
	if got := c.body(); got != "From: bob@example.test\r\nSubject: two\r\n\r\n" {
		t.Errorf("TOP 2 0 = %q", got)
	}
	c.cmd("DELE 2", "+OK")
	c.cmd("DELE 2", "-ERR")
	c.cmd("RETR 2", "-ERR")
	c.cmd("LIST 2", "-ERR")
	c.cmd("RETR 3", "-ERR")
	c.cmd("STAT", "+OK 1 ")
	c.cmd("RSET", "+OK 2 ")
	c.cmd("DELE 1", "+OK")
	c.cmd("NOOP", "+OK")
	if n := len(ts.inbox(t, a)); n != 2 {
		t.Fatalf("%d messages before QUIT", n)
	}
	c.cmd("QUIT", "+OK")
	left := ts.inbox(t, a)
	if len(left) != 1 || left[0].UID != 2 {
		t.Fatalf("after QUIT: %+v", left)
	}
	if left[0].Flags&store.FlagSeen != 0 {
		t.Error("a message only seen with TOP was marked \\Seen")
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func TestADroppedConnectionDeletesNothingAndRetrievedMessagesBecomeSeen(t *testing.T) {
	ts := start(t, t.TempDir(), func(o *Options) { o.InsecureAuth = true })
	a := ts.account(t, "me@example.test")
	ts.deliver(t, a, msg1)
	ts.deliver(t, a, msg2)
	c := dial(t, ts.addr)
	c.login("me@example.test")
	c.cmd("DELE 1", "+OK")
	c.c.Close()
	// The session ends; its lock goes with it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c2 := dial(t, ts.addr)
		c2.cmd("USER me@example.test", "+OK")
		c2.send("PASS " + password)
		if l := c2.line(); strings.HasPrefix(l, "+OK") {
			c2.cmd("STAT", "+OK 2 ")
			c2.cmd("RETR 2", "+OK")
			c2.body()
			c2.cmd("QUIT", "+OK")
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("still %q", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ms := ts.inbox(t, a)
	if len(ms) != 2 || ms[0].Flags&store.FlagSeen != 0 || ms[1].Flags&store.FlagSeen == 0 {
		t.Fatalf("after the sessions: %+v", ms)
	}
}

func TestASecondSessionForTheAccountIsInUse(t *testing.T) {
	ts := start(t, t.TempDir(), func(o *Options) { o.InsecureAuth = true })
	ts.account(t, "me@example.test")
	ts.account(t, "you@example.test")
	c1 := dial(t, ts.addr)
	c1.login("me@example.test")
	c2 := dial(t, ts.addr)
	c2.cmd("USER ME@example.test", "+OK")
	c2.cmd("PASS "+password, "-ERR [IN-USE]")
	c3 := dial(t, ts.addr)
	c3.login("you@example.test")
	c1.cmd("QUIT", "+OK")
	c2.cmd("USER me@example.test", "+OK")
	c2.cmd("PASS "+password, "+OK")
}

func TestUIDLIsStableAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, func(o *Options) { o.InsecureAuth = true })
	a := ts.account(t, "me@example.test")
	ts.deliver(t, a, msg1)
	ts.deliver(t, a, msg2)
	c := dial(t, ts.addr)
	c.login("me@example.test")
	c.cmd("UIDL", "+OK")
	before := c.body()
	c.cmd("DELE 1", "+OK")
	c.cmd("QUIT", "+OK")
	ts.stop(t)

	ts = start(t, dir, func(o *Options) { o.InsecureAuth = true })
	ts.deliver(t, a, msg1)
	c = dial(t, ts.addr)
	c.login("me@example.test")
	c.cmd("UIDL 1", "+OK")
	after := c.cmd("UIDL 1", "+OK 1 ")
	_, second, _ := strings.Cut(before, "\r\n")
	if strings.TrimPrefix(after, "+OK 1 ") != strings.TrimSpace(strings.TrimPrefix(second, "2 ")) {
		t.Errorf("message 2's UIDL was %q, after a restart %q", second, after)
	}
	c.cmd("UIDL", "+OK")
	if l := strings.Split(c.body(), "\r\n"); len(l) != 3 || l[1] == strings.TrimSpace(second) {
		t.Errorf("UIDL after a new delivery: %q", l)
	}
}

func TestAuthPlainWithAndWithoutInitialResponse(t *testing.T) {
	ts := start(t, t.TempDir(), func(o *Options) { o.InsecureAuth = true })
	ts.account(t, "me@example.test")
	plain := func(authz, user, pw string) string {
		return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pw))
	}
	c := dial(t, ts.addr)
	c.cmd("AUTH", "+OK")
	if m := c.body(); m != "PLAIN\r\n" {
		t.Errorf("AUTH list = %q", m)
	}
	c.cmd("AUTH CRAM-MD5", "-ERR")
	c.cmd("AUTH PLAIN "+plain("", "me@example.test", "wrong"), "-ERR [AUTH]")
	c.cmd("AUTH PLAIN "+plain("other@example.test", "me@example.test", password), "-ERR [AUTH]")
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd("*", "-ERR")
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd(plain("me@example.test", "me@example.test", password), "+OK")
	c.cmd("AUTH PLAIN", "-ERR Already")
	c.cmd("QUIT", "+OK")
}

func TestPipelinedCommandsAreAnsweredInOrder(t *testing.T) {
	ts := start(t, t.TempDir(), func(o *Options) { o.InsecureAuth = true })
	a := ts.account(t, "me@example.test")
	ts.deliver(t, a, msg2)
	c := dial(t, ts.addr)
	c.c.Write([]byte("USER me@example.test\r\nPASS " + password + "\r\nSTAT\r\nRETR 1\r\nNOOP\r\nQUIT\r\n"))
	c.expect("+OK")
	c.expect("+OK")
	c.expect("+OK 1 ")
	c.expect("+OK")
	if b := c.body(); b != msg2 {
		t.Errorf("RETR = %q", b)
	}
	c.expect("+OK")
	c.expect("+OK Bye")
}

func TestCommandsPipelinedBehindSTLSAreRefused(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	c := dial(t, ts.addr)
	c.c.Write([]byte("STLS\r\nUSER me@example.test\r\n"))
	c.expect("-ERR")
}

func TestTenBadCommandsEndTheSession(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	c := dial(t, ts.addr)
	for range 9 {
		c.cmd("HELO x", "-ERR")
	}
	c.cmd("X", "-ERR Too many")
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Error("connection still open")
	}
}

func TestBlockedClientsGetTheNormalFailure(t *testing.T) {
	g, err := guard.New(context.Background(), guard.Options{MaxFailures: 3, FailureDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts := start(t, t.TempDir(), func(o *Options) { o.InsecureAuth = true; o.Guard = g })
	ts.account(t, "me@example.test")
	c := dial(t, ts.addr)
	for _, pw := range []string{"a", "b", "c", password} {
		c.cmd("USER me@example.test", "+OK")
		c.cmd("PASS "+pw, "-ERR [AUTH] Authentication failed")
	}
	bl, _ := g.Blocked(context.Background())
	if len(bl) != 1 || bl[0].Net != "127.0.0.1/32" {
		t.Errorf("blocked: %+v", bl)
	}
}

func TestShutdownEndsIdleSessionsWithoutDeleting(t *testing.T) {
	ts := start(t, t.TempDir(), func(o *Options) { o.InsecureAuth = true })
	a := ts.account(t, "me@example.test")
	ts.deliver(t, a, msg1)
	c := dial(t, ts.addr)
	c.login("me@example.test")
	c.cmd("DELE 1", "+OK")
	st := ts.st
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expect("-ERR [SYS/TEMP]")
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("the connection is still open after Shutdown")
	}
	mb, _ := st.MailboxByName(context.Background(), a.ID, "INBOX")
	if ms, _ := st.Messages(context.Background(), mb.ID, 1, 0); len(ms) != 1 {
		t.Errorf("%d messages after shutdown", len(ms))
	}
}

func TestImplicitTLS(t *testing.T) {
	st := testutil.Store(t)
	ts := &testServer{st: st}
	ts.account(t, "me@example.test")
	srv := New(Options{Backend: NewStoreBackend(st)})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(tls.NewListener(l, testutil.TLSConfig(t)))
	defer srv.Shutdown(context.Background())
	tc, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	c := &client{t: t, c: tc, r: bufio.NewReader(tc)}
	c.expect("+OK")
	c.send("CAPA")
	c.expect("+OK")
	if capa := c.body(); strings.Contains(capa, "STLS") || !strings.Contains(capa, "USER") {
		t.Errorf("CAPA on implicit TLS:\n%s", capa)
	}
	c.login("me@example.test")
	c.cmd("QUIT", "+OK")
}

func TestServeAfterShutdownReturnsErrServerClosed(t *testing.T) {
	srv := New(Options{Backend: &memBackend{}})
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("the listener is still open")
	}
}

// panicBackend panics in Login for the user "boom".
type panicBackend struct{ memBackend }

func (b *panicBackend) Login(ctx context.Context, user, pass string, ip netip.Addr) (Session, error) {
	if user == "boom" {
		panic("injected backend failure")
	}
	return b.memBackend.Login(ctx, user, pass, ip)
}

func TestAPanicInTheBackendClosesOnlyThatConnection(t *testing.T) {
	srv := New(Options{Backend: &panicBackend{memBackend{msgs: [][]byte{[]byte("Subject: a\r\n\r\nhi\r\n")}}}, InsecureAuth: true})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	other := dial(t, l.Addr().String())
	bad := dial(t, l.Addr().String())
	bad.cmd("USER boom", "+OK")
	bad.send("PASS x")
	if line, err := bad.r.ReadString('\n'); err == nil {
		t.Errorf("the panicking session answered %q", line)
	}
	other.cmd("USER me", "+OK")
	other.cmd("PASS pw", "+OK")
	other.cmd("STAT", "+OK 1 ")
	again := dial(t, l.Addr().String())
	again.cmd("NOOP", "-ERR")
	again.cmd("QUIT", "+OK")
}

// oldWriteBody is how RETR and TOP wrote a message held whole, before
// they streamed it: the oracle of TestStreamedRETRAndTOPSendWhatTheWholeMessageGave.
func oldWriteBody(w *bytes.Buffer, data []byte, maxBodyLines int) {
	inBody, bodyLines := false, 0
	for len(data) > 0 {
		if inBody && maxBodyLines >= 0 && bodyLines >= maxBodyLines {
			break
		}
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		w.WriteString("\r\n")
		if inBody {
			bodyLines++
		} else if len(line) == 0 {
			inBody = true
		}
	}
	w.WriteString(".\r\n")
}

// A message is sent a buffer at a time, and the lines longer than the
// buffer (with a CR or a dot right at its edge) come out as they did from
// the whole message: CRLF line ends, dot-stuffing, TOP's line count.
func TestStreamedRETRAndTOPSendWhatTheWholeMessageGave(t *testing.T) {
	long := func(n int, end string) string { return strings.Repeat("x", n) + end }
	msgs := []string{
		"",
		"no line end",
		"Subject: a\r\n\r\n.starts with a dot\r\n..two\r\n.\r\nlast",
		"Subject: bare LF\n\nline\nline\r\r\nCR CR LF\r\n",
		"Subject: long\r\n\r\n" + long(bodyBuffer-1, "\r\n") + long(bodyBuffer, "\r\n") + long(bodyBuffer+1, "\r\n") + "after\r\n",
		"Subject: CR at the edge\r\n\r\n" + long(bodyBuffer-1, "\r") + "\n" + long(bodyBuffer-1, "\r") + "z\r\n" + long(2*bodyBuffer-1, "\r\n"),
		"Subject: dot at the edge\r\n\r\n" + long(bodyBuffer, "") + ".not a line start\r\n.line start\r\n",
		"Subject: CR last\r\n\r\n" + long(bodyBuffer-1, "\r"),
		"Subject: no body line end" + long(3*bodyBuffer, ""),
		"Header only\r\n",
	}
	for i, m := range msgs {
		for _, lines := range []int{-1, 0, 1, 2, 100} {
			var want bytes.Buffer
			oldWriteBody(&want, []byte(m), lines)
			var got bytes.Buffer
			c := &conn{w: bufio.NewWriter(&got)}
			if err := c.writeBody(strings.NewReader(m), lines); err != nil {
				t.Fatal(err)
			}
			c.w.Flush()
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("message %d, %d lines: streamed %d bytes differ from the whole message's %d", i, lines, got.Len(), want.Len())
			}
		}
	}
}
