package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Attacks on IMAP by a family member with a normal account, from an
// outside address (127.0.0.2), on IMAPS: stalled and oversized APPENDs,
// APPENDs over quota, and a message that is all header.

// rawIMAP is a hand-driven IMAPS connection from 127.0.0.2.
type rawIMAP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialIMAPS(t *testing.T, b *Box) *rawIMAP {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAPS), insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawIMAP{t: t, c: c, r: bufio.NewReaderSize(c, 64<<10)}
	if l, err := rc.line(); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q: %v", l, err)
	}
	return rc
}

// dialSTARTTLS is dialIMAPS on the STARTTLS port.
func dialSTARTTLS(t *testing.T, b *Box) *rawIMAP {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAP))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawIMAP{t: t, c: c, r: bufio.NewReader(c)}
	if l, err := rc.line(); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q: %v", l, err)
	}
	rc.send("T STARTTLS\r\n")
	if l := rc.tagged("T"); !strings.HasPrefix(l, "T OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(c, insecureTLS())
	return &rawIMAP{t: t, c: tc, r: bufio.NewReaderSize(tc, 64<<10)}
}

// loginIMAPS dials and logs in as user.
func loginIMAPS(t *testing.T, b *Box, user string) *rawIMAP {
	t.Helper()
	return loginWith(t, b, dialIMAPS, user)
}

func loginWith(t *testing.T, b *Box, dial func(*testing.T, *Box) *rawIMAP, user string) *rawIMAP {
	t.Helper()
	rc := dial(t, b)
	rc.send(fmt.Sprintf("L LOGIN %q %q\r\n", user, b.Password))
	if l := rc.tagged("L"); !strings.HasPrefix(l, "L OK") {
		t.Fatalf("login: %q", l)
	}
	return rc
}

func (rc *rawIMAP) send(s string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatalf("send %.40q: %v", s, err)
	}
}

