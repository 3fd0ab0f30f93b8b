package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// imapPart prints the raw bytes of a body part of the newest message in
// INBOX, and the number of messages on the first line.
const imapPart = `
import imaplib, ssl, sys
port, user, pw, part = sys.argv[1:5]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx, timeout=30)
m.login(user, pw)
typ, d = m.select("INBOX")
n = int(d[0])
sys.stdout.buffer.write(b"%d\n" % n)
if n > 0 and part:
    typ, d = m.fetch(str(n), "(BODY.PEEK[" + part + "])")
    sys.stdout.buffer.write(d[0][1])
m.logout()
`

// imapFetch returns the message count of an INBOX and a part of its
// newest message, read by Python's imaplib over IMAPS.
func imapFetch(t *testing.T, b *Box, user, pw, part string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, needTool(t, "python3"), "-c", imapPart, fmt.Sprint(b.IMAPS), user, pw, part).Output()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	first, rest, _ := bytes.Cut(out, []byte("\n"))
	var n int
	fmt.Sscan(string(first), &n)
	return n, rest
}

// postMultipart posts fields (in order; a field named "file" is a file
// "name=content") as multipart/form-data, as a browser does.
func (w *webClient) postMultipart(path string, fields [][2]string) (*http.Response, string) {
	w.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range fields {
		if f[0] == "file" {
			name, content, _ := strings.Cut(f[1], "=")
			fw, _ := mw.CreateFormFile("file", name)
			io.WriteString(fw, content)
			continue
		}
		mw.WriteField(f[0], f[1])
	}
	mw.Close()
	req, _ := http.NewRequest("POST", w.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return w.do(req)
}

// Compose over HTTPS against the real binary: reply-all leaves out the
// user's own addresses, a forward as attachment reaches the recipient
// byte for byte over IMAP, undo within the hold sends nothing while a
// message not undone leaves after it, and too big attachments or header
// injection are refused with nothing sent.
func TestWebmailCompose(t *testing.T) {
	b := newBoxWith(t, map[string]string{"webmail_undo_seconds": "2", "max_message_size": "65536"})
	addUser(t, b, "kid@example.test", "kid-secret-42")
	orig := "From: Friend <friend@elsewhere.example>\nTo: " + b.Admin + ", kid@example.test\nCc: other@elsewhere.example\nSubject: Picknick am See\n" +
		"Message-ID: <p1@elsewhere.example>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nBringt Käse mit.\n"
	webmailSend(t, b.SMTP, "friend@elsewhere.example", b.Admin, orig)
	w := newWebClient(t, b, "127.0.0.1")
	w.mustLogin(b.Admin, b.Password)
	_, page := w.get("/mail/")
	link := regexp.MustCompile(`href="/mail/msg/(\d+)/(\d+)">Picknick am See<`).FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("list:\n%s", page)
	}
	q := "&box=" + link[1] + "&uid=" + link[2]
	// Reply-all: to the sender; Cc the others but not me.
	_, page = w.get("/mail/compose?mode=all" + q)
	if !strings.Contains(page, `id="to" value="Friend &lt;friend@elsewhere.example&gt;"`) || !strings.Contains(page, `id="cc" value="kid@example.test, other@elsewhere.example"`) ||
		!strings.Contains(page, `value="Re: Picknick am See"`) || !strings.Contains(page, `value="&lt;p1@elsewhere.example&gt;"`) {
		t.Errorf("reply-all form:\n%s", page)
	}
	// Forward as attachment.
	_, page = w.get("/mail/compose?mode=attach" + q)
	csrf := formCSRFRe.FindStringSubmatch(page)
	att := regexp.MustCompile(`name="att" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if csrf == nil || att == nil || !strings.Contains(page, `value="Fwd: Picknick am See"`) {
		t.Fatalf("forward form:\n%s", page)
	}
	send := url.Values{"csrf": {csrf[1]}, "from": {b.Admin}, "to": {"kid@example.test"}, "subject": {"Fwd: Picknick am See"}, "body": {"Siehe unten."}, "att": {att[1]}}
	res, page := w.post("/mail/send", send)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/mail/sent?held=") {
		t.Fatalf("send: %s %q\n%s", res.Status, res.Header.Get("Location"), page)
	}
	stored := b.Mailbox(b.Admin, "INBOX")[0]
	var n int
	var got []byte
	for range 40 {
		if n, got = imapFetch(t, b, "kid@example.test", "kid-secret-42", "2"); n == 1 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if n != 1 || !bytes.Equal(got, stored) {
		t.Fatalf("kid has %d messages; the attached message (%d bytes) differs from the original (%d bytes):\n%q", n, len(got), len(stored), got)
	}
	// Undo within the hold: nothing leaves, the draft reopens.
	send.Del("att")
	send.Set("subject", "Oops")
	res, _ = w.post("/mail/send", send)
	held, _ := url.ParseQuery(strings.TrimPrefix(res.Header.Get("Location"), "/mail/sent?"))
	res, page = w.post("/mail/undo", url.Values{"csrf": {csrf[1]}, "held": {held.Get("held")}, "sent_uid": {held.Get("uid")}})
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "mode=draft") {
		t.Fatalf("undo: %s\n%s", res.Status, page)
	}
	_, page = w.get(res.Header.Get("Location"))
	if !strings.Contains(page, `value="Oops"`) {
		t.Errorf("the undone message is not reopened:\n%s", page)
	}
	time.Sleep(3 * time.Second)
	if n, _ := imapFetch(t, b, "kid@example.test", "kid-secret-42", ""); n != 1 {
		t.Errorf("after undo kid has %d messages", n)
	}
	// Too big: a clear error and nothing sent.
	res, page = w.postMultipart("/mail/send", [][2]string{{"csrf", csrf[1]}, {"from", b.Admin}, {"to", "kid@example.test"}, {"subject", "big"},
		{"body", "x"}, {"file", "big.bin=" + strings.Repeat("x", 70<<10)}})
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "too big") {
		t.Errorf("too big: %s\n%s", res.Status, page)
	}
	// Header injection: refused.
	for _, bad := range []url.Values{
		{"to": {"kid@example.test\r\nBcc: " + b.Admin}},
		{"subject": {"hi\r\nBcc: " + b.Admin}},
		{"cc": {"\"x\r\n\" <kid@example.test>"}},
	} {
		v := url.Values{"csrf": {csrf[1]}, "from": {b.Admin}, "to": {"kid@example.test"}, "subject": {"x"}, "body": {"x"}}
		for k, vv := range bad {
			v[k] = vv
		}
		if res, page := w.post("/mail/send", v); res.StatusCode != http.StatusBadRequest {
			t.Errorf("injection %v: %s\n%s", bad, res.Status, page)
		}
	}
	// Drafts: a save replaces the previous version; opening it continues.
	draft := url.Values{"csrf": {csrf[1]}, "from": {b.Admin}, "to": {"kid@example.test"}, "subject": {"Entwurf"}, "body": {"eins"}}
	var uid string
	for _, text := range []string{"eins", "zwei"} {
		draft.Set("body", text)
		draft.Set("draft_uid", uid)
		req, _ := http.NewRequest("POST", w.base+"/mail/draft", strings.NewReader(draft.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		res, page := w.do(req)
		m := regexp.MustCompile(`"uid":(\d+)`).FindStringSubmatch(page)
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("save draft: %s %s", res.Status, page)
		}
		uid = m[1]
	}
	if d := b.Mailbox(b.Admin, "Drafts"); len(d) != 2 || !bytes.Contains(d[1], []byte("zwei")) {
		// the undone message above is the first draft
		t.Errorf("Drafts has %d messages", len(d))
	}
	time.Sleep(2500 * time.Millisecond)
	if n, _ := imapFetch(t, b, "kid@example.test", "kid-secret-42", ""); n != 1 {
		t.Errorf("kid has %d messages at the end, want 1", n)
	}
}

// A message held for undo is on disk before "sent" is shown: when the
// server dies during the hold, it leaves after the restart.
func TestWebmailUndoHoldSurvivesACrash(t *testing.T) {
	b := newBoxWith(t, map[string]string{"webmail_undo_seconds": "3"})
	addUser(t, b, "kid@example.test", "kid-secret-42")
	w := newWebClient(t, b, "127.0.0.1")
	w.mustLogin(b.Admin, b.Password)
	_, page := w.get("/mail/compose")
	csrf := formCSRFRe.FindStringSubmatch(page)
	if csrf == nil {
		t.Fatalf("compose:\n%s", page)
	}
	res, page := w.post("/mail/send", url.Values{"csrf": {csrf[1]}, "from": {b.Admin}, "to": {"kid@example.test"}, "subject": {"Held"}, "body": {"through a crash"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/mail/sent?held=") {
		t.Fatalf("send: %s\n%s", res.Status, page)
	}
	b.cmd.Process.Kill() // no shutdown: as a power cut
	<-b.exited
	b.cmd = nil
	if n := len(b.Mailbox("kid@example.test", "INBOX")); n != 0 {
		t.Fatalf("delivered before the hold ended: %d", n)
	}
	time.Sleep(3 * time.Second)
	b.Start()
	for range 40 {
		if len(b.Mailbox("kid@example.test", "INBOX")) == 1 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("the held message was lost in the crash\n%s", b.stderr.String())
}
