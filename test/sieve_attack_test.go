package test

// Attacks through Sieve (issue 12, items 1, 4, 5 and the ManageSieve part
// of 16): a family member's own filter script must not let them send as
// someone else, inject header fields, or stall and bloat the box; a
// stranger must not make the ManageSieve port hold megabytes.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// outsider is a dialer from 127.0.0.2, a loopback address the box does
// not trust. Its timeout is generous: a test dials twenty at once, and
// the e2e suite runs several tests at once on a loaded machine.
var outsider = &net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}

// msConn is a ManageSieve client session for the tests.
type msConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialManageSieve(t *testing.T, port int) *msConn {
	t.Helper()
	c, err := outsider.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m := &msConn{t: t, c: c, r: bufio.NewReader(c)}
	m.response() // capabilities and OK
	return m
}

// response reads lines up to OK/NO/BYE and returns the last one (and
// everything read).
func (m *msConn) response() (string, string) {
	m.t.Helper()
	var all strings.Builder
	for {
		m.c.SetReadDeadline(time.Now().Add(15 * time.Second))
		l, err := m.r.ReadString('\n')
		all.WriteString(l)
		if err != nil {
			return "ERR " + err.Error(), all.String()
		}
		l = strings.TrimRight(l, "\r\n")
		// A literal in a reply: read it whole.
		if mm := regexp.MustCompile(`\{(\d+)\}$`).FindStringSubmatch(l); mm != nil {
			var n int
			fmt.Sscan(mm[1], &n)
			buf := make([]byte, n)
			io.ReadFull(m.r, buf)
			all.Write(buf)
			rest, _ := m.r.ReadString('\n')
			all.WriteString(rest)
			l += string(buf) + strings.TrimRight(rest, "\r\n")
		}
		for _, p := range []string{"OK", "NO", "BYE"} {
			if strings.HasPrefix(l, p) {
				return l, all.String()
			}
		}
	}
}

func (m *msConn) send(s string) {
	m.t.Helper()
	m.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := m.c.Write([]byte(s)); err != nil {
		m.t.Fatalf("send: %v", err)
	}
}

// login does STARTTLS and AUTHENTICATE PLAIN.
func (m *msConn) login(user, pass string) {
	m.t.Helper()
	m.send("STARTTLS\r\n")
	if l, _ := m.response(); !strings.HasPrefix(l, "OK") {
		m.t.Fatalf("STARTTLS: %s", l)
	}
	tc := tls.Client(m.c, &tls.Config{InsecureSkipVerify: true})
	m.c, m.r = tc, bufio.NewReader(tc)
	m.response()
	m.send(fmt.Sprintf("AUTHENTICATE \"PLAIN\" \"%s\"\r\n", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))))
	if l, _ := m.response(); !strings.HasPrefix(l, "OK") {
		m.t.Fatalf("AUTHENTICATE: %s", l)
	}
}

// put uploads a script and returns the server's last reply line.
func (m *msConn) put(name, src string) string {
	m.t.Helper()
	m.send(fmt.Sprintf("PUTSCRIPT %q {%d+}\r\n%s\r\n", name, len(src), src))
	l, _ := m.response()
	return l
}

// storeScript writes and activates a script straight into the store, as
// one saved before the checks existed would be.
func storeScript(t *testing.T, b *Box, email, name, src string) {
	t.Helper()
	ctx := context.Background()
	st, acc := b.OpenAccount(email)
	if err := st.PutSieveScript(ctx, acc.ID, name, src); err != nil {
		t.Fatal(err)
	}
	if err := st.SetActiveSieveScript(ctx, acc.ID, name); err != nil {
		t.Fatal(err)
	}
}

// queuedTo returns the bodies of the queued messages to rcpt.
func queuedTo(t *testing.T, b *Box, rcpt string) []string {
	t.Helper()
	ctx := context.Background()
	st := b.OpenStore()
	defer st.Close()
	q, err := st.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range q {
		if len(it.Recipients) == 1 && it.Recipients[0] == rcpt {
			body, err := st.Body(ctx, it.BodyID)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(body))
		}
	}
	return out
}

// sendFromOutside delivers msg over port 25 from 127.0.0.2.
func sendFromOutside(b *Box, from, to, msg string) error {
	nc, err := outsider.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.SMTP))
	if err != nil {
		return err
	}
	return sendOn(nc, from, to, msg)
}

