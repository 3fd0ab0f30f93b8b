package test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestAFullMailboxDefersNewMailAndRefusesAppends(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "user", "quota", b.Admin, "20K", "--dir", b.Dir)
	if got := mustRun(t, "", "user", "quota", b.Admin, "--dir", b.Dir); !strings.Contains(got, "20 KiB (0%)") {
		t.Errorf("user quota:\n%s", got)
	}
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	body := strings.Repeat(strings.Repeat("x", 79)+"\n", 100) // 8 KB in lines of 80
	n := 0
	for range 10 {
		out, code := b.Swaks("--server", mx, "--to", b.Admin, "--body", body)
		if code != 0 {
			if !strings.Contains(out, "452 4.2.2") {
				t.Fatalf("over quota but not 452 4.2.2:\n%s", out)
			}
			break
		}
		n++
	}
	if n == 0 || n > 3 {
		t.Fatalf("%d messages of 8 KB accepted into a 20 KiB quota", n)
	}
	// A declared SIZE that does not fit is refused at RCPT too.
	mustRun(t, "", "user", "quota", b.Admin, "1M", "--dir", b.Dir)
	c := b.Dial(b.SMTP)
	c.Expect("^220 ")
	c.Send("EHLO friend.example")
	c.Expect("^250 ")
	c.Send("MAIL FROM:<friend@elsewhere.example> SIZE=2000000")
	c.Expect("^250 ")
	c.Send("RCPT TO:<me@example.test>")
	c.Expect(`^452 4\.2\.2 `)
	c.Send("QUIT")
	c.Expect("^221 ")

	mustRun(t, "", "user", "quota", b.Admin, "20K", "--dir", b.Dir)
	ic := imapLogin(t, b)
	defer ic.Close()
	msg := []byte("Subject: draft\r\n\r\n" + body + "\r\n")
	ac := ic.Append("Drafts", int64(len(msg)), nil)
	ac.Write(msg)
	ac.Close()
	_, err := ac.Wait()
	if ierr, ok := err.(*imap.Error); !ok || ierr.Code != imap.ResponseCodeOverQuota {
		t.Errorf("APPEND over quota: %v, want NO [OVERQUOTA]", err)
	}
	// Lifting the quota lets mail in again.
	mustRun(t, "", "user", "quota", b.Admin, "none", "--dir", b.Dir)
	if out, code := b.Swaks("--server", mx, "--to", b.Admin, "--body", body); code != 0 {
		t.Errorf("after lifting the quota:\n%s", out)
	}
	oneLineError(t, "want a number of bytes", "", "user", "quota", b.Admin, "lots", "--dir", b.Dir)
	oneLineError(t, "not found", "", "user", "quota", "ghost@example.test", "--dir", b.Dir)
}

// A phone's mail app (Python's imaplib here) asks IMAPS how full the
// mailbox is and sees the quota the admin set; Thunderbird's and iOS's
// quota bars ask the same GETQUOTAROOT.
func TestThePhoneSeesHowFullTheMailboxIsOverIMAPS(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "user", "quota", b.Admin, "2M", "--dir", b.Dir)
	if out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--to", b.Admin, "--body", strings.Repeat("y", 5000)); code != 0 {
		t.Fatalf("swaks: %s", out)
	}
	py := needTool(t, "python3")
	out, err := exec.Command(py, "-c", `import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx, timeout=15)
m.login(sys.argv[2], sys.argv[3])
print("caps", m.capability())
print("root", m.getquotaroot("INBOX"))
print("quota", m.getquota('""'))
m.select("INBOX")
print("fetch", m.fetch("1", "(RFC822.SIZE)")[1])
m.logout()`, fmt.Sprint(b.IMAPS), b.Admin, b.Password).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	for _, want := range []string{" QUOTA ", "QUOTA=RES-STORAGE", `[b'"INBOX" ""'], [b'"" (STORAGE 6 2048)']`, `('OK', [b'"" (STORAGE 6 2048)'])`, "RFC822.SIZE"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("imaplib's session lacks %q:\n%s", want, out)
		}
	}
}
