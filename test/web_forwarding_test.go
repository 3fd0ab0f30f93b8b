package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"boxmail/internal/testutil"
)

// TestForwardingOnTheAccountPage plays the seed document's Roundcube flow
// in a real browser: the user adds "Forward to OldMailProvider and
// retain" on /account; a message from outside lands in INBOX and is
// queued for the old address; the user turns the rule off (the next
// message is only kept), then deletes it.
func TestForwardingOnTheAccountPage(t *testing.T) {
	old := testutil.FreePort(t) // nothing listens: the copy waits in the queue
	b := newBoxWith(t, map[string]string{"transports": "oldprovider.example=127.0.0.1:" + strconv.Itoa(old)})
	br := newBrowser(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	shots := t.TempDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	flash := func(want string) {
		t.Helper()
		if got := br.WaitText(".flash", want); !strings.Contains(got, want) {
			t.Fatalf("message %q, want %q (page %s)", got, want, br.URL())
		}
	}
	queuedForOld := func() int {
		n := 0
		for _, it := range b.Queue() {
			for _, r := range it.Recipients {
				if r == "me@oldprovider.example" {
					n++
				}
			}
		}
		return n
	}
	send := func(subject string) {
		t.Helper()
		if out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--from", "grandma@elsewhere.example", "--to", b.Admin,
			"--h-Subject", subject, "--body", "Hello from grandma"); code != 0 {
			t.Fatalf("swaks: %s", out)
		}
	}

	br.Go(base + "/account")
	br.Type("#email", b.Admin)
	br.Type("#password", b.Password)
	br.Click("#login-button")
	br.WaitURL("/admin/users") // an admin lands on the panel
	br.Go(base + "/account")
	if !strings.HasSuffix(br.URL(), "/account") {
		t.Fatalf("after login: %s", br.URL())
	}
	if tx := br.Text("#forwarding"); !strings.Contains(tx, "nothing is forwarded") {
		t.Errorf("forwarding section before any rule:\n%s", tx)
	}
	br.Type("#forward-to", "me@oldprovider.example")
	br.Click("#forward-add")
	flash("forwarded to me@oldprovider.example, and a copy stays here")
	if tx := br.Text("#forwards"); !strings.Contains(tx, "Forward to OldMailProvider and retain") || !strings.Contains(tx, "copy kept here") || !strings.Contains(strings.ToLower(tx), " on ") {
		t.Errorf("rule list:\n%s", tx)
	}
	data := br.Screenshot(filepath.Join(shots, "forwarding.png"))
	checkNotBlank(t, "forwarding", data, br.Rect("#forwarding"))
	// The same rule is what the command line (and any Sieve client) sees.
	if out, _, _ := b.Cmd("", "forward", "list", b.Admin); !strings.Contains(out, "Forward to OldMailProvider and retain\tme@oldprovider.example\tenabled") {
		t.Errorf("forward list: %q", out)
	}

	send("Before the switch")
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 1 {
		t.Fatalf("INBOX has %d messages, want 1", n)
	}
	if n := queuedForOld(); n != 1 {
		t.Fatalf("%d copies queued for the old address, want 1", n)
	}

	br.Click(".forward-disable")
	flash("The rule is off")
	if tx := br.Text("#forwards"); !strings.Contains(strings.ToLower(tx), " off ") || !strings.Contains(br.Text("#forwards button"), "Turn on") {
		t.Errorf("rule list after turning it off:\n%s", tx)
	}
	send("After the switch")
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 2 {
		t.Fatalf("INBOX has %d messages, want 2", n)
	}
	if n := queuedForOld(); n != 1 {
		t.Errorf("%d copies queued for the old address after the rule was turned off, want still 1", n)
	}

	br.Click(".forward-remove")
	flash("The rule is deleted")
	if tx := br.Text("#forwarding"); !strings.Contains(tx, "nothing is forwarded") {
		t.Errorf("forwarding section after delete:\n%s", tx)
	}
	if out, _, _ := b.Cmd("", "forward", "list", b.Admin); out != "" {
		t.Errorf("forward list after delete: %q", out)
	}
}
