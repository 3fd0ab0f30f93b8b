package guard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// clock is the injected time: tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	return testutil.StoreAt(t, dir, store.Options{})
}

func newGuard(t testing.TB, st *store.Store, c *clock, mod func(*Options)) *Guard {
	t.Helper()
	o := Options{Store: st, Now: c.Now, FailureDelay: -1}
	if mod != nil {
		mod(&o)
	}
	g, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var (
	attacker = netip.MustParseAddr("192.0.2.66")
	other    = netip.MustParseAddr("198.51.100.7")
)

// login tries a password against an account whose password is "right".
func login(g *Guard, ip netip.Addr, user, pw string) error {
	return g.Login(context.Background(), ip, user, pw, func() error {
		if pw == "right" {
			return nil
		}
		return store.ErrAuthFailed
	})
}

func TestTenWrongPasswordsBlockTheNetworkFromEveryLoginForGrowingTimes(t *testing.T) {
	c := newClock()
	st := openStore(t, t.TempDir())
	defer st.Close()
	g := newGuard(t, st, c, nil)
	for i := range 10 {
		if err := login(g, attacker, "me@example.test", fmt.Sprint("guess", i)); !errors.Is(err, store.ErrAuthFailed) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		c.Add(time.Second)
	}
	if err := login(g, attacker, "me@example.test", "right"); !errors.Is(err, store.ErrAuthFailed) {
		t.Fatalf("the right password while blocked: %v", err)
	}
	if err := login(g, attacker, "someone.else@example.test", "right"); !errors.Is(err, store.ErrAuthFailed) {
		t.Fatalf("another account while blocked: %v", err)
	}
	if err := login(g, other, "me@example.test", "right"); err != nil {
		t.Fatalf("another network: %v", err)
	}
	bl, _ := g.Blocked(context.Background())
	if len(bl) != 1 || bl[0].Net != "192.0.2.66/32" || bl[0].Level != 1 || !strings.Contains(bl[0].Reason, "me@example.test") {
		t.Fatalf("Blocked = %+v", bl)
	}
	c.Add(15 * time.Minute)
	if err := login(g, attacker, "me@example.test", "right"); err != nil {
		t.Fatalf("after 15 minutes: %v", err)
	}
	// A repeat within a day: an hour, then six.
	for _, want := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 24 * time.Hour} {
		for i := range 10 {
			login(g, attacker, "me@example.test", fmt.Sprint("again", want, i))
		}
		c.Add(want - time.Second)
		if err := login(g, attacker, "me@example.test", "right"); err == nil {
			t.Fatalf("block of %v ended early", want)
		}
		c.Add(time.Second)
		if err := login(g, attacker, "me@example.test", "right"); err != nil {
			t.Fatalf("block of %v did not end: %v", want, err)
		}
	}
	// A day later without trouble, the next block is short again.
	c.Add(25 * time.Hour)
	for i := range 10 {
		login(g, attacker, "me@example.test", fmt.Sprint("later", i))
	}
	c.Add(15 * time.Minute)
	if err := login(g, attacker, "me@example.test", "right"); err != nil {
		t.Fatalf("after a quiet day the block should be 15 minutes: %v", err)
	}
}

func TestTheSameWrongPasswordAgainCountsOnce(t *testing.T) {
	c := newClock()
	g := newGuard(t, nil, c, nil)
	for range 50 { // a phone with a stale password
		login(g, attacker, "me@example.test", "old-password")
	}
	if err := login(g, attacker, "me@example.test", "right"); err != nil {
		t.Fatalf("blocked by one repeated password: %v", err)
	}
}

func TestFailuresOutsideTheWindowDoNotAddUp(t *testing.T) {
	c := newClock()
	g := newGuard(t, nil, c, nil)
	for i := range 30 {
		login(g, attacker, "me@example.test", fmt.Sprint("slow", i))
		c.Add(2 * time.Minute) // 7 or 8 per 15 minutes
	}
	if err := login(g, attacker, "me@example.test", "right"); err != nil {
		t.Fatalf("slow failures blocked: %v", err)
	}
}