func (rc *rawIMAP) line() (string, error) {
	rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	l, err := rc.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// tagged reads up to the reply tagged tag, or a continuation request,
// and returns that line ("" when the connection ended first).
func (rc *rawIMAP) tagged(tag string) string {
	rc.t.Helper()
	for {
		l, err := rc.line()
		if err != nil {
			return ""
		}
		if strings.HasPrefix(l, tag+" ") || strings.HasPrefix(l, "+") {
			return l
		}
	}
}

// untilTagged reads up to the reply tagged tag and returns every line.
func (rc *rawIMAP) untilTagged(tag string) []string {
	rc.t.Helper()
	var out []string
	for {
		l, err := rc.line()
		if err != nil {
			rc.t.Fatalf("waiting for %s: %v (after %d lines)", tag, err, len(out))
		}
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

// Twenty family logins each announce a 100 MiB APPEND with LITERAL+ and
// twenty more a 50 MiB one with a synchronizing literal, send a little and
// stall. The box used to set aside the announced size at once (300 MB for
// three); now it refuses what is over the limit before reading it and
// streams the rest to disk, so its memory stays small, and honest APPENDs
// (imaplib, a short note and a 10 MiB photo) go through meanwhile.
func TestStalledHugeAppendsCannotExhaustTheBoxMemory(t *testing.T) {
	b := newBox(t)
	py := needTool(t, "python3")
	const bound = 200.0 // MiB: the idle box takes ~40
	start := b.peakRSS()
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var plus, syncs []*rawIMAP
	check := func(when string) {
		t.Helper()
		time.Sleep(200 * time.Millisecond)
		if rss := b.peakRSS(); rss > bound {
			t.Fatalf("peak RSS %.0f MiB (from %.0f) after %s", rss, start, when)
		}
	}
	for i := range 20 {
		p := loginIMAPS(t, b, b.Admin)
		p.send("P APPEND INBOX {104857600+}\r\n")
		p.send(string(chunk))
		plus = append(plus, p)
		s := loginIMAPS(t, b, b.Admin)
		s.send("S APPEND INBOX {52428800}\r\n")
		if l := s.tagged("S"); strings.HasPrefix(l, "+") {
			s.send(string(chunk))
		} else if !strings.Contains(l, "[TOOBIG]") {
			t.Fatalf("50 MiB synchronizing APPEND: %q", l)
		}
		syncs = append(syncs, s)
		check(fmt.Sprintf("%d stalled pairs", i+1))
	}

	// Honest APPENDs meanwhile, from the same outside address.
	dir := t.TempDir()
	small := filepath.Join(dir, "small.eml")
	big := filepath.Join(dir, "big.eml")
	os.WriteFile(small, []byte("From: me@example.test\r\nSubject: a note\r\n\r\nSee you at six.\r\n"), 0o600)
	var photo bytes.Buffer
	photo.WriteString("From: me@example.test\r\nSubject: the photo\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for i := 0; photo.Len() < 10<<20; i++ {
		fmt.Fprintf(&photo, "%076d\r\n", i)
	}
	os.WriteFile(big, photo.Bytes(), 0o600)
	script := `
import imaplib, ssl, socket, sys
port, user, pw = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class Out(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        s = socket.create_connection((self.host, self.port), timeout, source_address=("127.0.0.2", 0))
        return self.ssl_context.wrap_socket(s, server_hostname=self.host)
m = Out("127.0.0.1", int(port), ssl_context=ctx, timeout=60)
m.login(user, pw)
for path in sys.argv[4:]:
    typ, data = m.append("INBOX", None, None, open(path, "rb").read())
    print(typ, data[0].decode())
m.logout()
`
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", script, fmt.Sprint(b.IMAPS), b.Admin, b.Password, small, big).CombinedOutput()
	if err != nil || strings.Count(string(out), "OK [APPENDUID") != 2 {
		t.Fatalf("honest APPENDs: %v\n%s", err, out)
	}
	check("the honest APPENDs")

	// The 100 MiB ones were refused at once with TOOBIG.
	for _, p := range plus {
		if l := p.tagged("P"); !strings.Contains(l, "P NO [TOOBIG]") {
			t.Errorf("100 MiB LITERAL+ APPEND: %q, want NO [TOOBIG]", l)
			break
		}
	}
	msgs := b.Mailbox(b.Admin, "INBOX")
	var sizes []int
	for _, m := range msgs {
		sizes = append(sizes, len(m))
	}
	if len(msgs) != 2 || len(msgs[1]) != photo.Len() {
		t.Errorf("INBOX holds messages of %v bytes, want the note and the %d-byte photo", sizes, photo.Len())
	}
	t.Logf("peak RSS %.1f MiB (idle %.1f) with 40 stalled APPENDs and two honest ones", b.peakRSS(), start)
}

// A user at the end of her quota cannot make the box swallow the bytes
// of an APPEND first: the refusal comes instead of the continuation.
func TestAnAppendOverQuotaIsRefusedBeforeTheDataIsSent(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "user", "quota", b.Admin, "1M", "--dir", b.Dir)
	for port, dial := range map[string]func(*testing.T, *Box) *rawIMAP{"IMAPS": dialIMAPS, "STARTTLS": dialSTARTTLS} {
		t.Run(port, func(t *testing.T) { appendOverQuota(t, b, dial) })
	}
}

func appendOverQuota(t *testing.T, b *Box, dial func(*testing.T, *Box) *rawIMAP) {
	rc := loginWith(t, b, dial, b.Admin)
	rc.send("Q APPEND INBOX {2000000}\r\n")
	if l := rc.tagged("Q"); !strings.HasPrefix(l, "Q NO [OVERQUOTA]") {
		t.Fatalf("APPEND of 2 MB into a 1 MiB quota: %q, want NO [OVERQUOTA] before any continuation", l)
	}
	// With LITERAL+ the bytes come anyway: they are read past, unstored,
	// and the connection goes on.
	rc.send("R APPEND INBOX {2000000+}\r\n" + strings.Repeat("y", 2000000) + "\r\nN NOOP\r\n")
	if l := rc.tagged("R"); !strings.HasPrefix(l, "R NO [OVERQUOTA]") {
		t.Fatalf("LITERAL+ APPEND over quota: %q", l)
	}
	if l := rc.tagged("N"); !strings.HasPrefix(l, "N OK") {
		t.Fatalf("NOOP after the refused APPEND: %q", l)
	}
	// What fits is still taken.
	rc.send("F APPEND INBOX {24}\r\n")
	if l := rc.tagged("F"); !strings.HasPrefix(l, "+") {
		t.Fatalf("small APPEND: %q", l)
	}
	rc.send("Subject: fits\r\n\r\nsmall\r\n\r\n")
	if l := rc.tagged("F"); !strings.HasPrefix(l, "F OK") {
		t.Fatalf("small APPEND: %q", l)
	}
	rc.send("X UID STORE 1:* +FLAGS.SILENT (\\Deleted)\r\n")
	rc.tagged("X")
	rc.send("S SELECT INBOX\r\nE EXPUNGE\r\n")
	if l := rc.tagged("E"); !strings.HasPrefix(l, "E OK") {
		t.Fatalf("EXPUNGE: %q", l)
	}
}

// max_message_size is the APPEND limit too, advertised as APPENDLIMIT.
// An APPEND announced above it is refused before a byte of it is read,
// and the bytes of a LITERAL+ one are never taken for commands: the
// message below carries "X CREATE Injected" lines that a box which
// answered NO and then parsed on would have run.
func TestAnOversizedAppendIsRefusedAndItsBytesAreNeverRunAsCommands(t *testing.T) {
	b := newBoxWith(t, map[string]string{"max_message_size": "1048576"})
	for port, dial := range map[string]func(*testing.T, *Box) *rawIMAP{"IMAPS": dialIMAPS, "STARTTLS": dialSTARTTLS} {
		t.Run(port, func(t *testing.T) { oversizedAppend(t, b, dial) })
	}
}

func oversizedAppend(t *testing.T, b *Box, dial func(*testing.T, *Box) *rawIMAP) {
	rc := loginWith(t, b, dial, b.Admin)
	rc.send("C CAPABILITY\r\n")
	if caps := strings.Join(rc.untilTagged("C"), "\n"); !strings.Contains(caps, "APPENDLIMIT=1048576") {
		t.Errorf("CAPABILITY without APPENDLIMIT=1048576:\n%s", caps)
	}
	rc.send("S APPEND INBOX {1048577}\r\n")
	if l := rc.tagged("S"); !strings.HasPrefix(l, "S NO [TOOBIG]") {
		t.Fatalf("synchronizing APPEND over the limit: %q, want NO [TOOBIG] instead of the continuation", l)
	}
	// Just over the limit, sent whole: refused, read past, in step.
	lit := []byte(strings.Repeat("X CREATE Injected\r\n", 1048577/19+1))[:1048577]
	rc.send("P APPEND INBOX {1048577+}\r\n" + string(lit) + "\r\nN NOOP\r\n")
	if l := rc.tagged("P"); !strings.HasPrefix(l, "P NO [TOOBIG]") {
		t.Fatalf("LITERAL+ APPEND over the limit: %q, want NO [TOOBIG]", l)
	}
	if l := rc.tagged("N"); !strings.HasPrefix(l, "N OK") {
		t.Fatalf("NOOP after the refused APPEND: %q (the literal was read as commands?)", l)
	}
	// Far over the limit: the client sends a little and stops.
	rc.send("H APPEND INBOX {104857601+}\r\nX CREATE Injected2\r\n")
	l := rc.tagged("H")
	if !strings.HasPrefix(l, "H NO [TOOBIG]") {
		t.Errorf("LITERAL+ APPEND of 100 MiB: %q", l)
	}
	time.Sleep(300 * time.Millisecond)
	rc.c.Close()

	check := loginWith(t, b, dial, b.Admin)
	check.send("L LIST \"\" \"*\"\r\n")
	list := strings.Join(check.untilTagged("L"), "\n")
	if strings.Contains(list, "Injected") {
		t.Errorf("bytes of a refused literal ran as commands:\n%s", list)
	}
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 0 {
		t.Errorf("%d messages stored from refused APPENDs", n)
	}
}

// A message that is all header, 20 MiB of it (many fields, one field
// folded over and over, or a MIME part's header): FETCH ENVELOPE, BODYSTRUCTURE and HEADER.FIELDS
// and SEARCH HEADER on it from several connections at once used to cost
// hundreds of MiB each; now what is parsed is capped, and the answers
// come (fields past the cap are not seen).
func TestAHugeHeaderOnlyMessageIsCheapToFetchAndSearch(t *testing.T) {
	b := newBox(t)
	many := bytes.NewBufferString("From: Big Header <big@elsewhere.example>\r\nSubject: all header\r\n")
	for i := 0; many.Len() < 20<<20; i++ {
		fmt.Fprintf(many, "X-Filler-%07d: %060d\r\n", i, i)
	}
	folded := bytes.NewBufferString("From: Folded <folded@elsewhere.example>\r\nSubject: one long field\r\nTo: a@example.test")
	for i := 0; folded.Len() < 20<<20; i++ {
		fmt.Fprintf(folded, ",\r\n a%07d@example.test", i)
	}
	folded.WriteString("\r\n")
	nested := bytes.NewBufferString("From: nested@elsewhere.example\r\nSubject: a part all header\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n")
	for i := 0; nested.Len() < 20<<20; i++ {
		fmt.Fprintf(nested, "X-Filler-%07d: %060d\r\n", i, i)
	}
	nested.WriteString("\r\nhello\r\n--XX--\r\n")
	rc := loginIMAPS(t, b, b.Admin)
	for i, m := range [][]byte{many.Bytes(), folded.Bytes(), nested.Bytes()} {
		rc.send(fmt.Sprintf("A%d APPEND INBOX {%d+}\r\n", i, len(m)))
		rc.send(string(m) + "\r\n")
		if l := rc.tagged(fmt.Sprintf("A%d", i)); !strings.Contains(l, "OK") {
			t.Fatalf("APPEND of a 20 MiB header: %q", l)
		}
	}
	rc.c.Close()
	start := b.peakRSS()
	cmds := []string{
		"F FETCH 1:* (ENVELOPE)",
		"F FETCH 1:* (BODYSTRUCTURE)",
		"F FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])",
		"F UID SEARCH HEADER Subject \"one long\"",
	}
	var wg sync.WaitGroup
	replies := make([][]string, 2*len(cmds))
	for i := range replies {
		c := loginIMAPS(t, b, b.Admin)
		c.send("S SELECT INBOX\r\n")
		c.untilTagged("S")
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(cmds[i%len(cmds)] + "\r\n")
			for {
				l, err := c.line()
				if err != nil {
					replies[i] = append(replies[i], "ERROR "+err.Error())
					return
				}
				if len(l) > 300 {
					l = l[:300]
				}
				replies[i] = append(replies[i], l)
				if strings.HasPrefix(l, "F ") {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, r := range replies {
		all := strings.Join(r, "\n")
		if last := r[len(r)-1]; !strings.HasPrefix(last, "F OK") {
			t.Errorf("%s: %s", cmds[i%len(cmds)], all)
			continue
		}
		var want []string
		switch i % len(cmds) {
		case 0:
			want = []string{`"all header"`, `"one long field"`, `"a part all header"`, `"big" "elsewhere.example"`}
		case 1:
			want = []string{"BODYSTRUCTURE", `("text" "plain"`}
		case 2:
			want = []string{"Subject: all header", "Subject: one long field", "Subject: a part all header"}
		case 3:
			want = []string{"* SEARCH 2"}
		}
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: no %q in\n%s", cmds[i%len(cmds)], w, all)
			}
		}
	}
	rss := b.peakRSS()
	t.Logf("peak RSS %.1f MiB (%.1f before the %d FETCH/SEARCH connections)", rss, start, len(replies))
	if rss > 256 {
		t.Errorf("peak RSS %.0f MiB after fetching a 20 MiB header", rss)
	}
}

// An outsider mails the family a 20 MiB message of two million empty MIME
// parts; the phones of the household FETCH its BODYSTRUCTURE and parts
// at once (six connections; each FETCH still loads the whole message).
// go-imap kept every part: 600 MiB and 12 s of CPU per FETCH.
// Now the parts past the 10000th are the last part's body, and the box
// stays small.
func TestAMessageOfMillionsOfMIMEPartsIsCheapToFetch(t *testing.T) {
	b := newBox(t)
	var m strings.Builder
	m.WriteString("From: a@elsewhere.example\r\nSubject: many parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n")
	for m.Len() < 20<<20 {
		m.WriteString("--x\r\n\r\nhi\r\n")
	}
	m.WriteString("--x--\r\n")
	if err := sendFromOutside(b, "a@elsewhere.example", b.Admin, m.String()); err != nil {
		t.Fatalf("the outsider's message: %v", err)
	}
	start := b.peakRSS()
	cmds := []string{"F FETCH 1 (BODYSTRUCTURE)", "F FETCH 1 (BODY.PEEK[9999])", "F FETCH 1 (BINARY.PEEK[2])", "F SEARCH BODY nothing-like-this"}
	replies := make([]string, 6)
	var wg sync.WaitGroup
	for i := range replies {
		c := loginIMAPS(t, b, b.Admin)
		c.send("S SELECT INBOX\r\n")
		c.untilTagged("S")
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.c.Close()
			c.send(cmds[i%len(cmds)] + "\r\n")
			var all strings.Builder
			for {
				l, err := c.line()
				if err != nil {
					replies[i] = all.String() + "ERROR " + err.Error()
					return
				}
				all.WriteString(l + "\n")
				if strings.HasPrefix(l, "F ") {
					replies[i] = all.String()
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, r := range replies {
		if !strings.Contains(r, "\nF OK") {
			t.Errorf("%s: %.300s", cmds[i%len(cmds)], r)
		}
	}
	if n := strings.Count(replies[0], `("text" "plain"`); n != 10000 {
		t.Errorf("BODYSTRUCTURE lists %d parts, want the first 10000", n)
	}
	rss := b.peakRSS()
	t.Logf("peak RSS %.1f MiB (%.1f before 6 FETCH/SEARCH connections on two million parts)", rss, start)
	if rss > 256 && os.Getenv("BOXMAIL_E2E_RACE") == "" {
		t.Errorf("peak RSS %.0f MiB", rss)
	}
}
