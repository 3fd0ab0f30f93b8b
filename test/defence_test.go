package test

// The defences end to end (internal/guard): brute force over IMAP blocks
// SMTP AUTH and POP3 too until 'boxmail security unblock'; greylisting and
// a DNS blocklist meet swaks playing an outside server from 127.0.0.2;
// early talkers, bare-IP HELOs and dictionary attacks are cut off; and a
// flood of connections from one address is capped while another address
// is served.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/resolver"
)

// dialFrom opens a raw connection from a chosen loopback address.
func (b *Box) dialFrom(src string, port int) *Conn {
	b.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	return &Conn{t: b.t, c: c, r: bufio.NewReader(c)}
}

// loginAttempts runs clients/login_attempts.py: wrong wrong passwords,
// then the right one; it reports whether the right one got in.
func (b *Box) loginAttempts(proto, src string, wrong int) (bool, string) {
	b.t.Helper()
	py := needTool(b.t, "python3")
	port := b.IMAP
	if proto == "pop3" {
		port = b.POP3
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("clients", "login_attempts.py"), proto, src, b.Host(), strconv.Itoa(port), b.Admin, b.Password, strconv.Itoa(wrong))
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		b.t.Fatal(err)
	}
	return err == nil, string(out)
}

// submit sends a message through submission with AUTH from src.
func (b *Box) submit(src string) (string, int) {
	b.t.Helper()
	return b.Swaks("--server", b.HostPort(b.Submission), "--local-interface", src, "--tls",
		"--auth", "PLAIN", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", b.Admin, "--h-Subject", "from "+src)
}

func TestBruteForceOverIMAPBlocksEveryLoginFromThatAddressUntilUnblocked(t *testing.T) {
	b := newBoxWith(t, map[string]string{"auth_failure_delay": "20ms"})

	ok, out := b.loginAttempts("imap", "127.0.0.1", 15)
	if ok || strings.Count(out, ": failed:") != 16 {
		t.Fatalf("15 wrong passwords then the right one over IMAP: the right one got in\n%s", out)
	}
	// The same failure whatever the reason: nothing says "blocked".
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[0][len("wrong 1: "):] != lines[len(lines)-1][len("right: "):] {
		t.Errorf("a blocked login answers differently from a wrong password:\n%s", out)
	}
	if out, code := b.submit("127.0.0.1"); code == 0 || !strings.Contains(out, "535") {
		t.Errorf("SMTP AUTH from the blocked address: exit %d\n%s", code, out)
	}
	if ok, out := b.loginAttempts("pop3", "127.0.0.1", 0); ok || !strings.Contains(out, "[AUTH]") {
		t.Errorf("POP3 from the blocked address got in:\n%s", out)
	}
	// Another address is not affected.
	if ok, out := b.loginAttempts("imap", "127.0.0.2", 0); !ok {
		t.Errorf("IMAP from 127.0.0.2:\n%s", out)
	}
	if out, code := b.submit("127.0.0.2"); code != 0 {
		t.Errorf("SMTP AUTH from 127.0.0.2: exit %d\n%s", code, out)
	}
	if ok, out := b.loginAttempts("pop3", "127.0.0.2", 0); !ok {
		t.Errorf("POP3 from 127.0.0.2:\n%s", out)
	}

	out, _, code := b.Cmd("", "security", "blocked")
	if code != 0 || !strings.Contains(out, "127.0.0.1/32") || !strings.Contains(out, "me@example.test") {
		t.Fatalf("security blocked (exit %d):\n%s", code, out)
	}
	if _, errs, code := b.Cmd("", "security", "unblock", "127.0.0.9"); code != 1 || !strings.Contains(errs, "not blocked") {
		t.Errorf("unblocking an address that is not blocked: exit %d %s", code, errs)
	}
	if out, errs, code := b.Cmd("", "security", "unblock", "127.0.0.1"); code != 0 {
		t.Fatalf("security unblock: exit %d %s %s", code, out, errs)
	}
	if out, _, _ := b.Cmd("", "security", "blocked"); !strings.Contains(out, "no client is blocked") {
		t.Errorf("after unblock:\n%s", out)
	}
	if ok, out := b.loginAttempts("imap", "127.0.0.1", 0); !ok {
		t.Errorf("IMAP after unblock:\n%s", out)
	}
	if out, code := b.submit("127.0.0.1"); code != 0 {
		t.Errorf("SMTP AUTH after unblock: exit %d\n%s", code, out)
	}
}

// swaksFrom sends one message to port 25 from src and returns the
// transcript and exit code.
func (b *Box) swaksFrom(src, from, to string) (string, int) {
	b.t.Helper()
	return b.Swaks("--server", b.HostPort(b.SMTP), "--local-interface", src, "--from", from, "--to", to, "--h-Subject", "greetings")
}

func TestGreylistingDefersAFirstAttemptAcceptsTheRetryAndRemembersIt(t *testing.T) {
	b := newBoxWith(t, map[string]string{"greylisting": "true", "greylist_delay": "2s"})
	out, code := b.swaksFrom("127.0.0.2", "news@shop.example", b.Admin)
	if code == 0 || !strings.Contains(out, "451 4.7.1") {
		t.Fatalf("first attempt: exit %d\n%s", code, out)
	}
	if out, code := b.swaksFrom("127.0.0.2", "news@shop.example", b.Admin); code == 0 || !strings.Contains(out, "451 4.7.1") {
		t.Fatalf("a retry before the delay: exit %d\n%s", code, out)
	}
	time.Sleep(2100 * time.Millisecond)
	if out, code := b.swaksFrom("127.0.0.2", "news@shop.example", b.Admin); code != 0 {
		t.Fatalf("the retry after the delay: exit %d\n%s", code, out)
	}
	// Trusted networks (127.0.0.1 by default) are never greylisted.
	if out, code := b.swaksFrom("127.0.0.1", "someone@new.example", b.Admin); code != 0 {
		t.Fatalf("from a trusted network: exit %d\n%s", code, out)
	}
	b.Stop()
	b.Start()
	if out, code := b.swaksFrom("127.0.0.2", "news@shop.example", b.Admin); code != 0 {
		t.Fatalf("the same sender after a restart: exit %d\n%s", code, out)
	}
	if out, code := b.swaksFrom("127.0.0.2", "other@shop.example", b.Admin); code == 0 || !strings.Contains(out, "451 4.7.1") {
		t.Fatalf("a new sender after a restart: exit %d\n%s", code, out)
	}
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 3 {
		t.Errorf("INBOX has %d messages, want 3", n)
	}
}

func TestAClientOnTheBlocklistIsRefusedNamingTheList(t *testing.T) {
	fake := resolver.NewFake(
		"2.0.0.127.bl.test. A 127.0.0.2",
		"2.0.0.127.bl.test. TXT \"listed for testing\"",
	)
	fake.Fail("4.0.0.127.bl.test", dns.TypeA)
	b := newBoxWith(t, map[string]string{"resolvers": dnsServer(t, fake), "smtp_dnsbl": "bl.test"})
	out, code := b.swaksFrom("127.0.0.2", "friend@elsewhere.example", b.Admin)
	if code == 0 || !strings.Contains(out, "554 5.7.1") || !strings.Contains(out, "bl.test") {
		t.Fatalf("listed client: exit %d\n%s", code, out)
	}
	for _, src := range []string{"127.0.0.3", "127.0.0.4"} { // not listed; the lookup fails
		if out, code := b.swaksFrom(src, "friend@elsewhere.example", b.Admin); code != 0 {
			t.Errorf("%s: exit %d\n%s", src, code, out)
		}
	}
}

func TestEarlyTalkersBareIPHelosAndDictionaryAttacksAreCutOff(t *testing.T) {
	b := newBoxWith(t, map[string]string{"smtp_greet_wait": "300ms"})
	c := b.dialFrom("127.0.0.2", b.SMTP)
	c.Send("EHLO pipelining.example")
	c.Expect(`^554 5\.5\.1 `)

	c = b.dialFrom("127.0.0.2", b.SMTP)
	c.Expect(`^220 `)
	c.Send("EHLO 192.0.2.1")
	c.Expect(`^501 5\.5\.2 `)
	c.Send("EHLO [192.0.2.1]")
	c.Expect(`^250 `)
	c.Send("MAIL FROM:<probe@elsewhere.example>")
	c.Expect(`^250 `)
	for i := range 9 {
		c.Send(fmt.Sprintf("RCPT TO:<guess%d@example.test>", i))
		c.Expect(`^550 5\.1\.1 `)
	}
	c.Send("RCPT TO:<guess9@example.test>")
	c.Expect(`^421 4\.7\.0 Too many errors`)
	if _, err := c.Line(); err == nil {
		t.Error("the connection stayed open after 421")
	}
	// A trusted client is greeted at once.
	start := time.Now()
	c = b.Dial(b.SMTP)
	c.Expect(`^220 `)
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("a trusted client waited %v for the greeting", d)
	}
}

