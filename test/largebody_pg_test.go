package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// streamScript sends a message with smtplib ("send"), logs in over IMAPS
// and POP3S and looks at the mailbox ("warm": what a session costs
// anyway), or reads the last message whole over IMAP, a stretch of it
// (BODY[]<30000000.1000>), its text's size (BINARY.SIZE[]) and the
// whole of it over POP3 ("read"), printing what each gave.
const streamScript = `
import hashlib, imaplib, poplib, re, smtplib, ssl, sys
smtp, imaps, pop3s, user, pw, path, phase = sys.argv[1:8]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if phase == "send":
    s = smtplib.SMTP("127.0.0.1", int(smtp), timeout=120)
    s.sendmail("friend@elsewhere.example", [user], open(path, "rb").read())
    s.quit()
    sys.exit(0)
m = imaplib.IMAP4_SSL("127.0.0.1", int(imaps), ssl_context=ctx, timeout=120)
m.login(user, pw)
m.select("INBOX")
p = poplib.POP3_SSL("127.0.0.1", int(pop3s), context=ctx, timeout=120)
p.user(user); p.pass_(pw)
if phase == "warm":
    m.fetch("1:*", "(UID RFC822.SIZE ENVELOPE)")
    p.stat()
else:
    typ, d = m.fetch("1", "(BODY.PEEK[])")
    whole = [x[1] for x in d if isinstance(x, tuple)][0]
    print("imap", hashlib.sha256(whole).hexdigest(), len(whole))
    del whole, d
    typ, d = m.fetch("1", "(BODY.PEEK[]<30000000.1000>)")
    part = [x[1] for x in d if isinstance(x, tuple)][0]
    print("partial", hashlib.sha256(part).hexdigest(), len(part))
    typ, d = m.fetch("1", "(BINARY.SIZE[])")
    print("binarysize", re.search(rb"BINARY.SIZE\[\] (\d+)", d[0]).group(1).decode())
    resp, lines, octets = p.retr(1)
    print("pop3", hashlib.sha256(b"\r\n".join(lines) + b"\r\n").hexdigest(), octets)
p.quit()
m.logout()
`

// TestA40MiBMessageIsStreamedToIMAPAndPOP3NotLoaded: a 40 MiB message
// (a video from a school trip) arrives on a box of each kind of body
// store: the SQLite default (a body file), PostgreSQL with its bodies in
// 1 MiB chunk rows, and PostgreSQL with its bodies in S3 (versitygw).
// After a restart (so no memory of the delivery is left to reuse),
// imaplib's FETCH BODY[] and poplib's RETR get it byte for byte, a
// partial FETCH gets the right 1,000 bytes from the 30,000,000th, and the
// box's peak RSS grows by less than 16 MiB while it sends all of that:
// the message is streamed, never held whole.
func TestA40MiBMessageIsStreamedToIMAPAndPOP3NotLoaded(t *testing.T) {
	py := needTool(t, "python3")
	var msg bytes.Buffer
	msg.WriteString("From: teacher@school.example\r\nTo: me@example.test\r\nSubject: the school trip\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=trip\r\n\r\n--trip\r\nContent-Type: text/plain\r\n\r\nThe video of the day.\r\n--trip\r\n" +
		"Content-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for i := 0; msg.Len() < 40<<20; i++ {
		fmt.Fprintf(&msg, "%076d\r\n", i)
	}
	msg.WriteString("--trip--\r\n")
	path := filepath.Join(t.TempDir(), "trip.eml")
	must(t, os.WriteFile(path, msg.Bytes(), 0o600))

	for _, c := range []struct {
		name string
		box  func(t *testing.T) (*Box, string) // and its body_store
	}{
		{"sqlite-file", func(t *testing.T) (*Box, string) { return newBoxOn(t, "example.test", "", nil), "" }},
		{"pg-db", func(t *testing.T) (*Box, string) { return newPGBox(t, nil), "" }},
		{"pg-s3", func(t *testing.T) (*Box, string) {
			s3, _ := s3BodyStore(t)
			return newPGBox(t, map[string]string{"body_store": s3}), s3
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, bodyStore := c.box(t)
			script := func(phase string) string {
				out, err := exec.Command(py, "-c", streamScript, fmt.Sprint(b.SMTP), fmt.Sprint(b.IMAPS), fmt.Sprint(b.POP3S), b.Admin, b.Password, path, phase).CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", phase, err, out)
				}
				return string(out)
			}
			script("send")
			b.Stop()
			b.Start()
			script("warm")
			before := b.peakRSS()
			out := script("read")
			grew := b.peakRSS() - before
			stored := storedMessages(t, b, bodyStore)
			if len(stored) != 1 || !bytes.HasSuffix(stored[0], msg.Bytes()) {
				t.Fatalf("stored: %d messages", len(stored))
			}
			t.Logf("%s: peak RSS %.1f MiB before reading the %.1f MiB message, %.1f MiB after (+%.1f)",
				c.name, before, float64(len(stored[0]))/(1<<20), before+grew, grew)

			whole := fmt.Sprintf("%x %d", sha256.Sum256(stored[0]), len(stored[0]))
			part := fmt.Sprintf("%x 1000", sha256.Sum256(stored[0][30000000:30001000]))
			text := len(stored[0]) - bytes.Index(stored[0], []byte("\r\n\r\n")) - 4
			for _, want := range []string{"imap " + whole, "partial " + part, fmt.Sprintf("binarysize %d", text), "pop3 " + whole} {
				if !strings.Contains(out, want+"\n") {
					t.Errorf("want %q in what the clients got:\n%s", want, out)
				}
			}
			if grew >= 16 {
				t.Errorf("the box's peak RSS grew by %.1f MiB while sending a %.1f MiB message: it was not streamed", grew, float64(len(stored[0]))/(1<<20))
			}
		})
	}
}

// storedMessages reads the INBOX of b's admin straight from its store,
// whose large bodies are in bodyStore ("": the default).
func storedMessages(t *testing.T, b *Box, bodyStore string) [][]byte {
	t.Helper()
	ctx := context.Background()
	st := testutil.StoreAt(t, b.Dir, store.Options{URL: b.StoreURL, BodyStore: bodyStore}) // closed at the test's end
	acc, err := st.AccountByEmail(ctx, b.Admin)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.MailboxByName(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		data, err := st.Body(ctx, m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}
