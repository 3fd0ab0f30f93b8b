package test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestAnUploadedCertificateIsServedWithoutARestart: the admin uploads a
// certificate through the API; the IMAPS listener (and the web) serve it
// at the next handshake, and a pair for another host changes nothing.
func TestAnUploadedCertificateIsServedWithoutARestart(t *testing.T) {
	b := newBox(t)
	served := func(port int) *x509.Certificate {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port),
			&tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	before := served(b.IMAPS)
	upload := func(certPEM, keyPEM []byte) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"cert": string(certPEM), "key": string(keyPEM)})
		req, _ := http.NewRequest("POST", fmt.Sprintf("https://127.0.0.1:%d/admin/api/tls", b.HTTPS), bytes.NewReader(body))
		req.SetBasicAuth(b.Admin, b.Password)
		req.Header.Set("Content-Type", "application/json")
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}

	otherCert, otherKey := testutil.CertPEM(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), "elsewhere.example")
	if code, m := upload(otherCert, otherKey); code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "not valid for mail.example.test") {
		t.Errorf("a pair for another host: %d %v", code, m)
	}
	if !served(b.IMAPS).Equal(before) {
		t.Fatal("a refused pair changed the served certificate")
	}

	certPEM, keyPEM := testutil.CertPEM(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), "mail.example.test")
	code, m := upload(certPEM, keyPEM)
	if code != 200 {
		t.Fatalf("upload: %d %v", code, m)
	}
	blk, _ := pem.Decode(certPEM)
	for _, p := range []struct {
		name string
		port int
	}{{"IMAPS", b.IMAPS}, {"HTTPS", b.HTTPS}, {"submissions", b.Submissions}} {
		if got := served(p.port); !bytes.Equal(got.Raw, blk.Bytes) {
			t.Errorf("%s serves %q (serial %v), not the uploaded certificate", p.name, got.Subject.CommonName, got.SerialNumber)
		}
	}
	if !strings.Contains(b.stderr.String(), "TLS certificate reloaded") {
		t.Error("the reload is not in the log")
	}
	if strings.Contains(b.stderr.String(), "PRIVATE KEY") {
		t.Error("the private key is in the log")
	}
}

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
