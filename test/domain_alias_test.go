package test

// Domain aliases end to end: @old.example -> @new.example made with
// 'boxmail alias add' on a running box, mail from outside with swaks, the mailbox read from the store.

import (
	"fmt"
	"strings"
	"testing"
)

func TestMailToTheOldDomainLandsAtTheSameNameOnTheNewOne(t *testing.T) {
	b := newBox(t)
	for _, d := range []string{"old.example", "new.example"} {
		mustRun(t, "", "domain", "add", d, "--dir", b.Dir)
	}
	pass := writeTemp(t, "anna-good-pass-1")
	for _, u := range []string{"anna@new.example", "stay@old.example"} {
		mustRun(t, "", "user", "add", u, "--dir", b.Dir, "--password-file", pass)
	}
	if out := mustRun(t, "", "alias", "add", "@old.example", "@new.example", "--dir", b.Dir); !strings.Contains(out, "added alias @old.example -> @new.example") {
		t.Errorf("alias add of a domain alias: %q", out)
	}

	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	if out, code := b.Swaks("--server", mx, "--from", "friend@elsewhere.example", "--to", "anna@old.example",
		"--header", "Subject: to the old address"); code != 0 {
		t.Fatalf("anna@old.example refused:\n%s", out)
	}
	msgs := b.Mailbox("anna@new.example", "INBOX")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "Subject: to the old address") {
		t.Fatalf("anna@new.example's INBOX has %d messages, want the one sent to anna@old.example", len(msgs))
	}
	// An unknown name is refused at RCPT like any unknown address.
	out, _ := b.Swaks("--server", mx, "--from", "friend@elsewhere.example", "--to", "nobody@old.example")
	expectIn(t, out, "550 5.1.1")
	// An account at the old domain keeps its own mail.
	if out, code := b.Swaks("--server", mx, "--from", "friend@elsewhere.example", "--to", "stay@old.example"); code != 0 {
		t.Fatalf("stay@old.example refused:\n%s", out)
	}
	if n := len(b.Mailbox("stay@old.example", "INBOX")); n != 1 {
		t.Fatalf("stay@old.example's INBOX has %d messages, want 1", n)
	}
	// anna may send as her old address, not as stay's.
	sub := fmt.Sprintf("127.0.0.1:%d", b.Submission)
	auth := []string{"--server", sub, "-tls", "--auth-user", "anna@new.example", "--auth-password", "anna-good-pass-1", "--to", "anna@new.example"}
	if out, code := b.Swaks(append(auth, "--from", "anna@old.example")...); code != 0 {
		t.Fatalf("anna refused as anna@old.example:\n%s", out)
	}
	out, _ = b.Swaks(append(auth, "--from", "stay@old.example")...)
	expectIn(t, out, "550 5.7.1")
}
