package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func expectIn(t *testing.T, transcript, want string) {
	t.Helper()
	if !strings.Contains(transcript, want) {
		t.Fatalf("transcript lacks %q:\n%s", want, transcript)
	}
}

func TestAFriendsMessageArrivesInTheInbox(t *testing.T) {
	b := newBox(t)
	out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--from", "friend@elsewhere.example",
		"--to", "me@example.test", "--h-Subject", "Dinner on Sunday?", "--body", "Bring the kids.")
	if code != 0 {
		t.Fatalf("swaks failed:\n%s", out)
	}
	msgs := b.Mailbox("me@example.test", "INBOX")
	if len(msgs) != 1 {
		t.Fatalf("inbox has %d messages", len(msgs))
	}
	m := string(withoutTrace(msgs[0]))
	// The box's Authentication-Results (the client is in trusted_networks,
	// so nothing was checked), then its Received header.
	if !strings.HasPrefix(m, "Authentication-Results: mail.example.test; (trusted network) none\r\nReceived: from ") ||
		!strings.Contains(m, "by mail.example.test (boxmail) with ESMTP") {
		t.Errorf("no Authentication-Results and Received header first:\n%s", m)
	}
	if !strings.Contains(m, "Subject: Dinner on Sunday?") || !strings.Contains(m, "Bring the kids.") {
		t.Errorf("message not stored whole:\n%s", m)
	}
}

func TestTheMXRefusesStrangersAndRelaying(t *testing.T) {
	b := newBox(t)
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	out, _ := b.Swaks("--server", mx, "--from", "spammer@elsewhere.example", "--to", "nobody@example.test")
	expectIn(t, out, "550 5.1.1")
	out, _ = b.Swaks("--server", mx, "--from", "spammer@elsewhere.example", "--to", "victim@gmail.example")
	expectIn(t, out, "554 5.7.1")
	// AUTH is not offered on the MX port, even over TLS.
	out, _ = b.Swaks("--server", mx, "-tls", "--quit-after", "EHLO")
	if strings.Contains(out, "AUTH") {
		t.Errorf("MX port offers AUTH:\n%s", out)
	}
	if len(b.Queue()) != 0 {
		t.Errorf("something was queued for relay")
	}
}

func TestAFamilyMemberSendsThroughSubmission(t *testing.T) {
	b := newBox(t)
	sub := fmt.Sprintf("127.0.0.1:%d", b.Submission)
	// Without TLS, AUTH is not even offered.
	out, _ := b.Swaks("--server", sub, "--quit-after", "EHLO")
	if strings.Contains(out, "AUTH") {
		t.Errorf("AUTH offered before STARTTLS:\n%s", out)
	}
	// Without AUTH nothing may be sent.
	out, _ = b.Swaks("--server", sub, "-tls", "--from", "me@example.test", "--to", "friend@elsewhere.example")
	expectIn(t, out, "530 5.7.0")
	// Wrong password.
	out, _ = b.Swaks("--server", sub, "-tls", "--auth", "PLAIN", "--auth-user", "me@example.test", "--auth-password", "wrong", "--from", "me@example.test", "--to", "friend@elsewhere.example")
	expectIn(t, out, "535 5.7.8")

	out, code := b.Swaks("--server", sub, "-tls", "--auth", "PLAIN", "--auth-user", "me@example.test", "--auth-password", b.Password,
		"--from", "me@example.test", "--to", "friend@elsewhere.example", "--h-Subject", "hello from the box")
	if code != 0 {
		t.Fatalf("submission failed:\n%s", out)
	}
	expectIn(t, out, "queued")
	q := b.Queue()
	if len(q) != 1 || q[0].Sender != "me@example.test" || q[0].Recipients[0] != "friend@elsewhere.example" {
		t.Fatalf("queue = %+v", q)
	}
	if got, _, _ := b.Cmd("", "queue", "list"); !strings.Contains(got, "friend@elsewhere.example") {
		t.Errorf("queue list does not show the message:\n%s", got)
	}
	// Implicit TLS with AUTH LOGIN; mail between local users stays inside.
	out, code = b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submissions), "--tlsc", "--auth", "LOGIN", "--auth-user", "me@example.test",
		"--auth-password", b.Password, "--from", "me@example.test", "--to", "postmaster@example.test")
	if code != 0 {
		t.Fatalf("submissions failed:\n%s", out)
	}
	if n := len(b.Mailbox("me@example.test", "INBOX")); n != 1 {
		t.Errorf("local message not delivered inside the box: inbox has %d", n)
	}
	if len(b.Queue()) != 1 {
		t.Errorf("local message was queued for outside delivery")
	}
}

