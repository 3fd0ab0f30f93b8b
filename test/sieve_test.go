package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// newSieveBox is a box whose ManageSieve server listens on a free port
// and whose outbound mail for friends.example goes to the given Postfix.
func newSieveBox(t *testing.T, settings map[string]string) (*Box, int) {
	t.Helper()
	port := testutil.FreePort(t)
	if settings == nil {
		settings = map[string]string{}
	}
	settings["managesieve_port"] = strconv.Itoa(port)
	b := newBoxWith(t, settings)
	b.waitPort(port)
	return b, port
}

// TestForwardAndKeepReachesTheOldProviderWithAnSRSSender is the seed
// document's migration trick: the admin gives a user one rule that keeps
// every message in the new box and forwards it to the old account. The
// copy reaches the old provider (a real Postfix) from an SRS address of
// the box's domain, so SPF passes there; a bounce to that address comes
// back to the original sender; disabled, the rule forwards nothing.
func TestForwardAndKeepReachesTheOldProviderWithAnSRSSender(t *testing.T) {
	p := startPostfix(t, "me")
	b, _ := newSieveBox(t, map[string]string{"transports": "friends.example=" + p.Addr, "retry_schedule": "1s"})
	out, _, code := b.Cmd("", "forward", "add", b.Admin, "--to", "me@friends.example", "--keep")
	if code != 0 || !strings.Contains(out, `rule "Forward to OldMailProvider and retain" forwards to me@friends.example, keeping a copy`) {
		t.Fatalf("forward add: %d %s", code, out)
	}
	smtp := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	out, code = b.Swaks("--server", smtp, "--from", "grandma@elsewhere.example", "--to", b.Admin, "--h-Subject", "Birthday", "--body", "Happy birthday!")
	if code != 0 {
		t.Fatalf("swaks: %s", out)
	}
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 1 {
		t.Fatalf("INBOX has %d messages", n)
	}
	got, srs := forwardedCopy(t, p, 20*time.Second)
	for _, want := range []string{"Subject: Birthday", "Happy birthday!", "X-Boxmail-Loop: me@example.test", "DKIM-Signature: ", "d=example.test"} {
		if !strings.Contains(got, want) {
			t.Errorf("the copy lacks %q:\n%s", want, got)
		}
	}
	out, _, _ = b.Cmd("", "forward", "list")
	if !strings.Contains(out, "me@example.test\tForward to OldMailProvider and retain\tme@friends.example\tenabled") {
		t.Errorf("forward list: %q", out)
	}

	// The old provider bounces the copy later (say, the old mailbox is
	// full): the bounce to the SRS address is accepted and goes on to
	// grandma; a forged SRS address is refused.
	out, code = b.Swaks("--server", smtp, "--from", "<>", "--to", srs, "--h-Subject", "Undelivered Mail Returned to Sender", "--body", "mailbox full")
	if code != 0 {
		t.Fatalf("the bounce was refused: %s", out)
	}
	waitBounceQueued(t, b, "grandma@elsewhere.example", 10*time.Second)
	forged := strings.Replace(srs, "grandma", "mallory", 1)
	if out, code = b.Swaks("--server", smtp, "--from", "<>", "--to", forged, "--quit-after", "RCPT"); code == 0 || !strings.Contains(out, "550") {
		t.Errorf("a forged SRS address was accepted: %s", out)
	}

	// The user starts using the new box: the rule is disabled.
	if out := mustRun(t, "", "forward", "disable", b.Admin, "--dir", b.Dir); !strings.HasSuffix(strings.TrimSpace(out), " disabled") {
		t.Errorf("forward disable says %q, want '... disabled'", out)
	}
	b.Swaks("--server", smtp, "--from", "grandma@elsewhere.example", "--to", b.Admin, "--h-Subject", "Second", "--body", "x")
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 2 {
		t.Fatalf("INBOX has %d messages", n)
	}
	for _, it := range b.Queue() {
		if len(it.Recipients) > 0 && strings.HasSuffix(it.Recipients[0], "@friends.example") {
			t.Fatalf("a disabled rule still forwards: %+v", it)
		}
	}
	if out := mustRun(t, "", "forward", "remove", b.Admin, "--dir", b.Dir); !strings.HasSuffix(strings.TrimSpace(out), " removed") {
		t.Errorf("forward remove says %q, want '... removed'", out)
	}
	if out, _, _ := b.Cmd("", "forward", "list", b.Admin); out != "" {
		t.Errorf("after remove: %q", out)
	}
}

