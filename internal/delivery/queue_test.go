package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// remote is a fake outside mail server: it records what it accepts and
// answers RCPT with a per-recipient reply.
type remote struct {
	mu      sync.Mutex
	got     []remoteMsg
	conns   map[string]bool // client addresses seen: one per connection
	tlsSeen bool
	refuse  map[string]*smtp.SMTPError // rcpt -> reply
	addr    string
	srv     *smtp.Server
}

type remoteMsg struct {
	from  string
	rcpts []string
	data  string
}

type remoteSession struct {
	r   *remote
	msg remoteMsg
}

func (r *remote) NewSession(c *smtp.Conn) (smtp.Session, error) {
	r.mu.Lock()
	r.conns[c.Conn().RemoteAddr().String()] = true
	if _, ok := c.TLSConnectionState(); ok {
		r.tlsSeen = true
	}
	r.mu.Unlock()
	return &remoteSession{r: r}, nil
}
func (s *remoteSession) Reset()        { s.msg = remoteMsg{} }
func (s *remoteSession) Logout() error { return nil }
func (s *remoteSession) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.from = from
	return nil
}
func (s *remoteSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if e := s.r.refuse[to]; e != nil {
		return e
	}
	s.msg.rcpts = append(s.msg.rcpts, to)
	return nil
}
func (s *remoteSession) Data(rd io.Reader) error {
	b, _ := io.ReadAll(rd)
	s.msg.data = string(b)
	s.r.mu.Lock()
	s.r.got = append(s.r.got, s.msg)
	s.r.mu.Unlock()
	return nil
}

func (r *remote) messages() []remoteMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]remoteMsg(nil), r.got...)
}

func (r *remote) setRefuse(rcpt string, e *smtp.SMTPError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e == nil {
		delete(r.refuse, rcpt)
	} else {
		r.refuse[rcpt] = e
	}
}

// startRemote listens on ip:port (port 0: any) and serves STARTTLS with
// a throwaway certificate.
func startRemote(t *testing.T, addr string) *remote {
	t.Helper()
	r := &remote{refuse: map[string]*smtp.SMTPError{}, conns: map[string]bool{}}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	srv := smtp.NewServer(r)
	srv.Domain = "mx.remote.example"
	srv.TLSConfig = testTLSConfig(t)
	srv.ErrorLog = nopLogger{}
	r.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// queueFixture is a box with an account, a fake DNS and a queue runner
// whose clock runs with the real one plus whatever the test advanced.
type queueFixture struct {
	family
	res    *resolver.Fake
	q      *Queue
	mu     sync.Mutex
	offset time.Duration
}

func newQueueFixture(t *testing.T, port int, zone ...string) *queueFixture {
	t.Helper()
	f := &queueFixture{family: newFamily(t), res: resolver.NewFake(zone...)}
	f.build(QueueOptions{Resolver: f.res, Port: port,
		Retry: []time.Duration{time.Minute, time.Hour}, DialTimeout: time.Second, CommandTimeout: 2 * time.Second,
		now: f.clock, allowPrivate: true})
	f.q.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		f.q.Shutdown(ctx)
	})
	return f
}

// build gives the fixture a new Deliverer with a queue runner built
// from o (not started), as a restarted box would have.
func (f *queueFixture) build(o QueueOptions) {
	f.q = f.with(Options{Hostname: "mail.example.net", Queue: &o}).Queue()
}

func (f *queueFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Add(f.offset)
}

func (f *queueFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.offset += d
	f.mu.Unlock()
	f.q.Kick()
}

