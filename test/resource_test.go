package test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestTwentyHostileClientsOfEachKindLeaveTheBoxSmallAndTheFamilyServed is
// the resource half of the security review: from an outside address,
// twenty clients of each hostile kind push at once (40 MiB login forms,
// nested MIME to a user whose Sieve script reads bodies and matches
// headers, IMAP APPENDs that announce 100 MiB and stall, FETCHes of a
// message whose header is megabytes long). The box stays under 256 MiB
// and the family's mail, IMAP and web logins are served meanwhile.
func TestTwentyHostileClientsOfEachKindLeaveTheBoxSmallAndTheFamilyServed(t *testing.T) {
	b := newBox(t)
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	storeScript(t, b, b.Admin, "resource", `require ["body", "fileinto"];
if body :text :contains "lottery" { fileinto "Junk"; stop; }
if header :matches "subject" "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b" { fileinto "Junk"; stop; }
`)

	// The message whose header the FETCH clients read: 2 MB of fields.
	var bigHeader strings.Builder
	bigHeader.WriteString("From: a@elsewhere.example\r\nSubject: big header\r\n")
	for i := range 20000 {
		fmt.Fprintf(&bigHeader, "X-Filler-%d: %s\r\n", i, strings.Repeat("x", 90))
	}
	bigHeader.WriteString("\r\nsmall body\r\n")
	if err := sendPlain(mx, "a@elsewhere.example", b.Admin, bigHeader.String()); err != nil {
		t.Fatalf("the big-header message: %v", err)
	}
	nested := nestedMIME(4, 2<<20)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	outside := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	problem := func(format string, a ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	stalled := make(chan struct{}) // closed when the honest clients are done
	for i := range 20 {
		wg.Add(4)
		go func() { // a 40 MiB multipart login form
			defer wg.Done()
			if code := hugeLoginPost(ctx, b, outside, 40<<20); code == http.StatusOK || code == http.StatusSeeOther {
				problem("a 40 MiB login form got %d", code)
			}
		}()
		go func() { // nested MIME to a user with a script: delivered
			defer wg.Done()
			if err := sendFromOutside(b, "a@elsewhere.example", b.Admin, nested); err != nil {
				problem("nested MIME %d: %v", i, err)
			}
		}()
		go func() { // an APPEND that announces 100 MiB and stalls
			defer wg.Done()
			stallAppend(ctx, b, outside, stalled)
		}()
		go func() { // FETCH ENVELOPE, BODYSTRUCTURE and the header of the 2 MB header
			defer wg.Done()
			if err := fetchBigHeader(b); err != nil {
				problem("fetch of the big header: %v", err)
			}
		}()
	}

	// Meanwhile the family: a message arrives, IMAP reads it, the web
	// login works from home.
	time.Sleep(500 * time.Millisecond)
	if out, code := b.Swaks("--server", mx, "--to", b.Admin, "--h-Subject", "dinner at seven"); code != 0 {
		t.Errorf("an honest message was not accepted meanwhile:\n%s", out)
	}
	ic := imapLogin(t, b)
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Errorf("honest SELECT: %v", err)
	}
	ic.Close()
	if err := webLogin(b, b.Admin, b.Password); err != nil {
		t.Errorf("honest web login meanwhile: %v", err)
	}
	close(stalled)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if n := len(b.Mailbox(b.Admin, "INBOX")); n < 2 {
		t.Errorf("INBOX has %d messages", n)
	}
	rss := b.peakRSS()
	t.Logf("peak RSS under 80 hostile clients: %.1f MiB", rss)
	if rss > 256 && os.Getenv("BOXMAIL_E2E_RACE") == "" {
		t.Errorf("peak RSS %.0f MiB, want under 256 MiB", rss)
	}
}

// nestedMIME is a message whose text part of about size bytes sits depth
// multiparts deep.
func nestedMIME(depth, size int) string {
	var m strings.Builder
	m.WriteString("From: a@elsewhere.example\r\nSubject: nested\r\nMIME-Version: 1.0\r\n")
	for i := range depth {
		fmt.Fprintf(&m, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	m.WriteString("Content-Type: text/plain\r\n\r\n")
	line := strings.Repeat("aaaaaaaaa ", 7) + "\r\n"
	for m.Len() < size {
		m.WriteString(line)
	}
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&m, "--b%d--\r\n", i)
	}
	return m.String()
}