// The seed document's complaint: anyone could send as anyone@example.net.
func TestNobodyMaySendAsSomeoneElse(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "user", "add", "kid@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "kid-password-77"))
	mustRun(t, "", "alias", "add", "family@example.test", "me@example.test,kid@example.test", "--permit", "me@example.test", "--dir", b.Dir)
	sub := fmt.Sprintf("127.0.0.1:%d", b.Submission)
	auth := []string{"--server", sub, "-tls", "--auth-user", "kid@example.test", "--auth-password", "kid-password-77"}

	out, _ := b.Swaks(append(auth, "--from", "me@example.test", "--to", "friend@elsewhere.example")...)
	expectIn(t, out, "550 5.7.1")
	// The envelope is fine but the From: header lies.
	out, _ = b.Swaks(append(auth, "--from", "kid@example.test", "--h-From", "Mum <me@example.test>", "--to", "friend@elsewhere.example")...)
	expectIn(t, out, "550 5.7.1")
	// The alias permits only me@.
	out, _ = b.Swaks(append(auth, "--from", "family@example.test", "--to", "friend@elsewhere.example")...)
	expectIn(t, out, "550 5.7.1")
	out, code := b.Swaks("--server", sub, "-tls", "--auth-user", "me@example.test", "--auth-password", b.Password,
		"--from", "family@example.test", "--h-From", "The Family <family@example.test>", "--to", "friend@elsewhere.example")
	if code != 0 {
		t.Fatalf("permitted alias refused:\n%s", out)
	}
	// A sub-address of one's own is one's own.
	out, code = b.Swaks(append(auth, "--from", "kid+lists@example.test", "--to", "friend@elsewhere.example")...)
	if code != 0 {
		t.Fatalf("own sub-address refused:\n%s", out)
	}
	if n := len(b.Queue()); n != 2 {
		t.Errorf("queue has %d entries, want 2", n)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAliasesSubAddressesCatchAllAndRoleAddresses(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "user", "add", "kid@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "kid-password-77"))
	// family -> me, kid, parents; parents -> me. me must get it once.
	mustRun(t, "", "alias", "add", "parents@example.test", "me@example.test", "--dir", b.Dir)
	mustRun(t, "", "alias", "add", "family@example.test", "me@example.test,kid@example.test,parents@example.test", "--dir", b.Dir)
	// A loop must not hang or duplicate.
	mustRun(t, "", "alias", "add", "loop1@example.test", "kid@example.test", "--dir", b.Dir)
	mustRun(t, "", "alias", "add", "loop2@example.test", "loop1@example.test", "--dir", b.Dir)
	mustRun(t, "", "alias", "remove", "loop1@example.test", "--dir", b.Dir)
	mustRun(t, "", "alias", "add", "loop1@example.test", "loop2@example.test,kid@example.test", "--dir", b.Dir)

	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	send := func(to ...string) {
		t.Helper()
		out, code := b.Swaks("--server", mx, "--from", "friend@elsewhere.example", "--to", strings.Join(to, ","))
		if code != 0 {
			t.Fatalf("sending to %v:\n%s", to, out)
		}
	}
	send("family@example.test", "me@example.test")
	if me, kid := len(b.Mailbox("me@example.test", "INBOX")), len(b.Mailbox("kid@example.test", "INBOX")); me != 1 || kid != 1 {
		t.Errorf("after family+me: me has %d, kid has %d; want 1 and 1", me, kid)
	}
	send("loop2@example.test")
	if kid := len(b.Mailbox("kid@example.test", "INBOX")); kid != 2 {
		t.Errorf("alias loop: kid has %d, want 2", kid)
	}
	send("kid+school@example.test")
	msgs := b.Mailbox("kid@example.test", "INBOX")
	if len(msgs) != 3 || !strings.Contains(string(msgs[2]), "for <kid+school@example.test>") {
		t.Errorf("sub-address not delivered with its tag in the headers")
	}
	// Role addresses go to the first admin.
	send("abuse@example.test", "Hostmaster@Example.Test")
	if me := len(b.Mailbox("me@example.test", "INBOX")); me != 2 {
		t.Errorf("role addresses: me has %d, want 2", me)
	}
	// An explicit alias overrides a role address.
	mustRun(t, "", "alias", "add", "abuse@example.test", "kid@example.test", "--dir", b.Dir)
	send("abuse@example.test")
	if kid := len(b.Mailbox("kid@example.test", "INBOX")); kid != 4 {
		t.Errorf("abuse alias: kid has %d, want 4", kid)
	}
	// Unknown users bounce at RCPT until a catch-all exists.
	out, _ := b.Swaks("--server", mx, "--to", "whoever@example.test")
	expectIn(t, out, "550 5.1.1")
	mustRun(t, "", "alias", "add", "@example.test", "me@example.test", "--dir", b.Dir)
	send("whoever@example.test")
	if me := len(b.Mailbox("me@example.test", "INBOX")); me != 3 {
		t.Errorf("catch-all: me has %d, want 3", me)
	}
	// An alias to an outside address is queued for it.
	mustRun(t, "", "alias", "add", "grandma@example.test", "grandma@oldprovider.example", "--dir", b.Dir)
	send("grandma@example.test")
	if q := b.Queue(); len(q) != 1 || q[0].Recipients[0] != "grandma@oldprovider.example" {
		t.Errorf("queue = %+v", q)
	}
}

func TestLimitsAreEnforcedWithClearReplies(t *testing.T) {
	b := newBox(t)
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	// Too many recipients: the 101st is refused, the first 100 accepted.
	var rcpts []string
	for range 101 {
		rcpts = append(rcpts, "me@example.test")
	}
	out, _ := b.Swaks("--server", mx, "--to", strings.Join(rcpts, ","), "--quit-after", "RCPT")
	expectIn(t, out, "452 4.5.3")
	// SIZE declared too large.
	c := b.Dial(b.SMTP)
	c.Expect("^220 ")
	c.Send("EHLO client.example")
	c.Expect("^250 ")
	c.Send("MAIL FROM:<a@elsewhere.example> SIZE=99999999")
	c.Expect("^552 5.3.4 ")
	c.Send("QUIT")
	c.Expect("^221 ")
}

func TestPythonSmtplibSendsWithStartTLSAndAuth(t *testing.T) {
	b := newBox(t)
	out, err := b.Python("smtp_send.py", "127.0.0.1", fmt.Sprint(b.Submission), "me@example.test", b.Password, "me@example.test")
	if err != nil {
		t.Fatalf("smtp_send.py: %v\n%s", err, out)
	}
	msgs := b.Mailbox("me@example.test", "INBOX")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "Subject: sent by smtplib") || !strings.Contains(string(msgs[0]), "with ESMTPSA") {
		t.Fatalf("inbox = %q", msgs)
	}
	if !strings.Contains(string(msgs[0]), "Grüße") {
		t.Errorf("8-bit UTF-8 body not kept byte for byte")
	}
}
