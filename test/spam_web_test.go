package test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

var releaseFormRe = regexp.MustCompile(`name="mailbox" value="(\d+)"><input type="hidden" name="uid" value="(\d+)">`)

// The account page and the admin's Spam tab show what the filter caught
// this week and release a message from Junk (to INBOX, trained as ham);
// a message of another account is refused, and so is a form without the
// CSRF token.
func TestSpamCaughtAndReleasedOnTheWeb(t *testing.T) {
	needTool(t, "swaks")
	b := newBox(t)
	addUser(t, b, "cousin@example.test", "cousin-pass-2024")
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	for _, to := range []string{b.Admin, "cousin@example.test"} {
		if out, code := b.Swaks("--server", mx, "--from", "lottery@spam.example", "--to", to,
			"--header", "From: Lottery <lottery@spam.example>", "--header", "Subject: You won "+to, "--body", "Hello "+gtube); code != 0 {
			t.Fatalf("swaks: %d\n%s", code, out)
		}
	}
	me := newWebClient(t, b, "127.0.0.1")
	mcsrf := me.mustLogin(b.Admin, b.Password)
	cousin := newWebClient(t, b, "127.0.0.1")
	ccsrf := cousin.mustLogin("cousin@example.test", "cousin-pass-2024")

	release := func(page string) url.Values {
		t.Helper()
		m := releaseFormRe.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no release form on the page:\n%s", page)
		}
		return url.Values{"mailbox": {m[1]}, "uid": {m[2]}}
	}
	_, mine := me.get("/account")
	if !strings.Contains(mine, `id="junk-count">The filter put <strong>1</strong> message into your Junk folder`) ||
		!strings.Contains(mine, "You won "+b.Admin) || !strings.Contains(mine, "lottery@spam.example") {
		t.Fatalf("the account page does not show the week's catch:\n%s", mine)
	}
	myMsg := release(mine)
	_, theirs := cousin.get("/account")
	theirMsg := release(theirs)

	// Hostile: the cousin names my message; the admin's own page names the
	// cousin's; a form without the CSRF token.
	v := url.Values{"csrf": {ccsrf}, "mailbox": myMsg["mailbox"], "uid": myMsg["uid"]}
	if res, _ := cousin.post("/account/junk", v); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("release of another account's message: %s", res.Status)
	}
	if _, page := cousin.get("/account"); !strings.Contains(page, "No such message in Junk") {
		t.Errorf("the refusal is not shown:\n%s", page)
	}
	v = url.Values{"csrf": {mcsrf}, "mailbox": theirMsg["mailbox"], "uid": theirMsg["uid"]}
	me.post("/account/junk", v)
	if res, _ := cousin.post("/account/junk", url.Values{"mailbox": theirMsg["mailbox"], "uid": theirMsg["uid"]}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a release without the CSRF token: %s, want 403", res.Status)
	}
	v = url.Values{"csrf": {mcsrf}, "op": {"release"}, "email": {b.Admin}, "mailbox": theirMsg["mailbox"], "uid": theirMsg["uid"]}
	me.post("/admin/spam", v)
	if n := len(b.Mailbox("cousin@example.test", "Junk")); n != 1 {
		t.Fatalf("the cousin's Junk holds %d messages after the refused releases, want 1", n)
	}
	if n := len(findMail(b, "Junk", "You won")); n != 1 {
		t.Fatalf("my Junk holds %d messages after the refused release, want 1", n)
	}

	// My own release, on /account: the message is in INBOX and trained ham.
	v = url.Values{"csrf": {mcsrf}, "mailbox": myMsg["mailbox"], "uid": myMsg["uid"]}
	if res, _ := me.post("/account/junk", v); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("release: %s", res.Status)
	}
	if _, page := me.get("/account"); !strings.Contains(page, "is in your INBOX again") {
		t.Errorf("the release is not confirmed:\n%s", page)
	}
	if got := findMail(b, "INBOX", "You won "+b.Admin); len(got) != 1 {
		t.Fatalf("the released message is not in INBOX")
	}
	testutil.WaitFor(t, "the released message trained as ham", 20*time.Second, func() bool {
		_, h, _, _ := spamStatsLine(t, b, b.Admin)
		return h == 1
	})

	// The admin's Spam tab lists the cousin's catch and releases it.
	_, tab := me.get("/admin/spam")
	if !strings.Contains(tab, "cousin@example.test") || !strings.Contains(tab, "You won cousin@example.test") {
		t.Fatalf("the Spam tab does not list the cousin's catch:\n%s", tab)
	}
	v = url.Values{"csrf": {mcsrf}, "op": {"release"}, "email": {"cousin@example.test"}, "mailbox": theirMsg["mailbox"], "uid": theirMsg["uid"]}
	if res, _ := me.post("/admin/spam", v); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin release: %s", res.Status)
	}
	if n := len(b.Mailbox("cousin@example.test", "INBOX")); n != 1 {
		t.Errorf("the cousin's INBOX holds %d messages after the admin's release, want 1", n)
	}
}
