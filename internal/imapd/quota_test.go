package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// rawConn is a scripted IMAP client that collects whole response lines.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.until("* OK")
	return c
}

func (c *rawConn) send(s string) { fmt.Fprint(c.conn, s) }

// until reads lines up to one starting with prefix and returns them all.
func (c *rawConn) until(prefix string) []string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("waiting for %q after %q: %v", prefix, lines, err)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
		if strings.HasPrefix(line, prefix) {
			return lines
		}
	}
}

// A phone asks how full its mailbox is: IMAPS answers GETQUOTAROOT and
// GETQUOTA (RFC 9208) with the account's quota, in order with the other
// commands even when they are pipelined, and never mistakes the bytes of
// a message for a command.
func TestIMAPSReportsTheAccountsQuota(t *testing.T) {
	// The test server is plain TCP; ImplicitTLS only says what the
	// listener is, and the quota wrapper is the same above TLS.
	ts := startServer(t, Options{ImplicitTLS: true})
	a := ts.account(t, "bob@example.test")
	ts.deliver(t, a, testMessage("photos", strings.Repeat("x", 3000)))
	c := dialRaw(t, ts.addr)

	// Before login a quota command is go-imap's to refuse.
	c.send("q0 GETQUOTA \"\"\r\n")
	if l := c.until("q0 "); !strings.HasPrefix(l[len(l)-1], "q0 BAD") {
		t.Fatalf("GETQUOTA before login: %q", l)
	}

	c = dialRaw(t, ts.addr)
	c.send("a1 CAPABILITY\r\n")
	if caps := strings.Join(c.until("a1 OK"), " "); strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "LOGINDISABLED") {
		t.Errorf("capabilities before login: %s", caps)
	}
	c.send("a2 LOGIN bob@example.test \"" + password + "\"\r\na21 CAPABILITY\r\n")
	if l := c.until("a2 OK"); !strings.Contains(l[len(l)-1], "QUOTA=RES-STORAGE]") {
		t.Errorf("LOGIN's capability code: %q", l)
	}
	if caps := strings.Join(c.until("a21 OK"), " "); !strings.Contains(caps, " QUOTA ") || !strings.Contains(caps, "QUOTA=RES-STORAGE") {
		t.Errorf("capabilities: %s", caps)
	}

	// No quota: INBOX has no quota root.
	c.send("a3 GETQUOTAROOT INBOX\r\n")
	if got := c.until("a3 "); strings.Join(got, "|") != `* QUOTAROOT "INBOX"|a3 OK GETQUOTAROOT completed` {
		t.Errorf("without a quota: %q", got)
	}
	c.send("a4 GETQUOTA \"\"\r\n")
	if got := c.until("a4 "); !strings.HasPrefix(got[0], "a4 NO [NONEXISTENT]") {
		t.Errorf("GETQUOTA without a quota: %q", got)
	}

	if err := ts.store.SetQuota(context.Background(), a.Email, 1<<20); err != nil {
		t.Fatal(err)
	}
	// Pipelined: each answer comes after the one before it.
	c.send("b1 NOOP\r\nb2 GETQUOTAROOT \"INBOX\"\r\nb3 SELECT INBOX\r\nb4 GETQUOTA \"\"\r\nb5 NOOP\r\n")
	got := c.until("b5 ")
	var tagged []string
	for _, l := range got {
		if !strings.HasPrefix(l, "* ") || strings.HasPrefix(l, "* QUOTA") {
			tagged = append(tagged, l)
		}
	}
	want := []string{"b1 OK NOOP completed", `* QUOTAROOT "INBOX" ""`, `* QUOTA "" (STORAGE 4 1024)`, "b2 OK GETQUOTAROOT completed",
		"b3 OK [READ-WRITE] SELECT completed", `* QUOTA "" (STORAGE 4 1024)`, "b4 OK GETQUOTA completed", "b5 OK NOOP completed"}
	if strings.Join(tagged, "\n") != strings.Join(want, "\n") {
		t.Errorf("pipelined answers:\n%s\nwant:\n%s", strings.Join(tagged, "\n"), strings.Join(want, "\n"))
	}

	// A message whose lines look like quota commands is appended intact
	// (a non-synchronising literal, sent in one go with the next command).
	msg := "Subject: tricky\r\n\r\nz1 GETQUOTA \"\"\r\nz2 GETQUOTAROOT INBOX\r\n"
	c.send(fmt.Sprintf("c1 APPEND INBOX {%d+}\r\n%s\r\nc2 SETQUOTA \"\" (STORAGE 1)\r\n", len(msg), msg))
	if l := c.until("c1 "); !strings.HasPrefix(l[len(l)-1], "c1 OK") {
		t.Fatalf("APPEND: %q", l)
	}
	if l := c.until("c2 "); len(l) != 1 || !strings.HasPrefix(l[0], "c2 NO [NOPERM]") {
		t.Errorf("SETQUOTA: %q (a quota reply leaked from the literal?)", l)
	}
	c.send("c3 UID FETCH 2 BODY[]\r\n")
	if l := strings.Join(c.until("c3 "), "\r\n"); !strings.Contains(l, "z1 GETQUOTA \"\"\r\nz2 GETQUOTAROOT INBOX") {
		t.Errorf("the appended message came back changed:\n%s", l)
	}

	// The STARTTLS port's server offers QUOTA too (issue 18).
	plain := startInsecure(t)
	p := dialRaw(t, plain.addr)
	pa := plain.account(t, "bob@example.test")
	p.send("a0 LOGIN " + pa.Email + " \"" + password + "\"\r\na1 CAPABILITY\r\n")
	if caps := strings.Join(p.until("a1 OK"), " "); !strings.Contains(caps, " QUOTA ") {
		t.Errorf("a server without ImplicitTLS does not offer QUOTA: %s", caps)
	}
}

