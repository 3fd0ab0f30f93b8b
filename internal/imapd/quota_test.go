package imapd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
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

	// The STARTTLS port's server does not claim QUOTA.
	plain := startInsecure(t)
	p := dialRaw(t, plain.addr)
	pa := plain.account(t, "bob@example.test")
	p.send("a0 LOGIN " + pa.Email + " \"" + password + "\"\r\na1 CAPABILITY\r\n")
	if caps := strings.Join(p.until("a1 OK"), " "); strings.Contains(caps, "QUOTA") {
		t.Errorf("a server without ImplicitTLS offers QUOTA: %s", caps)
	}
}

func TestLiteralAtEndAndAstring(t *testing.T) {
	for line, want := range map[string]int64{"a APPEND INBOX {12}\r\n": 12, "a APPEND INBOX {3+}\r\n": 3, "x {0}\n": 0,
		"a NOOP\r\n": -1, "a {x}\r\n": -1, "a }\r\n": -1, "{-1}\r\n": -1} {
		n, ok := literalAtEnd([]byte(line))
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("literalAtEnd(%q) = %d, want %d", line, n, want)
		}
	}
	for arg, want := range map[string]string{`INBOX`: "INBOX", `"Sent Items"`: "Sent Items", `""`: "", `"a\"b"`: `a"b`,
		`"open`: "!", `a b`: "!", ``: "!", `"x" y`: "!", `"bad\q"`: "!"} {
		got, ok := astring([]byte(arg))
		if !ok {
			got = "!"
		}
		if got != want {
			t.Errorf("astring(%q) = %q, want %q", arg, got, want)
		}
	}
}

// chunkConn is a net.Conn whose reads return data in pieces of n bytes
// and whose writes are kept.
type chunkConn struct {
	net.Conn
	data []byte
	n    int
	out  []byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func (c *chunkConn) Write(p []byte) (int, error) { c.out = append(c.out, p...); return len(p), nil }

// Whatever a client sends before it logs in reaches go-imap unchanged, in
// any pieces: the wrapper only looks.
func FuzzQuotaConnPassesClientBytesThrough(f *testing.F) {
	f.Add([]byte("a1 LOGIN x y\r\na2 APPEND INBOX {5+}\r\nhello\r\na3 GETQUOTA \"\"\r\n"), uint8(3))
	f.Add([]byte("a {3}\r\nab\r\n{x}\r\n"+strings.Repeat("z", 5000)+"\r\n"), uint8(200))
	f.Add([]byte("a APPEND INBOX {20+}\r\n"+strings.Repeat("b NOOP\r\n", 3)+"\r\nc NOOP\r\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		log := slog.New(slog.DiscardHandler)
		c := &quotaConn{Conn: &chunkConn{data: data, n: int(step) + 1}, srv: &Server{opts: Options{MaxMessageBytes: 1 << 62}, log: log}, state: lineStart}
		got, _ := io.ReadAll(c)
		if !bytes.Equal(got, data) {
			t.Fatalf("got %q, want %q", got, data)
		}
		// With a small APPEND limit, refused APPENDs are cut out whole.
		c = &quotaConn{Conn: &chunkConn{data: data, n: int(step) + 1}, srv: &Server{opts: Options{MaxMessageBytes: 8}, log: log}, state: lineStart}
		got, _ = io.ReadAll(c)
		if len(got) > len(data) {
			t.Fatalf("%d bytes out of %d", len(got), len(data))
		}
		literalAtEnd(data)
		astring(data)
	})
}

// An APPEND announced above the limit never reaches go-imap: it is
// answered NO [TOOBIG], and the bytes of a LITERAL+ one are read past up
// to the end of its command, so none is taken for a command.
func TestQuotaConnCutsOutAnAppendOverTheLimit(t *testing.T) {
	for _, tc := range []struct{ name, in, toIMAP string }{
		{"literal+", "a APPEND INBOX {25+}\r\nx CREATE Evil\r\nx DELETE\r\n\r\nb NOOP\r\n", "b NOOP\r\n"},
		{"literal+ with flags and date", "a APPEND INBOX (\\Seen) \"01-Jan-2026 00:00:00 +0000\" {9+}\r\nx CREATE \r\nb NOOP\r\n", "b NOOP\r\n"},
		{"UTF8 literal8+", "a APPEND INBOX UTF8 (~{9+}\r\nx CREATE )\r\nb NOOP\r\n", "b NOOP\r\n"},
		{"synchronizing", "a APPEND INBOX {9}\r\nb NOOP\r\n", "b NOOP\r\n"},
		{"within the limit", "a APPEND INBOX {8+}\r\nx CREATE\r\nb NOOP\r\n", "a APPEND INBOX {8+}\r\nx CREATE\r\nb NOOP\r\n"},
		{"not an APPEND", "a LOGIN {9+}\r\n123456789 x\r\n", "a LOGIN {9+}\r\n123456789 x\r\n"},
	} {
		for _, step := range []int{1, 3, 1000} {
			cc := &chunkConn{data: []byte(tc.in), n: step}
			c := &quotaConn{Conn: cc, srv: &Server{opts: Options{MaxMessageBytes: 8}, log: slog.New(slog.DiscardHandler)}, state: lineStart}
			got, _ := io.ReadAll(c)
			if string(got) != tc.toIMAP {
				t.Errorf("%s, step %d: go-imap got %q, want %q", tc.name, step, got, tc.toIMAP)
			}
			if tc.in != tc.toIMAP && !strings.HasPrefix(string(cc.out), "a NO [TOOBIG] ") {
				t.Errorf("%s, step %d: answered %q", tc.name, step, cc.out)
			}
		}
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
	if l := c.until("q "); !strings.HasPrefix(l[len(l)-1], "q BAD") {
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
