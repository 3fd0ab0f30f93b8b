package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestADisabledUserKeepsTheirMail: 'user disable' refuses mail to the
// account and its logins, keeps its mailboxes; 'user enable' reopens it.
// 'alias set' changes an alias in place.
func TestADisabledUserKeepsTheirMail(t *testing.T) {
	b := newBox(t)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("knitting-2024\n"), 0o600)
	mustRun(t, "", "user", "add", "grandma@example.test", "--password-file", pw, "--dir", b.Dir)
	smtp := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	if out, code := b.Swaks("--server", smtp, "--from", "friend@elsewhere.example", "--to", "grandma@example.test", "--h-Subject", "Kept"); code != 0 {
		t.Fatalf("swaks: %s", out)
	}
	mustRun(t, "", "alias", "add", "family@example.test", "grandma@example.test", "--dir", b.Dir)
	if out := mustRun(t, "", "alias", "set", "family@example.test", "grandma@example.test,me@example.test", "--permit", "me@example.test", "--dir", b.Dir); !strings.Contains(out, "family@example.test -> grandma@example.test,me@example.test") {
		t.Errorf("alias set: %q", out)
	}
	if out := mustRun(t, "", "alias", "list", "--dir", b.Dir); !strings.Contains(out, "grandma@example.test,me@example.test  me@example.test") {
		t.Errorf("alias list after set:\n%s", out)
	}
	mustRun(t, "", "user", "disable", "grandma@example.test", "--dir", b.Dir)
	if out, code := b.Swaks("--server", smtp, "--from", "friend@elsewhere.example", "--to", "grandma@example.test", "--quit-after", "RCPT"); code == 0 || !strings.Contains(out, "550") {
		t.Errorf("RCPT to a disabled account was not refused: %s", out)
	}
	if got := imapsLogin(t, b.IMAPS, "grandma@example.test", "knitting-2024"); !strings.HasPrefix(got, "a NO") {
		t.Errorf("IMAPS login of a disabled account: %q", got)
	}
	if n := len(b.Mailbox("grandma@example.test", "INBOX")); n != 1 {
		t.Errorf("disabled account's INBOX has %d messages, want 1 (kept)", n)
	}
	mustRun(t, "", "user", "enable", "grandma@example.test", "--dir", b.Dir)
	if got := imapsLogin(t, b.IMAPS, "grandma@example.test", "knitting-2024"); !strings.HasPrefix(got, "a OK") {
		t.Errorf("IMAPS login after enable: %q", got)
	}
	if _, _, code := b.Cmd("", "user", "disable", "ghost@example.test"); code == 0 {
		t.Error("disabling a missing account succeeded")
	}
}

// imapsLogin logs in over IMAPS and returns the tagged answer.
func imapsLogin(t *testing.T, port int, user, pw string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("IMAPS greeting %q %v", l, err)
	}
	fmt.Fprintf(c, "a LOGIN %s %s\r\n", user, pw)
	for i := 0; i < 20; i++ {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("IMAPS: %v", err)
		}
		if strings.HasPrefix(l, "a ") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