func TestAFloodOfConnectionsFromOneAddressIsCappedAndOthersAreServed(t *testing.T) {
	const limit, flood = 20, 200
	b := newBoxWith(t, map[string]string{"max_connections_per_ip": strconv.Itoa(limit)})
	var (
		mu       sync.Mutex
		ok, bye  int
		held     []net.Conn
		wg       sync.WaitGroup
		deadline = time.Now().Add(30 * time.Second)
	)
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 10 * time.Second}
			c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAP))
			if err != nil {
				return
			}
			c.SetReadDeadline(deadline)
			l, _ := bufio.NewReader(c).ReadString('\n')
			mu.Lock()
			defer mu.Unlock()
			switch {
			case strings.HasPrefix(l, "* OK"):
				ok++
				held = append(held, c)
			case strings.HasPrefix(l, "* BYE"):
				bye++
				c.Close()
			default:
				c.Close()
			}
		}()
	}
	// While the flood is held open, another address logs in over IMAP
	// and POP3 without delay.
	wg.Wait()
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	if ok != limit || bye != flood-limit {
		t.Errorf("%d connections from one address: %d greeted, %d refused with BYE; want %d and %d", flood, ok, bye, limit, flood-limit)
	}
	start := time.Now()
	if ok, out := b.loginAttempts("imap", "127.0.0.2", 0); !ok {
		t.Errorf("IMAP from another address during the flood:\n%s", out)
	}
	if ok, out := b.loginAttempts("pop3", "127.0.0.2", 0); !ok {
		t.Errorf("POP3 from another address during the flood:\n%s", out)
	}
	// The flood is held for 30 s: logins that had to wait for it would
	// take that long. Two Python clients take well under a second on an
	// idle machine and several on a loaded CI runner, so the bound is
	// generous rather than tight.
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("logging in from another address took %v (it waited for the flood)", d)
	}
	// POP3 is another protocol: the flooding address may still use it.
	c := b.dialFrom("127.0.0.3", b.POP3)
	c.Expect(`^\+OK`)
	// Closing the flood frees its places.
	for _, c := range held {
		c.Close()
	}
	held = nil
	time.Sleep(200 * time.Millisecond)
	c = b.dialFrom("127.0.0.3", b.IMAP)
	if l, _ := c.Line(); !strings.HasPrefix(l, "* OK") {
		t.Errorf("after the flood: %q", l)
	}
}
