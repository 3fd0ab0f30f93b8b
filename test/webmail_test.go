package test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// imapSubjects lists the subjects in an account's INBOX, as a phone's
// mail app reads them (Python's imaplib over IMAPS).
const imapSubjects = `
import imaplib, ssl, sys
port, user, pw = sys.argv[1:4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx, timeout=30)
m.login(user, pw)
m.select("INBOX")
typ, d = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
for x in d:
    if isinstance(x, tuple):
        print(x[1].decode().strip().replace("\r\n", " | "))
m.logout()
`

// A family member reads mail in a browser: mail delivered over SMTP is
// listed at /mail/ (subject escaped), opens in the sandboxed body frame,
// and a reply sent from the webmail reaches another account, whose phone
// reads it over IMAP.
func TestWebmailReadAndReply(t *testing.T) {
	b := newBoxWith(t, map[string]string{"webmail_undo_seconds": "0"}) // sent at once (undo: webmail_compose_test.go)
	py := needTool(t, "python3")
	addUser(t, b, "kid@example.test", "kid-secret-42")
	if out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--from", "friend@elsewhere.example", "--to", b.Admin,
		"--header", "Subject: Lunch <b>on Sunday</b>?", "--body", "Shall we? <script>alert(1)</script>"); code != 0 {
		t.Fatalf("swaks: %s", out)
	}
	w := newWebClient(t, b, "127.0.0.1")
	res, page := w.get("/mail/")
	m := formCSRFRe.FindStringSubmatch(page)
	if res.StatusCode != 200 || m == nil || !strings.Contains(page, `action="/login"`) {
		t.Fatalf("/mail/ without a session: %s\n%s", res.Status, page)
	}
	res, page = w.post("/login", url.Values{"csrf": {m[1]}, "email": {b.Admin}, "password": {b.Password}, "next": {"/mail/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/mail/" {
		t.Fatalf("login: %s to %q\n%s", res.Status, res.Header.Get("Location"), page)
	}
	res, page = w.get("/mail/")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("shell CSP %q", csp)
	}
	link := regexp.MustCompile(`<a href="(/mail/msg/(\d+)/(\d+))">Lunch &lt;b&gt;on Sunday&lt;/b&gt;\?</a>`).FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("the subject is not listed as text:\n%s", page)
	}
	if !regexp.MustCompile(`href="/mail/box/\d+"[^>]*><span class="name">INBOX</span> <span class="count">1</span>`).MatchString(page) {
		t.Errorf("no INBOX link with one unread:\n%s", page)
	}
	if res, page = w.get(link[1]); res.StatusCode != 200 || !strings.Contains(page, `src="/mail/body/`+link[2]+"/"+link[3]+`"`) {
		t.Fatalf("message: %s\n%s", res.Status, page)
	}
	res, body := w.get("/mail/body/" + link[2] + "/" + link[3])
	if !strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "sandbox allow-same-origin allow-popups; default-src 'none'") ||
		!strings.Contains(body, "Shall we? &lt;script&gt;") {
		t.Errorf("body: CSP %q\n%s", res.Header.Get("Content-Security-Policy"), body)
	}
	_, page = w.get("/mail/compose?box=" + link[2] + "&uid=" + link[3])
	m = formCSRFRe.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `value="Re: Lunch &lt;b&gt;on Sunday&lt;/b&gt;?"`) {
		t.Fatalf("reply form:\n%s", page)
	}
	res, page = w.post("/mail/send", url.Values{"csrf": {m[1]}, "from": {b.Admin}, "to": {"Kid <kid@example.test>"},
		"subject": {"Re: Lunch on Sunday?"}, "body": {"Yes, at noon.\n> Shall we?"}, "reply_box": {link[2]}, "reply_uid": {link[3]}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %s\n%s", res.Status, page)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", imapSubjects, fmt.Sprint(b.IMAPS), "kid@example.test", "kid-secret-42").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Subject: Re: Lunch on Sunday?") || !strings.Contains(string(out), "From: <me@example.test>") {
		t.Fatalf("kid's INBOX over IMAP: %v\n%s", err, out)
	}
	if sent := b.Mailbox(b.Admin, "Sent"); len(sent) != 1 {
		t.Errorf("%d messages in Sent", len(sent))
	}
}