func headerOf(msg string) string {
	h, _, _ := strings.Cut(msg, "\r\n\r\n")
	return h
}

// TestASieveVacationCannotSendAsTheCEO is issue 12 item 1: a user's
// vacation :from with CR LF and a Bcc, a :subject with a header, and a
// :mime reason that sets From are refused at upload with their line and
// column, through ManageSieve, the CLI and the web. A :from the user may
// not send as is refused where the saving path knows the account (CLI,
// web) and ignored at delivery; a script stored before the checks sends
// its reply from the user's own address, without injected fields.
func TestASieveVacationCannotSendAsTheCEO(t *testing.T) {
	b, port := newSieveBox(t, nil)
	ms := dialManageSieve(t, port)
	ms.login(b.Admin, b.Password)

	attack := "require \"vacation\";\nvacation :from \"ceo@example.test\r\nBcc: hidden@evil.test\r\nX-Injected: yes\" :subject \"Invoice\" \"Please pay...\";\n"
	for _, c := range []struct{ name, src, want string }{
		{"from with CR LF", attack, `line 2:16: `},
		{"subject with CR LF", "require \"vacation\";\nvacation :subject \"Invoice\r\nBcc: hidden@evil.test\" \"Please pay\";\n", `line 2:19: `},
		{"two addresses", "require \"vacation\";\nvacation :from \"me@example.test, ceo@example.test\" \"x\";\n", `line 2:16: `},
		{"mime reason with From", "require \"vacation\";\nvacation :mime text:\nFrom: ceo@example.test\nContent-Type: text/plain\n\nPlease pay\n.\n;\n", `line 2:16: `},
	} {
		if l := ms.put("attack", c.src); !strings.HasPrefix(l, "NO") || !strings.Contains(l, c.want) {
			t.Errorf("%s: PUTSCRIPT answered %q, want NO with %q", c.name, l, c.want)
		}
	}

	// A script stored before the checks: the reply goes out from the
	// user's own address, with nothing injected.
	storeScript(t, b, b.Admin, "old", attack)
	mail := "From: friend@friends.example\r\nTo: me@example.test\r\nSubject: hello\r\nMessage-ID: <1@friends.example>\r\n\r\nhi\r\n"
	if err := sendFromOutside(b, "friend@friends.example", b.Admin, mail); err != nil {
		t.Fatal(err)
	}
	replies := queuedTo(t, b, "friend@friends.example")
	if len(replies) != 1 {
		t.Fatalf("%d vacation replies queued", len(replies))
	}
	h := headerOf(replies[0])
	if !regexp.MustCompile(`(?m)^From: me@example\.test\r?$`).MatchString(h) || strings.Contains(h, "ceo@") || strings.Contains(h, "hidden@evil.test") || strings.Contains(h, "X-Injected") {
		t.Errorf("the reply of a script with an injected :from:\n%s", h)
	}

	// One clean address the user may not send as: ManageSieve cannot
	// tell, so it is stored; the reply still comes from the user.
	ceo := "require \"vacation\";\nvacation :from \"ceo@example.test\" :subject \"Invoice\" \"Please pay...\";\n"
	if l := ms.put("ceo", ceo); !strings.HasPrefix(l, "OK") {
		t.Fatalf("PUTSCRIPT of a syntactically fine script: %s", l)
	}
	ms.send("SETACTIVE \"ceo\"\r\n")
	if l, _ := ms.response(); !strings.HasPrefix(l, "OK") {
		t.Fatalf("SETACTIVE: %s", l)
	}
	mail = strings.ReplaceAll(mail, "friend@", "cousin@")
	if err := sendFromOutside(b, "cousin@friends.example", b.Admin, mail); err != nil {
		t.Fatal(err)
	}
	replies = queuedTo(t, b, "cousin@friends.example")
	if len(replies) != 1 {
		t.Fatalf("%d vacation replies queued", len(replies))
	}
	if h := headerOf(replies[0]); !regexp.MustCompile(`(?m)^From: me@example\.test\r?$`).MatchString(h) || strings.Contains(h, "ceo@") {
		t.Errorf("the reply of a script with :from ceo@:\n%s", h)
	}
	if !strings.Contains(b.stderr.String(), "vacation :from") {
		t.Errorf("the ignored :from was not logged")
	}

	// The CLI and the web know the account: they refuse to save a script
	// whose :from the user may not use, naming its place.
	_, errs, code := b.Cmd("", "forward", "add", b.Admin, "old@oldprovider.example")
	if code == 0 || !regexp.MustCompile(`line \d+:16: vacation :from ceo@example.test`).MatchString(errs) {
		t.Errorf("CLI forward add over a script sending as the CEO: exit %d: %s", code, errs)
	}
	req, _ := http.NewRequest("POST", fmt.Sprintf("https://127.0.0.1:%d/account/api/forwards", b.HTTPS), strings.NewReader(`{"to":"old@oldprovider.example","name":"From the web"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(b.Admin, b.Password)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !regexp.MustCompile(`line \d+:16: vacation :from ceo@example.test`).Match(body) {
		t.Errorf("web forward add over a script sending as the CEO: %d %s", res.StatusCode, body)
	}
	// The user's own address with a name is fine everywhere.
	mine := "require \"vacation\";\nvacation :from \"Me <me@example.test>\" :subject \"Away\" \"Back Monday\";\n"
	if l := ms.put("ceo", mine); !strings.HasPrefix(l, "OK") {
		t.Fatalf("PUTSCRIPT of the user's own address: %s", l)
	}
	if _, errs, code := b.Cmd("", "forward", "add", b.Admin, "old@oldprovider.example"); code != 0 {
		t.Errorf("CLI forward add over a script with the user's own :from: %s", errs)
	}
}

// nestedMessage is a message of about size bytes: multipart levels nested
// depth deep, each with a base64 text part, the innermost holding most.
func nestedMessage(subject string, depth, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: big@elsewhere.example\r\nTo: me@example.test\r\nSubject: %s\r\nMIME-Version: 1.0\r\n", subject)
	chunk := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("all work and no play makes jack a dull boy ", 1+size/depth/60)))
	var wrapped strings.Builder
	for i := 0; i < len(chunk); i += 76 {
		wrapped.WriteString(chunk[i:min(i+76, len(chunk))])
		wrapped.WriteString("\r\n")
	}
	part := wrapped.String()[:min(wrapped.Len(), size/depth/78*78)]
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"level%d\"\r\n\r\n--level%d\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n%s--level%d\r\n", i, i, part, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep inside\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--level%d--\r\n", i)
	}
	return b.String()
}

// TestNestedMIMEToSieveUsersKeepsMemoryBounded is issue 12 item 4: four
// concurrent nested messages of 16 MiB from outside, half to a user
// whose script looks into the body and half to one whose script does
// not, are all delivered (those the box defers with 452 while
// smtp_data_memory is full, once sent again) and the box stays under
// 256 MiB. (Four of 20
// MiB peak at 210-230 MiB with no script at all, the SMTP session and
// the store holding each message; Sieve used to add 650 MiB to that.)
func TestNestedMIMEToSieveUsersKeepsMemoryBounded(t *testing.T) {
	b, _ := newSieveBox(t, nil)
	mustRun(t, "pw-for-kid-1234\n", "user", "add", "kid@example.test", "--dir", b.Dir)
	storeScript(t, b, b.Admin, "body", "require [\"body\", \"fileinto\"];\nif body :text :contains \"needle\" { fileinto \"Found\"; }\nif body :content \"text\" :matches \"*jack*needle*\" { discard; }\n")
	storeScript(t, b, "kid@example.test", "hdr", "require \"fileinto\";\nif header :contains \"subject\" \"needle\" { fileinto \"Found\"; }\n")
	base := b.peakRSS()
	const n = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	var deferred []func() error // messages the box asked to send again later
	for i := range n {
		to := b.Admin
		if i%2 == 1 {
			to = "kid@example.test"
		}
		msg := nestedMessage(fmt.Sprintf("nested %d", i), 8, 16<<20)
		msg = strings.Replace(msg, "To: me@example.test", "To: "+to, 1)
		send := func() error { return sendFromOutside(b, "big@elsewhere.example", to, msg) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := send()
			var te *textproto.Error
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &te) && te.Code/100 == 4: // smtp_data_memory is full: later
				deferred = append(deferred, send)
			case err != nil:
				t.Errorf("a nested message was not accepted: %v", err)
			}
		}()
	}
	wg.Wait()
	for _, send := range deferred {
		if err := send(); err != nil {
			t.Fatalf("a deferred nested message sent again: %v", err)
		}
	}
	if got := len(b.Mailbox(b.Admin, "INBOX")) + len(b.Mailbox("kid@example.test", "INBOX")); got != n {
		t.Errorf("%d of %d messages in the INBOXes", got, n)
	}
	rss := b.peakRSS()
	t.Logf("peak RSS %.1f MiB (%.1f MiB before the %d messages)", rss, base, n)
	if rss > 256 && os.Getenv("BOXMAIL_E2E_RACE") == "" {
		t.Errorf("peak RSS %.0f MiB over 256 MiB", rss)
	}
}

// TestASieveMatchesBombIsAnswered250QuicklyAndKept is issue 12 item 5: a
// user's script with :matches patterns of 20 KB against a 468 KB message
// does not hold DATA for seconds of CPU; the message lands in INBOX and
// the box logs why the script was given up.
func TestASieveMatchesBombIsAnswered250QuicklyAndKept(t *testing.T) {
	b, _ := newSieveBox(t, nil)
	var keys []string
	for i := range 3 {
		keys = append(keys, `"*`+strings.Repeat("a", 20000)+fmt.Sprintf("b%d", i)+`"`)
	}
	keys = append(keys, `"*`+strings.Repeat("a", 4000)+`b*"`, `"*`+strings.Repeat("a*", 2000)+`b"`)
	storeScript(t, b, b.Admin, "bomb", "require [\"body\", \"fileinto\"];\nif body :text :matches ["+strings.Join(keys, ", ")+"] { fileinto \"Never\"; }\n"+
		"if header :matches \"subject\" \"*"+strings.Repeat("a", 1000)+"x\" { fileinto \"Never\"; }\n")
	// The body decodes to 468 KB of "a": every star tries every place.
	var b64 strings.Builder
	enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 468<<10)))
	for i := 0; i < len(enc); i += 76 {
		b64.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	msg := "From: a@elsewhere.example\r\nTo: me@example.test\r\nSubject: " + strings.Repeat("a", 900) + "\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64.String()
	start := time.Now()
	if err := sendFromOutside(b, "a@elsewhere.example", b.Admin, msg); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("DATA answered after %v", took)
	if took > 10*time.Second {
		t.Errorf("the message took %v to be accepted", took)
	}
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 1 {
		t.Errorf("INBOX has %d messages", n)
	}
	// A normal message after it is filed by the same kind of script.
	storeScript(t, b, b.Admin, "fine", "require \"fileinto\";\nif header :matches \"subject\" \"*school*trip*\" { fileinto \"School\"; }\n")
	if err := sendFromOutside(b, "a@elsewhere.example", b.Admin, "From: a@elsewhere.example\r\nSubject: the school ski trip\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	if n := len(b.Mailbox(b.Admin, "School")); n != 1 {
		t.Errorf("School has %d messages", n)
	}
}

// TestManageSieveBeforeLoginHoldsNoMegabytes is issue 12 item 16 (the
// ManageSieve part): a stranger announcing a literal of a megabyte
// before logging in is told BYE at once, without the box waiting for or
// holding the data; twenty such strangers leave the box small, and a
// user's upload meanwhile works.
func TestManageSieveBeforeLoginHoldsNoMegabytes(t *testing.T) {
	b, port := newSieveBox(t, nil)
	ms := dialManageSieve(t, port)
	ms.send("PUTSCRIPT \"x\" {1048576+}\r\n")
	if l, _ := ms.response(); !strings.HasPrefix(l, "BYE") {
		t.Errorf("a 1 MiB literal before login: %q, want BYE at once", l)
	}
	// Twenty strangers each send as much as one command may hold.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := outsider.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			go io.Copy(io.Discard, c)
			lit := strings.Repeat("x", 1<<20)
			var cmd strings.Builder
			cmd.WriteString("PUTSCRIPT")
			for range 8 {
				fmt.Fprintf(&cmd, " {%d+}\r\n%s", len(lit), lit)
			}
			cmd.WriteString("\r\n")
			c.Write([]byte(cmd.String()))
			time.Sleep(time.Second)
		}()
	}
	wg.Wait()
	user := dialManageSieve(t, port)
	user.login(b.Admin, b.Password)
	if l := user.put("fine", "keep;\n"); !strings.HasPrefix(l, "OK") {
		t.Errorf("a user's upload beside the strangers: %s", l)
	}
	rss := b.peakRSS()
	t.Logf("peak RSS %.1f MiB", rss)
	if rss > 64 && os.Getenv("BOXMAIL_E2E_RACE") == "" {
		t.Errorf("peak RSS %.0f MiB after 20 strangers' literals", rss)
	}
}
