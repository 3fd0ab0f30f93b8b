package test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// An outsider measures how long a wrong password takes to be refused,
// for an account that exists and for one that does not: the two must
// cost the same bcrypt, or the time tells which addresses are real
// (issue 12 item 10). The login guard is told to admit the measuring
// address (auth_allow) and to answer at once, so the test measures the
// password check, not the guard's delay.
//
// The existing account has just logged in with its right password, so
// the login cache (store/authcache.go) holds it: a wrong password must
// still cost a whole bcrypt (issue 18). The box runs at the production
// bcrypt cost.
//
// The bound (2x, either way, on medians of a few dozen interleaved tries)
// is generous so a busy machine cannot make it flake: before the fix an
// unknown account was refused about 50 times faster.
func TestLoginTimingDoesNotTellWhichAccountsExist(t *testing.T) {
	b := newBoxWith(t, map[string]string{"auth_allow": "127.0.0.2/32", "auth_failure_delay": "off"})
	const src = "127.0.0.2"
	const n = 24
	// A disabled account is refused like an unknown one, and as slowly.
	if out, errs, code := b.Cmd("another-good-password-9\n", "user", "add", "gone@example.test"); code != 0 {
		t.Fatalf("user add: exit %d %s%s", code, out, errs)
	}
	if out, errs, code := b.Cmd("", "user", "disable", "gone@example.test"); code != 0 {
		t.Fatalf("user disable: exit %d %s%s", code, out, errs)
	}
	for _, p := range []struct {
		name  string
		login func(t *testing.T, user, password string) time.Duration
	}{
		{"IMAP LOGIN", func(t *testing.T, u, pw string) time.Duration { return imapLoginTime(t, b, src, u, pw) }},
		{"SMTP AUTH PLAIN", func(t *testing.T, u, pw string) time.Duration { return smtpAuthTime(t, b, src, u, pw) }},
	} {
		t.Run(p.name, func(t *testing.T) {
			if l := imapLoginReply(t, b, src, b.Admin, b.Password); !strings.HasPrefix(l, "a1 OK") {
				t.Fatalf("LOGIN with the right password: %q", l)
			}
			var exists, unknown, disabled []time.Duration
			for i := range n {
				// Interleaved, so a slow spell of the machine hits all.
				pw := fmt.Sprintf("wrong-password-%d", i)
				exists = append(exists, p.login(t, b.Admin, pw))
				unknown = append(unknown, p.login(t, fmt.Sprintf("nobody%d@example.test", i), pw))
				disabled = append(disabled, p.login(t, "gone@example.test", "another-good-password-9"))
			}
			me, mu, md := median(exists), median(unknown), median(disabled)
			t.Logf("%s: median refusal of an existing (cached) account %v, an unknown one %v, a disabled one (right password) %v (%d attempts each)", p.name, me, mu, md, n)
			if mu < me/2 || me < mu/2 {
				t.Errorf("%s: an unknown account is refused in %v, an existing one in %v: the time tells which accounts exist", p.name, mu, me)
			}
			if md < me/2 || me < md/2 {
				t.Errorf("%s: a disabled account is refused in %v, an existing one in %v", p.name, md, me)
			}
		})
	}
}

// The login cache over IMAP: a right password logs in again and again,
// and once 'boxmail user passwd' (another process, beside the server)
// has changed it, the old one is refused at once and the new one works;
// a disabled account is refused at once too.
func TestACachedLoginStopsWhenTheCLIChangesThePassword(t *testing.T) {
	b := newBoxWith(t, map[string]string{"auth_allow": "127.0.0.2/32", "auth_failure_delay": "off"})
	const src = "127.0.0.2"
	login := func(pw, want string) {
		t.Helper()
		if l := imapLoginReply(t, b, src, b.Admin, pw); !strings.HasPrefix(l, want) {
			t.Fatalf("LOGIN: %q, want %s", l, want)
		}
	}
	for range 3 {
		login(b.Password, "a1 OK")
	}
	if out, errs, code := b.Cmd("a-brand-new-password-7\n", "user", "passwd", b.Admin); code != 0 {
		t.Fatalf("user passwd: exit %d %s%s", code, out, errs)
	}
	login(b.Password, "a1 NO")
	login("a-brand-new-password-7", "a1 OK")
	login("a-brand-new-password-7", "a1 OK")
	if out, errs, code := b.Cmd("", "user", "disable", b.Admin); code != 0 {
		t.Fatalf("user disable: exit %d %s%s", code, out, errs)
	}
	login("a-brand-new-password-7", "a1 NO")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// tlsFrom opens a TLS connection to port from the loopback address src.
func tlsFrom(t *testing.T, src string, port int) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

// readUntil reads lines until one starts with prefix and returns it.
func readUntil(t *testing.T, r *bufio.Reader, prefix string) string {
	t.Helper()
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(l, prefix) {
			return strings.TrimRight(l, "\r\n")
		}
	}
}

// imapLoginTime times one refused LOGIN over IMAPS.
func imapLoginTime(t *testing.T, b *Box, src, user, password string) time.Duration {
	t.Helper()
	start := time.Now()
	var d time.Duration
	l := imapLoginAt(t, b, src, user, password, &d)
	if !strings.HasPrefix(l, "a1 NO") {
		t.Fatalf("LOGIN %s with a wrong password: %q (after %v)", user, l, time.Since(start))
	}
	return d
}

// imapLoginReply answers the tagged reply to one LOGIN over IMAPS.
func imapLoginReply(t *testing.T, b *Box, src, user, password string) string {
	t.Helper()
	var d time.Duration
	return imapLoginAt(t, b, src, user, password, &d)
}

// imapLoginAt sends one LOGIN over IMAPS, sets *d to the time from the
// command to its tagged reply and returns that reply.
func imapLoginAt(t *testing.T, b *Box, src, user, password string, d *time.Duration) string {
	t.Helper()
	c, r := tlsFrom(t, src, b.IMAPS)
	defer c.Close()
	readUntil(t, r, "* OK")
	start := time.Now()
	fmt.Fprintf(c, "a1 LOGIN %q %q\r\n", user, password)
	l := readUntil(t, r, "a1 ")
	*d = time.Since(start)
	return l
}

// smtpAuthTime times one refused AUTH PLAIN over submissions.
func smtpAuthTime(t *testing.T, b *Box, src, user, password string) time.Duration {
	t.Helper()
	c, r := tlsFrom(t, src, b.Submissions)
	defer c.Close()
	readUntil(t, r, "220 ")
	fmt.Fprintf(c, "EHLO timing.example\r\n")
	readUntil(t, r, "250 ")
	start := time.Now()
	fmt.Fprintf(c, "AUTH PLAIN %s\r\n", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)))
	l, err := r.ReadString('\n')
	d := time.Since(start)
	if err != nil || !strings.HasPrefix(l, "535") {
		t.Fatalf("AUTH PLAIN %s with a wrong password: %q %v", user, l, err)
	}
	return d
}