func TestIPv6ClientsAreCountedByTheir64(t *testing.T) {
	c := newClock()
	g := newGuard(t, nil, c, nil)
	for i := range 10 {
		ip := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1))
		login(g, ip, "me@example.test", fmt.Sprint("v6", i))
	}
	if err := login(g, netip.MustParseAddr("2001:db8:1:2:ffff::1"), "me@example.test", "right"); err == nil {
		t.Fatal("same /64 not blocked")
	}
	if err := login(g, netip.MustParseAddr("2001:db8:1:3::1"), "me@example.test", "right"); err != nil {
		t.Fatalf("next /64 blocked: %v", err)
	}
}

func TestBlocksSurviveARestartAndUnblockInTheStoreLiftsThem(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	st := openStore(t, dir)
	g := newGuard(t, st, c, nil)
	for i := range 10 {
		login(g, attacker, "me@example.test", fmt.Sprint("x", i))
	}
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	g = newGuard(t, st, c, nil)
	if err := login(g, attacker, "me@example.test", "right"); err == nil {
		t.Fatal("block forgotten across a restart")
	}
	// 'boxmail security unblock' runs in another process: only the
	// store changes.
	if err := st.RemoveAuthBlock(context.Background(), "192.0.2.66/32"); err != nil {
		t.Fatal(err)
	}
	if err := login(g, attacker, "me@example.test", "right"); err != nil {
		t.Fatalf("after unblock: %v", err)
	}
	// The failure count started over.
	for i := range 9 {
		login(g, attacker, "me@example.test", fmt.Sprint("y", i))
	}
	if err := login(g, attacker, "me@example.test", "right"); err != nil {
		t.Fatalf("9 failures after unblock: %v", err)
	}
}

func TestAnAccountUnderAttackIsSlowedOnlyForNetworksItIsNotUsedFrom(t *testing.T) {
	c := newClock()
	g := newGuard(t, nil, c, nil)
	home := netip.MustParseAddr("203.0.113.5")
	if err := login(g, home, "me@example.test", "right"); err != nil {
		t.Fatal(err)
	}
	// A botnet: 40 networks, 5 guesses each, none of them blocked.
	for i := range 200 {
		ip := netip.AddrFrom4([4]byte{10, byte(i / 5), 0, 1})
		login(g, ip, "me@example.test", fmt.Sprint("bot", i))
	}
	if err := login(g, home, "me@example.test", "right"); err != nil {
		t.Fatalf("the real user at home was locked out: %v", err)
	}
	newIP := netip.MustParseAddr("198.18.0.1")
	// Unknown networks get one attempt per minute between them.
	c.Add(time.Minute)
	if err := login(g, newIP, "me@example.test", "right"); err != nil {
		t.Fatalf("first attempt after a minute: %v", err)
	}
	if err := login(g, netip.MustParseAddr("198.18.0.2"), "me@example.test", "right"); err == nil {
		t.Fatal("a second unknown network within the minute was let through")
	}
	if err := login(g, newIP, "me@example.test", "right"); err != nil {
		t.Fatalf("the network that just logged in is known now: %v", err)
	}
	if err := login(g, attacker, "other@example.test", "right"); err != nil {
		t.Fatalf("another account is not under attack: %v", err)
	}
}

