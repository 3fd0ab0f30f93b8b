package test

// Moving a box between engines (issue 23 phase 2b): `boxmail store copy`
// from SQLite into PostgreSQL while mail keeps arriving, and two nodes
// on one PostgreSQL store reading each other's large bodies.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"boxmail/internal/testutil"
	"boxmail/internal/testutil/pgtest"
)

// imapListing prints one line per INBOX message over IMAP (Python's
// imaplib): UID, sorted flags, SHA-256 and size of the bytes. With
// "flag" as the fifth argument it first sets flags on UIDs 1 and 2.
const imapListing = `
import hashlib, imaplib, re, sys
m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
m.login(sys.argv[3], sys.argv[4])
if len(sys.argv) > 5 and sys.argv[5] == "flag":
    m.select("INBOX")
    m.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
    m.uid("STORE", "2", "+FLAGS", "(\\Seen $Work)")
m.select("INBOX", readonly=True)
typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
assert typ == "OK", data
i = 0
while i < len(data):
    item = data[i]
    i += 1
    if not isinstance(item, tuple):
        continue
    meta, body = item[0].decode(), item[1]
    if i < len(data) and isinstance(data[i], bytes):
        meta += data[i].decode()
        i += 1
    uid = re.search(r"UID (\d+)", meta).group(1)
    flags = " ".join(sorted(re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()))
    print(uid, "[" + flags + "]", hashlib.sha256(body).hexdigest(), len(body))
m.logout()
`