// hugeLoginPost sends a multipart login form of size bytes from the
// outside and returns the status, or 0 when the box closed the connection.
func hugeLoginPost(ctx context.Context, b *Box, d *net.Dialer, size int64) int {
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	body := io.MultiReader(
		strings.NewReader("--X\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n"),
		io.LimitReader(repeatByte('p'), size),
		strings.NewReader("\r\n--X--\r\n"))
	req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("https://127.0.0.1:%d/login", b.HTTPS), body)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=X")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

type repeatByte byte

func (r repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// stallAppend logs in from the outside, announces a 100 MiB APPEND, sends
// a little of it and waits until stop.
func stallAppend(ctx context.Context, b *Box, d *net.Dialer, stop <-chan struct{}) {
	c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAPS))
	if err != nil {
		return
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(tc)
	r.ReadString('\n')
	fmt.Fprintf(tc, "a LOGIN %s %s\r\n", b.Admin, b.Password)
	for {
		l, err := r.ReadString('\n')
		if err != nil || strings.HasPrefix(l, "a ") {
			break
		}
	}
	fmt.Fprintf(tc, "b APPEND INBOX {104857600+}\r\n%s", strings.Repeat("x", 64<<10))
	select {
	case <-stop:
	case <-ctx.Done():
	}
}

// fetchBigHeader reads the envelope, structure and a header field of
// every message in INBOX.
func fetchBigHeader(b *Box) error {
	ic, err := imapclient.DialTLS(fmt.Sprintf("127.0.0.1:%d", b.IMAPS), &imapclient.Options{TLSConfig: insecureTLS()})
	if err != nil {
		return err
	}
	defer ic.Close()
	if err := ic.Login(b.Admin, b.Password).Wait(); err != nil {
		return err
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	msgs, err := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}}}).Collect()
	if err != nil {
		return err
	}
	if len(msgs) != 1 || msgs[0].Envelope == nil || msgs[0].Envelope.Subject != "big header" {
		return fmt.Errorf("unexpected fetch result %+v", msgs)
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webLogin logs in on the web from 127.0.0.1 as a browser would.
func webLogin(b *Box, email, password string) error {
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Timeout: 20 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	resp, err := cl.Get(base + "/login")
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("no CSRF token on the login page (%d)", resp.StatusCode)
	}
	resp, err = cl.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "email": {email}, "password": {password}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("login answered %d", resp.StatusCode)
	}
	return nil
}

// TestTwentyHugeMessagesAtOnceNeitherExhaustMemoryNorGetLost: twenty
// outside clients push a 20 MiB message each at the same moment. The box
// holds only so much message data at once: each message is either stored
// (250) or refused for now (4xx, its sender tries again later), never
// lost, and an honest small message from the family is accepted
// meanwhile. Those refused are accepted when sent again one at a time.
func TestTwentyHugeMessagesAtOnceNeitherExhaustMemoryNorGetLost(t *testing.T) {
	b := newBox(t)
	var big strings.Builder
	big.WriteString("From: a@elsewhere.example\r\nSubject: a big one\r\n\r\n")
	line := strings.Repeat("0123456789", 10) + "\r\n"
	for big.Len() < 20<<20 {
		big.WriteString(line)
	}
	msg := big.String()
	start := b.peakRSS()

	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, deferred := 0, 0
	var problems []string
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := sendFromOutside(b, "a@elsewhere.example", b.Admin, strings.Replace(msg, "a big one", fmt.Sprintf("a big one %d", i), 1))
			mu.Lock()
			defer mu.Unlock()
			var te *textproto.Error
			switch {
			case err == nil:
				accepted++
			case errors.As(err, &te) && te.Code/100 == 4:
				deferred++
			default:
				problems = append(problems, fmt.Sprintf("message %d: %v (want 250 or a temporary 4xx)", i, err))
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--to", b.Admin, "--h-Subject", "dinner at seven"); code != 0 {
		t.Errorf("an honest message was not accepted meanwhile:\n%s", out)
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	rss := b.peakRSS()
	t.Logf("20 messages of 20 MiB at once: %d accepted, %d deferred; peak RSS %.1f MiB (idle %.1f)", accepted, deferred, rss, start)
	if rss > 256 && os.Getenv("BOXMAIL_E2E_RACE") == "" {
		t.Errorf("peak RSS %.0f MiB, want under 256 MiB", rss)
	}
	// The deferred senders try again, one after the other: all accepted.
	for i := range deferred {
		if err := sendFromOutside(b, "a@elsewhere.example", b.Admin, msg); err != nil {
			t.Fatalf("retry %d of a deferred message: %v", i, err)
		}
	}
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 21 {
		t.Errorf("INBOX has %d messages, want the 20 big ones and the honest one", n)
	}
}