// On the STARTTLS port the wrapper offers STARTTLS itself, so that it
// also sees the commands sent over TLS: before TLS no login is taken (by
// the wrapper, and by Session.Login behind it), what is sent after
// STARTTLS in the clear is dropped, and over TLS a refused LITERAL+
// APPEND is read past like on IMAPS.
func TestTheSTARTTLSPortRefusesLoginsInTheClearAndReadsPastARefusedAppend(t *testing.T) {
	ts := startServer(t, Options{TLSConfig: testutil.TLSConfig(t), MaxMessageBytes: 4096})
	bob := ts.account(t, "bob@example.test")
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	greeting := c.until("* OK")[0]
	c.send("a CAPABILITY\r\n")
	caps := strings.Join(c.until("a OK"), " ")
	for _, s := range []string{greeting, caps} {
		if !strings.Contains(s, " STARTTLS") || !strings.Contains(s, " LOGINDISABLED") || strings.Contains(s, "AUTH=") {
			t.Errorf("capabilities before TLS: %q", s)
		}
	}
	for tag, cmd := range map[string]string{
		"b": "b LOGIN bob@example.test \"" + password + "\"\r\n",
		"c": "c AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00bob@example.test\x00"+password)) + "\r\n",
		"d": "d LOGIN {16+}\r\nbob@example.test {21+}\r\n" + password + "\r\n",
		"e": "e LOGIN " + strings.Repeat("x", 9000) + "@example.test pw\r\n", // too long for the wrapper: Session.Login
	} {
		c.send(cmd + "n" + tag + " NOOP\r\n")
		if l := c.until(tag + " "); !strings.HasPrefix(l[len(l)-1], tag+" NO [PRIVACYREQUIRED]") {
			t.Errorf("login before TLS: %q", l)
		}
		if l := c.until("n" + tag + " "); !strings.HasPrefix(l[len(l)-1], "n"+tag+" OK") {
			t.Errorf("NOOP after a refused login: %q", l)
		}
	}
	// A man in the middle appends a command in the clear after STARTTLS.
	c.send("s STARTTLS\r\nx CREATE Injected\r\n")
	if l := c.until("s "); !strings.HasPrefix(l[len(l)-1], "s OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	c = &rawConn{t: t, conn: tc, r: bufio.NewReader(tc)}
	c.send("a CAPABILITY\r\n")
	if caps := strings.Join(c.until("a OK"), " "); strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "AUTH=PLAIN") {
		t.Errorf("capabilities over TLS: %q", caps)
	}
	c.send("l LOGIN bob@example.test \"" + password + "\"\r\n")
	if l := c.until("l "); !strings.HasPrefix(l[len(l)-1], "l OK") {
		t.Fatalf("login over TLS: %q", l)
	}
	c.send("s2 STARTTLS\r\n")
	if l := c.until("s2 "); strings.HasPrefix(l[len(l)-1], "s2 OK") {
		t.Errorf("STARTTLS again: %q", l)
	}
	lit := strings.Repeat("y CREATE Injected\r\n", 300)
	c.send(fmt.Sprintf("p APPEND INBOX {%d+}\r\n%s\r\nn NOOP\r\n", len(lit), lit))
	if l := c.until("p "); !strings.HasPrefix(l[len(l)-1], "p NO [TOOBIG]") {
		t.Errorf("APPEND over the limit: %q", l)
	}
	if l := c.until("n "); !strings.HasPrefix(l[len(l)-1], "n OK") {
		t.Errorf("NOOP after the refused APPEND: %q", l)
	}
	c.send("q GETQUOTAROOT INBOX\r\n")
	if l := c.until("q "); !strings.HasPrefix(l[len(l)-1], "q OK") {
		t.Errorf("GETQUOTAROOT on the STARTTLS port: %q", l)
	}
	mbs, _ := ts.store.Mailboxes(context.Background(), bob.ID)
	for _, mb := range mbs {
		if strings.HasPrefix(mb.Name, "Injected") {
			t.Errorf("mailbox %s created by injected bytes", mb.Name)
		}
	}
}

// With InsecureAuth (quickstart on loopback) the STARTTLS port offers
// STARTTLS beside AUTH=PLAIN and takes a login in the clear.
func TestTheSTARTTLSPortWithInsecureAuthTakesLoginsInTheClear(t *testing.T) {
	ts := startServer(t, Options{TLSConfig: testutil.TLSConfig(t), InsecureAuth: true})
	ts.account(t, "bob@example.test")
	c := dialRaw(t, ts.addr)
	c.send("a CAPABILITY\r\n")
	if caps := strings.Join(c.until("a OK"), " "); !strings.Contains(caps, " STARTTLS") || strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "AUTH=PLAIN") {
		t.Errorf("capabilities: %q", caps)
	}
	c.send("l LOGIN bob@example.test \"" + password + "\"\r\n")
	if l := c.until("l "); !strings.HasPrefix(l[len(l)-1], "l OK") {
		t.Errorf("login: %q", l)
	}
}