func listInbox(t *testing.T, b *Box, flag bool) []string {
	t.Helper()
	py := needTool(t, "python3")
	args := []string{"-c", imapListing, "127.0.0.1", fmt.Sprint(b.IMAP), b.Admin, b.Password}
	if flag {
		args = append(args, "flag")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// attachmentMessage is a message with a base64 attachment of about n
// bytes of random data.
func attachmentMessage(subject string, n int) string {
	raw := make([]byte, n*3/4)
	rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	fmt.Fprintf(&b, "From: friend@outside.example\r\nTo: me@example.test\r\nSubject: %s\r\nMIME-Version: 1.0\r\n", subject)
	b.WriteString("Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n")
	b.WriteString("--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--XX--\r\n")
	return b.String()
}

func smallMessage(subject string) string {
	return "From: friend@outside.example\r\nTo: me@example.test\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
}

// setStoreURL points the box's config at url (its body store at the
// default).
func setStoreURL(t *testing.T, b *Box, url string) {
	t.Helper()
	conf := filepath.Join(b.Dir, "boxmail.conf")
	c, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^store_url = .*$`)
	s := string(c)
	if re.MatchString(s) {
		s = re.ReplaceAllLiteralString(s, "store_url = "+url)
	} else {
		s += "\nstore_url = " + url + "\n"
	}
	if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	b.StoreURL = url
}

// TestStoreCopyMovesASQLiteBoxToPostgreSQLWhileMailArrives: a SQLite box
// with mail (small and a 1 MiB attachment) and IMAP flags is copied into
// PostgreSQL while SMTP keeps arriving; boxmail is stopped, the copy
// caught up (--again), store_url switched, the box started: imaplib sees
// every message byte for byte with the same UIDs and flags.
func TestStoreCopyMovesASQLiteBoxToPostgreSQLWhileMailArrives(t *testing.T) {
	needTool(t, "initdb")
	b := newBoxWith(t, map[string]string{"insecure_auth": "true"})
	addr := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	for i, m := range []string{smallMessage("one"), attachmentMessage("photos", 1<<20), smallMessage("three")} {
		if err := sendPlain(addr, "friend@outside.example", b.Admin, m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	listInbox(t, b, true)
	url, err := pgtest.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var sent int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			time.Sleep(20 * time.Millisecond)
			msg := smallMessage(fmt.Sprintf("during the copy %d", i))
			if i%10 == 9 {
				msg = attachmentMessage(fmt.Sprintf("large during the copy %d", i), 300<<10)
			}
			if err := sendPlain(addr, "friend@outside.example", b.Admin, msg); err != nil {
				t.Errorf("SMTP during the copy: %v", err)
				return
			}
			sent++
		}
	}()
	out := mustRun(t, "", "store", "copy", "--dir", b.Dir, "--to", url)
	t.Logf("store copy:\n%s", out)
	if !strings.Contains(out, "verified") || strings.Contains(out, pgPassword(url)) {
		t.Errorf("store copy output: %s", out)
	}
	time.Sleep(300 * time.Millisecond) // more mail after the copy
	close(stop)
	wg.Wait()
	if sent == 0 {
		t.Error("no mail arrived during the copy")
	}
	want := listInbox(t, b, false)
	if len(want) != 3+sent {
		t.Errorf("the SQLite box lists %d messages, want %d", len(want), 3+sent)
	}
	b.Stop()
	out = mustRun(t, "", "store", "copy", "--dir", b.Dir, "--to", url, "--again")
	t.Logf("store copy --again:\n%s", out)
	setStoreURL(t, b, url)
	b.Start()
	got := listInbox(t, b, false)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after the switch, IMAP lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(want[0], `\Flagged`) || !strings.Contains(want[1], "$Work") {
		t.Errorf("flags were not set before the copy: %s", want[:2])
	}
	// New mail continues after the copied UIDs.
	if err := sendPlain(addr, "friend@outside.example", b.Admin, smallMessage("after the switch")); err != nil {
		t.Fatal(err)
	}
	if n := len(listInbox(t, b, false)); n != len(want)+1 {
		t.Errorf("after one more message: %d, want %d", n, len(want)+1)
	}
	if _, errs, code := run(t, "", "store", "copy", "--dir", b.Dir, "--to", "sqlite:"+t.TempDir()+"/x", "--again"); code == 0 {
		t.Errorf("--again into a fresh SQLite dir succeeded")
	} else if !strings.Contains(errs, "not a copy") {
		t.Errorf("--again into a fresh dir: %s", errs)
	}
}

// pgPassword is the password of a PostgreSQL URL ("" without one).
func pgPassword(url string) string {
	if at := strings.LastIndex(url, "@"); at > 0 {
		if colon := strings.LastIndex(url[:at], ":"); colon > strings.Index(url, "//") {
			return url[colon+1 : at]
		}
	}
	return "no password in the URL"
}

// TestTwoNodesReadEachOthersLargeBodies: two boxmail nodes, each with its
// own data dir, on one PostgreSQL store: a 1 MiB message delivered over
// SMTP on node 1 is fetched over IMAP from node 2, byte for byte (its
// body is in the shared body store, not in node 1's data dir).
func TestTwoNodesReadEachOthersLargeBodies(t *testing.T) {
	n1 := newPGBox(t, map[string]string{"insecure_auth": "true"})
	n2 := secondNode(t, n1)
	msg := attachmentMessage("for the other node", 1<<20)
	if err := sendPlain(fmt.Sprintf("127.0.0.1:%d", n1.SMTP), "friend@outside.example", n1.Admin, msg); err != nil {
		t.Fatal(err)
	}
	stored := n1.Mailbox(n1.Admin, "INBOX")
	if len(stored) != 1 || len(stored[0]) < 1<<20 {
		t.Fatalf("node 1 stored %d messages", len(stored))
	}
	if files, _ := os.ReadDir(filepath.Join(n1.Dir, "bodies")); len(files) != 0 {
		t.Errorf("node 1 kept the body in its data dir: %d files", len(files))
	}
	lines := listInbox(t, n2, false)
	if len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprint(len(stored[0]))) {
		t.Fatalf("node 2 lists %v", lines)
	}
	want := fmt.Sprintf("%x", sha256.Sum256(stored[0]))
	if !strings.Contains(lines[0], want) {
		t.Errorf("node 2 fetched other bytes: %s, want SHA-256 %s", lines[0], want)
	}
}

// secondNode starts another node of n1's box: a data dir of its own
// (n1's config and keys, no database or bodies), other ports, the same
// store_url.
func secondNode(t *testing.T, n1 *Box) *Box {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(n1.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(n1.Dir, path)
		switch {
		case rel == "bodies" || strings.HasPrefix(rel, "boxmail.db"):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dir, rel), 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	n2 := &Box{t: t, Dir: dir, Domain: n1.Domain, Admin: n1.Admin, Password: n1.Password, StoreURL: n1.StoreURL}
	p := testutil.FreePorts(t, 10)
	n2.SMTP, n2.Submission, n2.Submissions, n2.IMAP, n2.IMAPS, n2.DNS, n2.HTTP, n2.HTTPS, n2.POP3, n2.POP3S = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]
	n2.configure(map[string]string{"insecure_auth": "true"})
	n2.Start()
	t.Cleanup(n2.Stop)
	return n2
}
