package test

import (
	"fmt"
	"net/http"
	"net/smtp"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// sendPlainSMTP sends one message over plain SMTP (no STARTTLS), as a
// remote server on the trusted loopback network would.
func sendPlainSMTP(t *testing.T, b *Box, from, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", b.SMTP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.elsewhere.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// Issue 19's settings: from the webmail's settings page a user turns on
// a vacation reply (with dates and an interval) and a filter that
// forwards invoices to another account keeping a copy; mail arriving
// over SMTP is answered once (the reply queued for the remote sender),
// forwarded to the second account, and kept in the INBOX. The password
// form of the page changes the password through the account page.
func TestWebmailSettingsVacationAndForwardActOnSMTPMail(t *testing.T) {
	b := newBox(t)
	addUser(t, b, "kid@example.test", "kid-secret-42")
	w := newWebClient(t, b, "127.0.0.1")
	w.mustLogin(b.Admin, b.Password)
	res, page := w.get("/mail/settings")
	m := formCSRFRe.FindStringSubmatch(page)
	if res.StatusCode != 200 || m == nil || !strings.Contains(page, `id="vacation-form"`) {
		t.Fatalf("settings page: %s\n%s", res.Status, page)
	}
	csrf := m[1]
	today := time.Now()
	res, page = w.post("/mail/settings/vacation", url.Values{"csrf": {csrf}, "op": {"set"}, "subject": {`Away "until" Monday`},
		"body": {"I am away.\r\n.\r\nBack on Monday."}, "days": {"5"},
		"from": {today.AddDate(0, 0, -1).Format("2006-01-02")}, "until": {today.AddDate(0, 0, 7).Format("2006-01-02")}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("vacation: %s\n%s", res.Status, page)
	}
	res, page = w.post("/mail/settings/filter", url.Values{"csrf": {csrf}, "op": {"add"}, "name": {"Invoices to kid"},
		"field": {"subject"}, "contains": {"invoice"}, "action": {"forward"}, "arg": {"kid@example.test"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("filter: %s\n%s", res.Status, page)
	}
	_, page = w.get("/mail/settings")
	if !strings.Contains(page, "Invoices to kid") || !strings.Contains(page, "is <b>on</b>") || !strings.Contains(page, `value="5"`) {
		t.Errorf("settings after the changes:\n%s", page)
	}

	sendPlainSMTP(t, b, "friend@elsewhere.example", b.Admin,
		"From: Friend <friend@elsewhere.example>\nTo: "+b.Admin+"\nSubject: Your invoice 42\nMessage-ID: <inv42@elsewhere.example>\n\nPlease find it attached.\n")
	testutil.WaitFor(t, "the forward to kid", 20*time.Second, func() bool { return len(b.Mailbox("kid@example.test", "INBOX")) == 1 })
	testutil.WaitFor(t, "the vacation reply queued", 20*time.Second, func() bool {
		for _, it := range b.Queue() {
			if it.Sender == "" && len(it.Recipients) == 1 && it.Recipients[0] == "friend@elsewhere.example" {
				return true
			}
		}
		return false
	})
	if in := b.Mailbox(b.Admin, "INBOX"); len(in) != 1 || !strings.Contains(string(in[0]), "Subject: Your invoice 42") {
		t.Errorf("the copy in the INBOX: %d messages", len(in))
	}
	if fw := b.Mailbox("kid@example.test", "INBOX"); !strings.Contains(string(fw[0]), "Subject: Your invoice 42") {
		t.Errorf("kid got:\n%s", fw[0])
	}
	// A second message: kept, not forwarded (no invoice), not answered
	// again (one reply per 5 days).
	sendPlainSMTP(t, b, "friend@elsewhere.example", b.Admin,
		"From: friend@elsewhere.example\nTo: "+b.Admin+"\nSubject: lunch?\n\nx\n")
	testutil.WaitFor(t, "the second message", 20*time.Second, func() bool { return len(b.Mailbox(b.Admin, "INBOX")) == 2 })
	time.Sleep(time.Second)
	replies := 0
	for _, it := range b.Queue() {
		if it.Sender == "" && len(it.Recipients) == 1 && it.Recipients[0] == "friend@elsewhere.example" {
			replies++
		}
	}
	if replies != 1 || len(b.Mailbox("kid@example.test", "INBOX")) != 1 {
		t.Errorf("%d replies queued, kid has %d messages", replies, len(b.Mailbox("kid@example.test", "INBOX")))
	}

	// The message view shows the trust panel.
	_, page = w.get("/mail/")
	link := regexp.MustCompile(`<a href="(/mail/msg/\d+/\d+)">Your invoice 42</a>`).FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("inbox:\n%s", page)
	}
	if _, page = w.get(link[1]); !strings.Contains(page, `id="trust"`) || !strings.Contains(page, "trusted network") {
		t.Errorf("no trust panel:\n%s", page)
	}

	// The password form posts to the account page with the same fields.
	res, page = w.post("/account", url.Values{"csrf": {csrf}, "op": {"passwd"}, "current": {b.Password},
		"password": {"a-new-long-secret-7"}, "password2": {"a-new-long-secret-7"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("password: %s\n%s", res.Status, page)
	}
	w2 := newWebClient(t, b, "127.0.0.1")
	if res, _ := w2.login(b.Admin, "a-new-long-secret-7", "/mail/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("login with the new password: %s", res.Status)
	}
}
