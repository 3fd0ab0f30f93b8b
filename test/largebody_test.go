package test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// largeScript sends a large message with smtplib, reads it back with
// imaplib (IMAPS) and poplib (POP3S), prints the sizes it saw, then deletes
// it over IMAP.
const largeScript = `
import hashlib, imaplib, poplib, smtplib, ssl, sys
smtp, imaps, pop3s, user, pw, path, phase = sys.argv[1:8]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if phase == "send":
    data = open(path, "rb").read()
    s = smtplib.SMTP("127.0.0.1", int(smtp), timeout=30)
    s.sendmail("friend@elsewhere.example", [user], data)
    s.quit()
    sys.exit(0)
m = imaplib.IMAP4_SSL("127.0.0.1", int(imaps), ssl_context=ctx, timeout=30)
m.login(user, pw)
m.select("INBOX")
typ, d = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
imap_bytes = [x[1] for x in d if isinstance(x, tuple)][-1]
p = poplib.POP3_SSL("127.0.0.1", int(pop3s), context=ctx, timeout=30)
p.user(user); p.pass_(pw)
n = len(p.list()[1])
resp, lines, octets = p.retr(n)
pop_bytes = b"\r\n".join(lines) + b"\r\n"
p.quit()
print("imap", hashlib.sha256(imap_bytes).hexdigest(), len(imap_bytes))
print("pop3", hashlib.sha256(pop_bytes).hexdigest(), len(pop_bytes))
if phase == "delete":
    m.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
m.logout()
`

// A grandmother's 3 MiB holiday photo arrives over SMTP; the box keeps it
// in a file of its own instead of the database, phones read it back byte
// for byte over IMAP and POP3, and when she deletes it the file goes.
func TestALargePhotoIsKeptInAFileAndReadBackByteForByte(t *testing.T) {
	b := newBox(t)
	py := needTool(t, "python3")
	var msg bytes.Buffer
	msg.WriteString("From: grandma@elsewhere.example\r\nTo: me@example.test\r\nSubject: photos from the lake\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nLook!\r\n--b1\r\n" +
		"Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for i := 0; msg.Len() < 3<<20; i++ {
		fmt.Fprintf(&msg, "%076d\r\n", i)
	}
	msg.WriteString("--b1--\r\n")
	path := filepath.Join(t.TempDir(), "photo.eml")
	must(t, os.WriteFile(path, msg.Bytes(), 0o600))
	script := func(phase string) string {
		out, err := exec.Command(py, "-c", largeScript, fmt.Sprint(b.SMTP), fmt.Sprint(b.IMAPS), fmt.Sprint(b.POP3S), b.Admin, b.Password, path, phase).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", phase, err, out)
		}
		return string(out)
	}
	script("send")

	stored := b.Mailbox(b.Admin, "INBOX")
	if len(stored) != 1 || !bytes.HasSuffix(stored[0], msg.Bytes()) {
		t.Fatalf("stored: %d messages", len(stored))
	}
	files, _ := os.ReadDir(filepath.Join(b.Dir, "bodies"))
	if len(files) != 1 {
		t.Fatalf("body files in the data dir: %d, want the photo's one", len(files))
	}
	fi, _ := files[0].Info()
	if fi.Size() != int64(len(stored[0])) {
		t.Errorf("body file holds %d bytes, the message is %d", fi.Size(), len(stored[0]))
	}

	out := script("delete")
	want := fmt.Sprintf("%x %d", sha256.Sum256(stored[0]), len(stored[0]))
	for _, proto := range []string{"imap", "pop3"} {
		if !strings.Contains(out, proto+" "+want) {
			t.Errorf("%s did not return the stored bytes (want %s):\n%s", proto, want, out)
		}
	}
	testutil.WaitFor(t, "the photo's file to go", 10*time.Second, func() bool {
		files, _ := os.ReadDir(filepath.Join(b.Dir, "bodies"))
		return len(files) == 0
	})
}