// send submits a message from me@example.net to rcpts through delivery.
func (f *queueFixture) send(t *testing.T, sender string, rcpts ...string) {
	t.Helper()
	txn := f.d.Begin(sender)
	for _, r := range rcpts {
		if _, err := txn.AddRecipient(context.Background(), r, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(context.Background(), []byte("From: me@example.net\r\nSubject: hello out there\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, 10*time.Second, cond)
}

func (f *queueFixture) queue(t *testing.T) []store.QueueItem {
	q, err := f.st.Queue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func (f *queueFixture) inbox(t *testing.T) []string {
	ctx := context.Background()
	mb, _ := f.st.MailboxByName(ctx, f.me, "INBOX")
	msgs, _ := f.st.Messages(ctx, mb.ID, 1, 0)
	var out []string
	for _, m := range msgs {
		b, _ := f.st.Body(ctx, m.BodyID)
		out = append(out, string(b))
	}
	return out
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func TestMailToAFriendLeavesByMXAndOneSessionCarriesSeveralMessages(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	f := newQueueFixture(t, portOf(r.addr),
		"friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1")
	f.q.Shutdown(context.Background()) // queue up first, then run once
	for range 3 {
		f.send(t, "me@example.net", "anna@friends.example", "ben@friends.example")
	}
	f.build(f.q.o)
	f.q.Start()
	waitFor(t, "the queue to drain", func() bool { return len(f.queue(t)) == 0 })
	got := r.messages()
	if len(got) != 3 || len(got[0].rcpts) != 2 || got[0].from != "me@example.net" || !strings.Contains(got[0].data, "Subject: hello out there") {
		t.Fatalf("remote got %+v", got)
	}
	// At most MaxPerDomain (2) connections, each carrying several messages.
	if n := len(r.conns); n < 1 || n > 2 {
		t.Errorf("3 messages took %d connections, want 1 or 2", n)
	}
}

func TestTheMXOrderIsFollowedAndADeadHostIsSkipped(t *testing.T) {
	r := startRemote(t, "127.0.0.2:0")
	// The preferred MX (127.0.0.3) has nothing listening on that port.
	f := newQueueFixture(t, portOf(r.addr),
		"friends.example. MX 20 backup.friends.example.", "friends.example. MX 10 primary.friends.example.",
		"primary.friends.example. A 127.0.0.3", "backup.friends.example. A 127.0.0.2",
		"nomx.example. A 127.0.0.2")
	f.send(t, "me@example.net", "anna@friends.example", "carl@nomx.example")
	waitFor(t, "both delivered", func() bool { return len(r.messages()) == 2 })
	waitFor(t, "the queue to drain", func() bool { return len(f.queue(t)) == 0 })
}

func TestAPermanentRefusalBouncesToTheSenderAndAPartialSuccessIsKept(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	r.setRefuse("ghost@friends.example", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "ghost: no such user"})
	f := newQueueFixture(t, portOf(r.addr), "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1")
	f.send(t, "me@example.net", "anna@friends.example", "ghost@friends.example")
	waitFor(t, "the bounce", func() bool { return len(f.inbox(t)) == 1 })
	if len(f.queue(t)) != 0 {
		t.Errorf("queue not empty: %+v", f.queue(t))
	}
	if got := r.messages(); len(got) != 1 || len(got[0].rcpts) != 1 || got[0].rcpts[0] != "anna@friends.example" {
		t.Errorf("remote got %+v", got)
	}
	dsn := f.inbox(t)[0]
	for _, want := range []string{"From: Mail Delivery System <MAILER-DAEMON@mail.example.net>", "To: <me@example.net>",
		"Content-Type: multipart/report; report-type=delivery-status;", "Final-Recipient: rfc822; ghost@friends.example",
		"Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 ghost: no such user", "ghost: no such user",
		"Content-Type: text/rfc822-headers", "Subject: hello out there"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("bounce lacks %q:\n%s", want, dsn)
		}
	}
	if strings.Contains(dsn, "anna@friends.example") {
		t.Errorf("bounce mentions the recipient that got the message")
	}
}

func TestATemporaryFailureIsRetriedOnScheduleUntilItWorks(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	r.setRefuse("anna@friends.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"})
	f := newQueueFixture(t, portOf(r.addr), "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1")
	f.send(t, "me@example.net", "anna@friends.example")
	waitFor(t, "the first attempt", func() bool { q := f.queue(t); return len(q) == 1 && q[0].Attempts == 1 })
	it := f.queue(t)[0]
	if !strings.Contains(it.LastError, "451 4.2.0 mailbox busy") || it.NextAttempt.Sub(f.clock()) < 50*time.Second {
		t.Fatalf("after a 451: %+v (now %v)", it, f.clock())
	}
	r.setRefuse("anna@friends.example", nil)
	time.Sleep(100 * time.Millisecond)
	if len(r.messages()) != 0 {
		t.Fatal("retried before its time")
	}
	f.advance(61 * time.Second)
	waitFor(t, "the retry to deliver", func() bool { return len(r.messages()) == 1 })
	waitFor(t, "the queue to drain", func() bool { return len(f.queue(t)) == 0 })
	if len(f.inbox(t)) != 0 {
		t.Errorf("a bounce was sent for a delivered message")
	}
}

func TestALateMessageWarnsOnceThenBouncesWhenItExpires(t *testing.T) {
	f := newQueueFixture(t, 1, "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1") // port 1: refused
	f.send(t, "me@example.net", "anna@friends.example")
	waitFor(t, "the first attempt", func() bool { q := f.queue(t); return len(q) == 1 && q[0].Attempts == 1 })
	f.advance(4*time.Hour + time.Minute)
	waitFor(t, "the delay warning", func() bool { return len(f.inbox(t)) == 1 })
	if w := f.inbox(t)[0]; !strings.Contains(w, "Action: delayed") || !strings.Contains(w, "Subject: Delayed Mail") || !strings.Contains(w, "Will-Retry-Until:") {
		t.Errorf("warning:\n%s", w)
	}
	f.advance(2 * time.Hour)
	waitFor(t, "a third attempt", func() bool { q := f.queue(t); return len(q) == 1 && q[0].Attempts >= 3 })
	if len(f.inbox(t)) != 1 {
		t.Errorf("warned twice")
	}
	f.advance(5 * 24 * time.Hour)
	waitFor(t, "the final bounce", func() bool { return len(f.inbox(t)) == 2 })
	if b := f.inbox(t)[1]; !strings.Contains(b, "Action: failed") || !strings.Contains(b, "gave up after 120h") {
		t.Errorf("final bounce:\n%s", b)
	}
	waitFor(t, "the queue to drain", func() bool { return len(f.queue(t)) == 0 })
}

func TestNullMXAndMissingDomainsBounceAtOnceButDNSTroubleIsRetried(t *testing.T) {
	f := newQueueFixture(t, 1, "nullmx.example. MX 0 .", "flaky.example. MX 10 mx.flaky.example.")
	f.res.Fail("flaky.example", 15) // MX lookups SERVFAIL
	f.send(t, "me@example.net", "a@nullmx.example", "b@nowhere.example", "c@flaky.example")
	waitFor(t, "two bounces", func() bool { return len(f.inbox(t)) == 2 })
	all := strings.Join(f.inbox(t), "\n")
	for _, want := range []string{"null MX", "nowhere.example does not exist"} {
		if !strings.Contains(all, want) {
			t.Errorf("bounces lack %q", want)
		}
	}
	waitFor(t, "the DNS failure to be deferred", func() bool { q := f.queue(t); return len(q) == 1 && q[0].Attempts == 1 })
	if q := f.queue(t); !strings.Contains(q[0].LastError, "DNS lookup") {
		t.Errorf("queue = %+v", q)
	}
}

func TestBouncesAreNeverBounced(t *testing.T) {
	f := newQueueFixture(t, 1, "nullmx.example. MX 0 .")
	txn := f.d.Begin("")
	txn.AddRecipient(context.Background(), "a@nullmx.example", true)
	if err := txn.Commit(context.Background(), []byte("Subject: a bounce\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue to drain", func() bool { return len(f.queue(t)) == 0 })
	if len(f.inbox(t)) != 0 {
		t.Error("a bounce bounced")
	}
}

func TestAGarbageOrSilentRemoteEndsInARetryNotAStuckQueue(t *testing.T) {
	for name, serve := range map[string]func(net.Conn){
		"garbage": func(c net.Conn) { io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n"); c.Close() },
		"silent":  func(c net.Conn) { time.Sleep(5 * time.Second); c.Close() },
		"half":    func(c net.Conn) { io.WriteString(c, "220-mx.example\r\n220"); time.Sleep(5 * time.Second); c.Close() },
		"toolong": func(c net.Conn) { io.WriteString(c, "220 "+strings.Repeat("x", 5000)+"\r\n"); c.Close() },
	} {
		t.Run(name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go serve(c)
				}
			}()
			f := newQueueFixture(t, portOf(l.Addr().String()), "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1")
			f.send(t, "me@example.net", "anna@friends.example")
			waitFor(t, "a deferred attempt", func() bool { q := f.queue(t); return len(q) == 1 && q[0].Attempts == 1 })
		})
	}
}

func TestOpportunisticTLSIsUsedWhenOffered(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	f := newQueueFixture(t, portOf(r.addr), "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1")
	f.send(t, "me@example.net", "anna@friends.example")
	waitFor(t, "delivery", func() bool { return len(r.messages()) == 1 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.tlsSeen {
		t.Error("delivered without TLS although STARTTLS was offered")
	}
}

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code int
		msg  string
		ok   bool
	}{
		{"250 ok\r\n", 250, "ok", true},
		{"250-mx\r\n250-SIZE 10\r\n250 8BITMIME\r\n", 250, "mx\nSIZE 10\n8BITMIME", true},
		{"250\r\n", 250, "", true},
		{"25 x\r\n", 0, "", false},
		{"abc x\r\n", 0, "", false},
		{"250-a\r\n251 b\r\n", 0, "", false},
		{"250xok\r\n", 0, "", false},
		{"999 no\r\n", 0, "", false},
		{"", 0, "", false},
	} {
		c := newSMTPClient(fakeConn{bytes.NewBufferString(tc.in)}, time.Second)
		code, msg, err := c.readReply()
		if (err == nil) != tc.ok || code != tc.code || msg != tc.msg {
			t.Errorf("readReply(%q) = %d %q %v", tc.in, code, msg, err)
		}
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add("250-a\r\n250 b\r\n")
	f.Add("220 mx ESMTP\r\n")
	f.Add("5")
	f.Fuzz(func(t *testing.T, in string) {
		c := newSMTPClient(fakeConn{bytes.NewBufferString(in)}, time.Second)
		for range 5 {
			code, _, err := c.readReply()
			if err != nil {
				return
			}
			if code < 200 || code > 599 {
				t.Fatalf("code %d accepted", code)
			}
		}
	})
}

// fakeConn is a net.Conn reading from a buffer.
type fakeConn struct{ r io.Reader }

func (c fakeConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c fakeConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c fakeConn) Close() error                     { return nil }
func (c fakeConn) LocalAddr() net.Addr              { return nil }
func (c fakeConn) RemoteAddr() net.Addr             { return nil }
func (c fakeConn) SetDeadline(time.Time) error      { return nil }
func (c fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c fakeConn) SetWriteDeadline(time.Time) error { return nil }
func testTLSConfig(t *testing.T) *tls.Config        { return testutil.TLSConfig(t, "mx.friends.example") }

// A scan of the queue that races with a worker finishing must not hand
// the finished entries out again (this once delivered messages twice).
func TestEveryQueuedMessageIsDeliveredExactlyOnce(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	f := newQueueFixture(t, portOf(r.addr))
	f.q.Shutdown(context.Background())
	body := []byte("From: me@example.net\r\nSubject: once\r\n\r\n" + strings.Repeat("0123456789012345678901234567890123456789\r\n", 100))
	const n = 600
	for i := range n {
		if err := f.st.Deliver(context.Background(), store.Delivery{Data: body, Sender: "me@example.net",
			Remote: []string{fmt.Sprintf("u%d@domain%d.example", i, i%10)}}); err != nil {
			t.Fatal(err)
		}
	}
	o := f.q.o
	o.Transports = map[string]string{"*": r.addr}
	f.build(o)
	f.q.Start()
	waitFor(t, "the queue to drain", func() bool { return len(f.queue(t)) == 0 })
	got := r.messages()
	seen := map[string]int{}
	for _, m := range got {
		seen[m.rcpts[0]]++
	}
	if len(got) != n || len(seen) != n {
		t.Errorf("remote got %d messages for %d distinct recipients; want %d of each", len(got), len(seen), n)
	}
}

// authSession is a remoteSession that demands AUTH PLAIN (over TLS).
type authSession struct {
	remoteSession
	authed bool
}

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "box@provider.example" || pass != "relay-secret" {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}
func (s *authSession) Mail(from string, o *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return s.remoteSession.Mail(from, o)
}

func TestASmarthostWithTLSAndAUTHTakesEverything(t *testing.T) {
	r := startRemote(t, "127.0.0.1:0")
	r.srv.Backend = smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &authSession{remoteSession: remoteSession{r: r}}, nil
	})
	f := newQueueFixture(t, 1)
	f.q.Shutdown(context.Background())
	o := f.q.o
	o.Smarthost = &Smarthost{Addr: r.addr, TLS: "starttls", Username: "box@provider.example", Password: "wrong", InsecureSkipVerify: true}
	f.build(o)
	f.q.Start()
	f.send(t, "me@example.net", "anna@friends.example", "bob@elsewhere.example")
	waitFor(t, "attempts with the wrong password", func() bool {
		q := f.queue(t)
		return len(q) == 2 && q[0].Attempts == 1 && q[1].Attempts == 1
	})
	if q := f.queue(t); !strings.Contains(q[0].LastError, "535") || len(f.inbox(t)) != 0 {
		t.Errorf("a bad relay password must defer, not bounce: %+v", q)
	}
	f.q.Shutdown(context.Background())
	o.Smarthost.Password = "relay-secret"
	f.build(o)
	f.q.Start()
	f.advance(2 * time.Minute)
	waitFor(t, "the relay to take both", func() bool { return len(r.messages()) == 2 })
	waitFor(t, "the queue to drain", func() bool { return len(f.queue(t)) == 0 })
}

// A redirect or reply queued for a hosted domain lands in the mailbox
// directly: no MX lookup, no loop through port 25.
func TestQueuedMailForAHostedDomainIsDeliveredLocally(t *testing.T) {
	f := newQueueFixture(t, 1) // nothing listens anywhere; DNS knows nothing
	ctx := context.Background()
	err := f.st.Deliver(ctx, store.Delivery{Data: []byte("Subject: auto reply\r\n\r\naway\r\n"), Sender: "",
		Remote: []string{"kid@example.net", "nobody@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	f.q.Kick()
	waitFor(t, "the queue to drain", func() bool { return len(f.queue(t)) == 0 })
	mb, _ := f.st.MailboxByName(ctx, f.kid, "INBOX")
	if snap, _ := f.st.Snapshot(ctx, mb.ID); len(snap) != 1 {
		t.Errorf("kid's inbox has %d messages, want the reply", len(snap))
	}
	if f.res.Queries() != 0 {
		t.Errorf("%d DNS queries for a hosted domain", f.res.Queries())
	}
}

func TestPublicNextHop(t *testing.T) {
	for ip, want := range map[string]bool{
		"192.0.2.1": true, "8.8.8.8": true, "2001:db8::25": true, "2a00:1450::1": true, "100.128.0.1": true, "172.32.0.1": true,
		"127.0.0.1": false, "127.9.9.9": false, "::1": false, "0.0.0.0": false, "::": false, "0.1.2.3": false,
		"10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false, "fd00::1": false, "fc00::1": false,
		"169.254.169.254": false, "fe80::1": false, "100.64.0.1": false, "100.127.255.254": false,
		"224.0.0.1": false, "ff02::1": false, "255.255.255.255": false, "240.0.0.1": false,
		"::ffff:127.0.0.1": false, "::ffff:10.1.1.1": false, "::ffff:192.0.2.1": true,
		"64:ff9b::7f00:1": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b::c000:201": true,
		"::127.0.0.1": false, "fec0::1": false, "100::1": false,
	} {
		if got := publicNextHop(netip.MustParseAddr(ip)); got != want {
			t.Errorf("publicNextHop(%s) = %v, want %v", ip, got, want)
		}
	}
}

// Addresses found in DNS that are not public are never tried: a domain
// reached only through them bounces (5.4.4) unless a transport names it.
func TestRouteSkipsNonPublicAddressesFoundInDNS(t *testing.T) {
	f := &queueFixture{family: newFamily(t), res: resolver.NewFake(
		"evil.example. MX 10 mx.evil.example.", "mx.evil.example. A 127.0.0.1", "mx.evil.example. AAAA ::1",
		"mixed.example. MX 10 lan.mixed.example.", "mixed.example. MX 20 mx.mixed.example.",
		"lan.mixed.example. A 192.168.1.25", "mx.mixed.example. A 192.0.2.25", "mx.mixed.example. AAAA fe80::25",
		"nomx.example. A 10.0.0.25",
		"mapped.example. MX 10 mx.mapped.example.", "mx.mapped.example. AAAA ::ffff:127.0.0.1",
		"half.example. MX 10 a.half.example.", "half.example. MX 20 b.half.example.", "a.half.example. A 169.254.169.254",
	)}
	f.res.Fail("b.half.example", dns.TypeA)
	f.build(QueueOptions{Resolver: f.res, Transports: map[string]string{"inside.example": "127.0.0.1:2525"}})
	ctx := context.Background()
	for _, c := range []struct {
		domain  string
		addrs   []string
		errPart string
		perm    bool
	}{
		{domain: "evil.example", errPart: "550 5.4.4 the mail servers of evil.example are at private or loopback addresses (mx.evil.example=127.0.0.1, mx.evil.example=::1)", perm: true},
		{domain: "mixed.example", addrs: []string{"192.0.2.25:25"}},
		{domain: "nomx.example", errPart: "550 5.4.4", perm: true},
		{domain: "mapped.example", errPart: "550 5.4.4", perm: true},
		{domain: "half.example", errPart: "451 4.4.4", perm: false},
		{domain: "inside.example", addrs: []string{"127.0.0.1:2525"}},
	} {
		ts, err := f.q.route(ctx, c.domain)
		var got []string
		for _, t := range ts {
			got = append(got, t.addr)
		}
		var re *routeError
		if c.errPart != "" {
			if !errors.As(err, &re) || !strings.Contains(re.msg, c.errPart) || re.permanent != c.perm {
				t.Errorf("route(%s) = %v, %v; want error %q (permanent %v)", c.domain, got, err, c.errPart, c.perm)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.addrs) {
			t.Errorf("route(%s) = %v, %v; want %v", c.domain, got, err, c.addrs)
		}
	}
}