// After a restart, the networks an account logged in from (the store's
// login records) are still known: a botnet's attack on the account does
// not shut its owner out.
func TestTheNetworksAnAccountIsUsedFromAreKnownAfterARestart(t *testing.T) {
	c := newClock()
	st := openStore(t, t.TempDir())
	defer st.Close()
	ctx := context.Background()
	st.AddDomain(ctx, "example.test")
	a, err := st.AddAccount(ctx, "me@example.test", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	home := netip.MustParseAddr("203.0.113.5")
	if err := st.RecordLogin(ctx, a.ID, "web", home.String()); err != nil {
		t.Fatal(err)
	}
	g := newGuard(t, st, c, nil) // a restart: nothing in memory
	for i := range 200 {
		ip := netip.AddrFrom4([4]byte{10, byte(i / 5), 0, 1})
		login(g, ip, "ME@example.test", fmt.Sprint("bot", i))
	}
	login(g, netip.MustParseAddr("198.18.0.1"), "me@example.test", "right") // takes this minute's slot
	if err := login(g, home, "me@example.test", "right"); err != nil {
		t.Fatalf("the owner's network, known from the store, was refused: %v", err)
	}
	if err := login(g, netip.MustParseAddr("198.18.0.2"), "me@example.test", "right"); err == nil {
		t.Fatal("an unknown network was let through twice in a minute")
	}
}

func TestTheAllowListIsNeverBlocked(t *testing.T) {
	c := newClock()
	g := newGuard(t, nil, c, func(o *Options) { o.Allow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} })
	for i := range 30 {
		login(g, attacker, "me@example.test", fmt.Sprint("x", i))
	}
	if err := login(g, attacker, "me@example.test", "right"); err != nil {
		t.Fatalf("allow-listed client blocked: %v", err)
	}
}

func TestRefusalsAndFailuresAreDelayed(t *testing.T) {
	c := newClock()
	g := newGuard(t, nil, c, func(o *Options) { o.FailureDelay = 30 * time.Millisecond; o.MaxFailures = 1 })
	start := time.Now()
	login(g, attacker, "me@example.test", "wrong")
	login(g, attacker, "me@example.test", "right")
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("two failures took %v", d)
	}
	start = time.Now()
	if err := login(g, other, "me@example.test", "right"); err != nil || time.Since(start) > 25*time.Millisecond {
		t.Errorf("a good login: %v after %v", err, time.Since(start))
	}
}