// forwardedCopy waits for grandma's message forwarded to me at the old
// provider p and returns it and its SRS Return-Path.
func forwardedCopy(t *testing.T, p *Postfix, limit time.Duration) (msg, srs string) {
	t.Helper()
	testutil.WaitFor(t, "the old provider to receive the copy", limit, func() bool { return len(p.Mail("me")) == 1 })
	msg = p.Mail("me")[0]
	rp := regexp.MustCompile(`(?m)^Return-Path: <(SRS0=[^=]{4}=[A-Z2-7]{2}=elsewhere\.example=grandma@example\.test)>`).FindStringSubmatch(msg)
	if rp == nil {
		t.Fatalf("the copy at the old provider has no SRS Return-Path:\n%s", msg)
	}
	return msg, rp[1]
}

// waitBounceQueued waits for a bounce (null sender) to rcpt in the box's
// queue: one that came back to an SRS address, on its way on.
func waitBounceQueued(t *testing.T, b *Box, rcpt string, limit time.Duration) {
	t.Helper()
	testutil.WaitFor(t, "the bounce queued for "+rcpt, limit, func() bool {
		for _, it := range b.Queue() {
			if it.Sender == "" && len(it.Recipients) == 1 && it.Recipients[0] == rcpt {
				return true
			}
		}
		return false
	})
}

// TestVacationAnswersEachSenderOnceAndNeverAList: a family member away
// answers a friend once, not twice, and never a mailing list.
func TestVacationAnswersEachSenderOnceAndNeverAList(t *testing.T) {
	p := startPostfix(t, "anna")
	b, _ := newSieveBox(t, map[string]string{"transports": "friends.example=" + p.Addr, "retry_schedule": "1s"})
	body := filepath.Join(t.TempDir(), "away.txt")
	os.WriteFile(body, []byte("I am on holiday until Monday.\n.dotted line\n"), 0o644)
	mustRun(t, "", "vacation", b.Admin, "--subject", "On holiday", "--body-file", body, "--from", "2000-01-01", "--until", "2999-12-31", "--dir", b.Dir)
	smtp := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	for i := range 2 {
		if out, code := b.Swaks("--server", smtp, "--from", "anna@friends.example", "--to", b.Admin, "--h-Subject", fmt.Sprintf("lunch %d", i)); code != 0 {
			t.Fatal(out)
		}
	}
	b.Swaks("--server", smtp, "--from", "anna@friends.example", "--to", b.Admin, "--h-Subject", "[club] news", "--add-header", "List-Id: <club.friends.example>")
	testutil.WaitFor(t, "the vacation reply", 20*time.Second, func() bool { return len(p.Mail("anna")) >= 1 })
	time.Sleep(1500 * time.Millisecond) // a second reply would have arrived by now
	testutil.WaitFor(t, "the queue to drain", 10*time.Second, func() bool { return len(b.Queue()) == 0 })
	replies := p.Mail("anna")
	if len(replies) != 1 {
		t.Fatalf("anna got %d replies", len(replies))
	}
	for _, want := range []string{"Return-Path: <>", "Auto-Submitted: auto-replied", "Subject: On holiday", "I am on holiday until Monday.", "\n.dotted line"} {
		if !strings.Contains(replies[0], want) {
			t.Errorf("reply lacks %q:\n%s", want, replies[0])
		}
	}
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 3 {
		t.Errorf("INBOX has %d messages", n)
	}
}