func TestANilGuardLetsEverythingThrough(t *testing.T) {
	var g *Guard
	if err := login(g, attacker, "me", "right"); err != nil {
		t.Fatal(err)
	}
	if r := g.Rcpt(context.Background(), attacker, "a@b", "c@d", nil); r != nil {
		t.Fatal(r)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if g.Listener(ln, ListenOptions{}) != ln {
		t.Fatal("nil guard wrapped the listener")
	}
}

// serveEcho accepts on l and greets each connection with "hello".
func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			c.Write([]byte("hello\r\n"))
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func firstLine(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return strings.TrimSpace(l)
}

func TestConnectionLimitsPerClientAndInAll(t *testing.T) {
	g := newGuard(t, nil, newClock(), func(o *Options) { o.MaxConnsPerIP = 3; o.MaxConns = 5 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := g.Listener(ln, ListenOptions{Proto: "pop3", Refuse: "-ERR [SYS/TEMP] Too many connections\r\n"})
	defer gl.Close()
	go serveEcho(gl)
	addr := ln.Addr().String()
	var held []net.Conn
	for range 3 {
		c := dialFrom(t, "127.0.0.1", addr)
		if l := firstLine(t, c); l != "hello" {
			t.Fatalf("got %q", l)
		}
		held = append(held, c)
	}
	c := dialFrom(t, "127.0.0.1", addr)
	if l := firstLine(t, c); !strings.HasPrefix(l, "-ERR [SYS/TEMP]") {
		t.Fatalf("fourth connection got %q", l)
	}
	for range 2 {
		if l := firstLine(t, dialFrom(t, "127.0.0.2", addr)); l != "hello" {
			t.Fatalf("another client got %q", l)
		}
	}
	if l := firstLine(t, dialFrom(t, "127.0.0.3", addr)); !strings.HasPrefix(l, "-ERR") {
		t.Fatalf("over the global cap got %q", l)
	}
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for g.Conns() > 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := firstLine(t, dialFrom(t, "127.0.0.1", addr)); l != "hello" {
		t.Fatalf("after a close got %q", l)
	}
}

func TestEarlyTalkersAreRefusedBeforeTheGreeting(t *testing.T) {
	g := newGuard(t, nil, newClock(), func(o *Options) {
		o.GreetWait = 200 * time.Millisecond
		o.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gl := g.Listener(ln, ListenOptions{Proto: "smtp", Refuse: "421 busy\r\n", EarlyTalker: "554 5.5.1 Protocol error: talked before the greeting\r\n"})
	defer gl.Close()
	go serveEcho(gl)
	addr := ln.Addr().String()

	c := dialFrom(t, "127.0.0.2", addr)
	c.Write([]byte("EHLO spam.example\r\n"))
	if l := firstLine(t, c); !strings.HasPrefix(l, "554 5.5.1") {
		t.Fatalf("early talker got %q", l)
	}
	start := time.Now()
	if l := firstLine(t, dialFrom(t, "127.0.0.2", addr)); l != "hello" || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("patient client got %q after %v", l, time.Since(start))
	}
	start = time.Now()
	if l := firstLine(t, dialFrom(t, "127.0.0.1", addr)); l != "hello" || time.Since(start) > 150*time.Millisecond {
		t.Fatalf("trusted client got %q after %v", l, time.Since(start))
	}
}

func TestGreylistingDefersAnUnknownTripleUntilItIsRetriedLater(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	st := openStore(t, dir)
	g := newGuard(t, st, c, func(o *Options) { o.Greylist = true })
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.10")
	r := g.Rcpt(ctx, ip, "news@shop.example", "me@example.test", nil)
	if r == nil || r.Code != 451 || r.Enhanced != [3]int{4, 7, 1} {
		t.Fatalf("first attempt: %v", r)
	}
	c.Add(4 * time.Minute)
	if r := g.Rcpt(ctx, ip, "news@shop.example", "me@example.test", nil); r == nil || !strings.Contains(r.Text, "1m0s") {
		t.Fatalf("retry too early: %v", r)
	}
	c.Add(time.Minute)
	// Another address of the same /24 retries (a sender's pool).
	if r := g.Rcpt(ctx, netip.MustParseAddr("192.0.2.11"), "News@Shop.example", "me@example.test", nil); r != nil {
		t.Fatalf("retry after 5 minutes: %v", r)
	}
	if r := g.Rcpt(ctx, ip, "news@shop.example", "other@example.test", nil); r == nil {
		t.Fatal("another recipient is another triple")
	}
	st.Close()

	// Remembered across a restart, for 35 days after it was last seen.
	st = openStore(t, dir)
	defer st.Close()
	c.Add(30 * 24 * time.Hour)
	g = newGuard(t, st, c, func(o *Options) { o.Greylist = true })
	if r := g.Rcpt(ctx, ip, "news@shop.example", "me@example.test", nil); r != nil {
		t.Fatalf("after a restart and 30 days: %v", r)
	}
	c.Add(34 * 24 * time.Hour)
	if r := g.Rcpt(ctx, ip, "news@shop.example", "me@example.test", nil); r != nil {
		t.Fatalf("34 days after it was last seen: %v", r)
	}
	c.Add(36 * 24 * time.Hour)
	if r := g.Rcpt(ctx, ip, "news@shop.example", "me@example.test", nil); r == nil {
		t.Fatal("36 days after it was last seen it should start over")
	}
	// A retry two days late starts over too.
	g.Rcpt(ctx, ip, "late@shop.example", "me@example.test", nil)
	c.Add(49 * time.Hour)
	if r := g.Rcpt(ctx, ip, "late@shop.example", "me@example.test", nil); r == nil {
		t.Fatal("a retry after two days was accepted")
	}
}

func TestASenderDomainThatPassedWithSPFSkipsGreylisting(t *testing.T) {
	c := newClock()
	g := newGuard(t, nil, c, func(o *Options) { o.Greylist = true })
	ctx := context.Background()
	spf := func(pass bool) func(context.Context) bool {
		return func(context.Context) bool { return pass }
	}
	ip := netip.MustParseAddr("192.0.2.10")
	g.Rcpt(ctx, ip, "alice@friends.example", "me@example.test", spf(true))
	c.Add(6 * time.Minute)
	if r := g.Rcpt(ctx, ip, "alice@friends.example", "me@example.test", spf(true)); r != nil {
		t.Fatal(r)
	}
	far := netip.MustParseAddr("203.0.113.9")
	if r := g.Rcpt(ctx, far, "bob@friends.example", "me@example.test", spf(true)); r != nil {
		t.Fatalf("known domain with SPF pass: %v", r)
	}
	if r := g.Rcpt(ctx, far, "carol@friends.example", "me@example.test", spf(false)); r == nil {
		t.Fatal("known domain without SPF pass skipped greylisting")
	}
	if r := g.Rcpt(ctx, far, "x@strangers.example", "me@example.test", spf(true)); r == nil {
		t.Fatal("unknown domain skipped greylisting")
	}
}

func TestTrustedNetworksSkipGreylistingAndDNSBL(t *testing.T) {
	fake := resolver.NewFake("1.0.0.127.zen.test. A 127.0.0.2")
	g := newGuard(t, nil, newClock(), func(o *Options) {
		o.Greylist, o.DNSBL, o.Resolver = true, []string{"zen.test"}, fake
		o.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	if r := g.Rcpt(context.Background(), netip.MustParseAddr("127.0.0.1"), "a@b.example", "me@example.test", nil); r != nil {
		t.Fatal(r)
	}
	if fake.Queries() != 0 {
		t.Error("looked up a trusted client")
	}
}

func TestDNSBLListedClientsAreRefusedAndFailuresNeverReject(t *testing.T) {
	fake := resolver.NewFake(
		"10.2.0.192.zen.test. A 127.0.0.4",
		"11.2.0.192.zen.test. A 127.255.255.254", // "public resolver refused": not a listing
		"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.zen.test. A 127.0.0.2",
		"zen.test. NS ns.zen.test.")
	fake.Fail("12.2.0.192.zen.test.", dns.TypeA)
	c := newClock()
	g := newGuard(t, nil, c, func(o *Options) { o.DNSBL, o.Resolver = []string{"zen.test"}, fake })
	ctx := context.Background()
	r := g.Rcpt(ctx, netip.MustParseAddr("192.0.2.10"), "a@b.example", "me@example.test", nil)
	if r == nil || r.Code != 554 || !strings.Contains(r.Text, "zen.test") || !strings.Contains(r.Text, "192.0.2.10") {
		t.Fatalf("listed client: %v", r)
	}
	q := fake.Queries()
	g.Rcpt(ctx, netip.MustParseAddr("192.0.2.10"), "a@b.example", "you@example.test", nil)
	if fake.Queries() != q {
		t.Error("answer not cached")
	}
	if r := g.Rcpt(ctx, netip.MustParseAddr("4321:0:1:2:3:4:567:89ab"), "a@b.example", "me@example.test", nil); r == nil {
		t.Error("listed IPv6 client accepted")
	}
	for _, ip := range []string{"192.0.2.11", "192.0.2.12", "192.0.2.13"} {
		if r := g.Rcpt(ctx, netip.MustParseAddr(ip), "a@b.example", "me@example.test", nil); r != nil {
			t.Errorf("%s: %v", ip, r)
		}
	}
}

func TestDNSBLNames(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.99":              "99.2.0.192.zen.spamhaus.org.",
		"::ffff:192.0.2.99":       "99.2.0.192.zen.spamhaus.org.",
		"2001:db8::1":             "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org.",
		"4321:0:1:2:3:4:567:89ab": "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.zen.spamhaus.org.",
	} {
		if got := DNSBLName(netip.MustParseAddr(ip), "zen.spamhaus.org."); got != want {
			t.Errorf("%s: %s, want %s", ip, got, want)
		}
	}
}

func TestBareIPHelosAreRefused(t *testing.T) {
	for helo, bad := range map[string]bool{"192.0.2.1": true, "2001:db8::1": true, "[192.0.2.1]": false, "mail.example.net": false, "localhost": false} {
		if got := CheckHelo(helo) != nil; got != bad {
			t.Errorf("CheckHelo(%q) refused = %v", helo, got)
		}
	}
}