// The admin sets grandma's vacation reply, then checks what is set with
// 'boxmail vacation EMAIL'; a reply whose absence is already over is
// refused, since it would never go out.
func TestTheAdminSeesAVacationReplyAndCannotSetOneInThePast(t *testing.T) {
	b := newBox(t)
	if out := mustRun(t, "", "vacation", b.Admin, "--dir", b.Dir); !strings.Contains(out, "no vacation reply") {
		t.Errorf("before any: %q", out)
	}
	body := writeTemp(t, "Back after the holidays.\n")
	mustRun(t, "", "vacation", b.Admin, "--subject", "Away", "--body-file", body, "--until", "2999-12-31", "--days", "3", "--dir", b.Dir)
	out := mustRun(t, "", "vacation", b.Admin, "--dir", b.Dir)
	for _, want := range []string{"vacation reply on", "until:   2999-12-31", "subject: Away", "once per sender per 3 days", "    Back after the holidays."} {
		if !strings.Contains(out, want) {
			t.Errorf("the vacation shown lacks %q:\n%s", want, out)
		}
	}
	_, errs, code := b.Cmd("", "vacation", b.Admin, "--subject", "Away", "--body-file", body, "--until", "2001-01-01")
	if code == 0 || !strings.Contains(errs, "2001-01-01, which is past") {
		t.Errorf("a vacation ending in 2001 was not refused (exit %d): %s", code, errs)
	}
	if out := mustRun(t, "", "vacation", b.Admin, "--dir", b.Dir); !strings.Contains(out, "until:   2999-12-31") {
		t.Errorf("the refused change replaced the reply:\n%s", out)
	}
}

// TestSieveConnectUploadsAScriptAndTheNextDeliveryFollowsIt: the user's
// own ManageSieve client (sieve-connect, over STARTTLS) uploads and
// activates a filter; the next message is filed by it. A script with a
// mistake is refused with its line and column.
func TestSieveConnectUploadsAScriptAndTheNextDeliveryFollowsIt(t *testing.T) {
	sc := needTool(t, "sieve-connect")
	b, port := newSieveBox(t, nil)
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(sc, append([]string{"--server", "127.0.0.1", "--port", strconv.Itoa(port), "--user", b.Admin, "--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN"}, args...)...)
		r, w, _ := os.Pipe()
		w.WriteString(b.Password + "\n")
		w.Close()
		cmd.ExtraFiles = []*os.File{r}
		out, err := cmd.CombinedOutput()
		r.Close()
		return string(out), err
	}
	bad := filepath.Join(dir, "bad.sieve")
	os.WriteFile(bad, []byte("require \"fileinto\";\nif header :contains \"subject\" \"school\" {\n  fileinto \"School\"\n}\n"), 0o644)
	if out, err := run("--upload", "--localsieve", bad, "--remotesieve", "kids"); err == nil || !strings.Contains(out, "line 4:1") {
		t.Fatalf("a broken script was accepted or the error lacks its position: %v %s", err, out)
	}
	good := filepath.Join(dir, "good.sieve")
	os.WriteFile(good, []byte("require \"fileinto\";\nif header :contains \"subject\" \"school\" {\n  fileinto \"School\";\n}\n"), 0o644)
	if out, err := run("--upload", "--localsieve", good, "--remotesieve", "kids"); err != nil {
		t.Fatalf("upload: %v %s", err, out)
	}
	if out, err := run("--activate", "--remotesieve", "kids"); err != nil {
		t.Fatalf("activate: %v %s", err, out)
	}
	if out, err := run("--list"); err != nil || !strings.Contains(out, "kids") {
		t.Fatalf("list: %v %s", err, out)
	}
	smtp := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	b.Swaks("--server", smtp, "--from", "teacher@school.example", "--to", b.Admin, "--h-Subject", "school trip")
	if n := len(b.Mailbox(b.Admin, "School")); n != 1 {
		t.Fatalf("School has %d messages", n)
	}
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 0 {
		t.Fatalf("INBOX has %d messages", n)
	}
	// The admin's forward rule lands in the same, user-edited script.
	mustRun(t, "", "forward", "add", b.Admin, "old@oldprovider.example", "--dir", b.Dir)
	out, err := run("--download", "--remotesieve", "kids", "--localsieve", filepath.Join(dir, "back.sieve"))
	back, _ := os.ReadFile(filepath.Join(dir, "back.sieve"))
	if err != nil || !strings.Contains(string(back), "# rule:[Forward to OldMailProvider and retain]") || !strings.Contains(string(back), `fileinto "School";`) {
		t.Fatalf("download: %v %s\n%s", err, out, back)
	}
}
