package test

// POP3 end to end: Python's poplib, fetchmail and getmail6 (clients
// nobody here wrote) download what swaks delivered, and the same poplib
// scenario runs against the reference Dovecot on request.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// deliverForPOP3 sends n messages with swaks (bodies with dot lines, which
// POP3 must stuff) and returns the bytes stored for them.
func deliverForPOP3(t *testing.T, b *Box, n int, tag string) [][]byte {
	t.Helper()
	before := len(b.Mailbox(b.Admin, "INBOX"))
	for i := range n {
		out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--from", "friend@elsewhere.example", "--to", b.Admin,
			"--h-Subject", fmt.Sprintf("%s %d", tag, i+1), "--body", fmt.Sprintf("Hello %d.\n.a line starting with a dot\n..and two\n\nGrüße\n", i+1))
		if code != 0 {
			t.Fatalf("swaks: %s", out)
		}
	}
	all := b.Mailbox(b.Admin, "INBOX")
	if len(all) != before+n {
		t.Fatalf("INBOX has %d messages, want %d", len(all), before+n)
	}
	return all[before:]
}

func writeFiles(t *testing.T, msgs [][]byte) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for i, m := range msgs {
		p := filepath.Join(dir, fmt.Sprintf("%d.eml", i))
		if err := os.WriteFile(p, m, 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// pop3Scenario runs clients/pop3_scenario.py with env set.
func pop3Scenario(t *testing.T, env []string, port int, user, pass string, files []string) {
	t.Helper()
	py := needTool(t, "python3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join("clients", "pop3_scenario.py"), "127.0.0.1", strconv.Itoa(port), user, pass}, files...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "OK" {
		t.Fatalf("pop3_scenario.py (%v): %v\n%s", env, err, out)
	}
}

// uidlOverTLS logs in on the POP3S port and returns the UIDL listing.
func uidlOverTLS(t *testing.T, b *Box) string {
	t.Helper()
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.POP3S), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "USER %s\r\nPASS %s\r\nUIDL\r\nQUIT\r\n", b.Admin, b.Password)
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
	}
	// greeting, USER, PASS, UIDL's +OK, the listing, ".", QUIT
	if len(lines) < 6 || !strings.HasPrefix(lines[2], "+OK") {
		t.Fatalf("POP3S dialog: %q", lines)
	}
	return strings.Join(lines[4:len(lines)-2], "\n")
}

func TestPoplibDownloadsWhatWasDeliveredOverSTLSAndImplicitTLS(t *testing.T) {
	b := newBox(t)
	msgs := deliverForPOP3(t, b, 3, "for poplib")
	files := writeFiles(t, msgs)

	// No login before TLS outside quickstart's loopback.
	c := b.Dial(b.POP3)
	c.Expect(`^\+OK`)
	c.Send("USER " + b.Admin)
	c.Expect(`^-ERR \[AUTH\] .*STLS`)

	pop3Scenario(t, []string{"POP3_STLS=1"}, b.POP3, b.Admin, b.Password, files)
	// The scenario deleted message 1 at QUIT; IMAP sees the rest.
	if left := b.Mailbox(b.Admin, "INBOX"); len(left) != 2 || !bytes.Equal(left[0], msgs[1]) {
		t.Fatalf("after the STLS session the INBOX has %d messages", len(left))
	}

	before := uidlOverTLS(t, b)
	b.Stop()
	b.Start()
	if after := uidlOverTLS(t, b); after != before || strings.Count(after, "\n") != 1 {
		t.Fatalf("UIDL before a restart:\n%s\nafter:\n%s", before, after)
	}
	pop3Scenario(t, []string{"POP3_SSL=1"}, b.POP3S, b.Admin, b.Password, files[1:])
	if left := b.Mailbox(b.Admin, "INBOX"); len(left) != 1 || !bytes.Equal(left[0], msgs[2]) {
		t.Fatalf("after the POP3S session the INBOX has %d messages", len(left))
	}
}

// fetchmailHeader is the Received field fetchmail adds to what it hands
// the MDA.
var fetchmailHeader = regexp.MustCompile(`(?m)^Received: from [^\r\n]*\r?\n\t[^\r\n]*fetchmail[^\r\n]*\r?\n(\t[^\r\n]*\r?\n)*`)

func readDir(t *testing.T, dir string) [][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func sameMessages(t *testing.T, who string, got, want [][]byte) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.SortFunc(g, bytes.Compare)
	slices.SortFunc(w, bytes.Compare)
	if len(g) != len(w) {
		t.Fatalf("%s fetched %d messages, want %d", who, len(g), len(w))
	}
	for i := range g {
		if !bytes.Equal(g[i], w[i]) {
			t.Errorf("%s fetched\n%q\nwant\n%q", who, g[i], w[i])
		}
	}
}

func TestFetchmailAndGetmailFetchTheBytesDelivered(t *testing.T) {
	fetchmail := needTool(t, "fetchmail")
	getmail := needTool(t, "getmail")
	b := newBox(t)

	// fetchmail, over STLS, hands each message to an MDA that writes it
	// into a Maildir's new/; it deletes what it fetched.
	msgs := deliverForPOP3(t, b, 2, "for fetchmail")
	home := t.TempDir()
	box := filepath.Join(home, "Maildir")
	for _, d := range []string{"new", "cur", "tmp"} {
		os.MkdirAll(filepath.Join(box, d), 0o700)
	}
	rc := filepath.Join(home, "fetchmailrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`set no syslog
poll 127.0.0.1 service %d protocol POP3 uidl auth password:
  user "%s" password "%s" is "local" here
  sslproto TLS1.2+ no sslcertck
  no stripcr
  mda "/bin/sh -c 'cat > %s/new/msg.$$'"
`, b.POP3, b.Admin, b.Password, box)), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, fetchmail, "-f", rc, "-i", filepath.Join(home, "fetchids"), "-v", "--nodetach")
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fetchmail: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "POP3> STLS") {
		t.Errorf("fetchmail did not use STLS:\n%s", out)
	}
	var got [][]byte
	for _, m := range readDir(t, filepath.Join(box, "new")) {
		got = append(got, fetchmailHeader.ReplaceAll(m, nil))
	}
	sameMessages(t, "fetchmail", got, msgs)
	if left := b.Mailbox(b.Admin, "INBOX"); len(left) != 0 {
		t.Errorf("%d messages left after fetchmail", len(left))
	}

	// getmail6, over implicit TLS checking the box's certificate, into a
	// Maildir; it writes LF line ends and a Return-Path of its own.
	msgs = deliverForPOP3(t, b, 2, "for getmail")
	// Not under t.TempDir(): as root, getmail delivers as nobody, which
	// must reach the Maildir.
	gm, err := os.MkdirTemp("", "getmail")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(gm) })
	md := filepath.Join(gm, "Maildir")
	for _, d := range []string{"new", "cur", "tmp"} {
		os.MkdirAll(filepath.Join(md, d), 0o700)
	}
	user := ""
	if os.Geteuid() == 0 { // getmail refuses to deliver as root
		user = "user = nobody\n"
		exec.Command("chown", "-R", "nobody", gm).Run()
		os.Chmod(gm, 0o755)
	}
	os.WriteFile(filepath.Join(gm, "getmailrc"), []byte(fmt.Sprintf(`[retriever]
type = SimplePOP3SSLRetriever
server = 127.0.0.1
port = %d
username = %s
password = %s
ca_certs = %s

[destination]
type = Maildir
path = %s/
%s
[options]
delete = true
delivered_to = false
received = false
read_all = true
`, b.POP3S, b.Admin, b.Password, filepath.Join(b.Dir, "tls", "cert.pem"), md, user)), 0o644)
	cmd = exec.CommandContext(ctx, getmail, "--getmaildir", gm, "--rcfile", filepath.Join(gm, "getmailrc"))
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2 messages") {
		t.Fatalf("getmail: %v\n%s", err, out)
	}
	got = nil
	for _, m := range readDir(t, filepath.Join(md, "new")) {
		if i := bytes.IndexByte(m, '\n'); bytes.HasPrefix(m, []byte("Return-Path: ")) {
			m = m[i+1:]
		}
		got = append(got, m)
	}
	var want [][]byte
	for _, m := range msgs {
		if i := bytes.IndexByte(m, '\n'); bytes.HasPrefix(m, []byte("Return-Path: ")) {
			m = m[i+1:] // getmail replaces the box's Return-Path with its own
		}
		want = append(want, bytes.ReplaceAll(m, []byte("\r\n"), []byte("\n")))
	}
	sameMessages(t, "getmail", got, want)
	if left := b.Mailbox(b.Admin, "INBOX"); len(left) != 0 {
		t.Errorf("%d messages left after getmail", len(left))
	}
}

// TestPoplibScenarioAgainstDovecot runs the poplib scenario against the
// reference Postfix+Dovecot of ../shared/bench (habit 9), so a difference
// between boxmail and Dovecot shows up as a failure in one of the two
// runs. Opt in: BOXMAIL_POP3_REFERENCE=dovecot.
func TestPoplibScenarioAgainstDovecot(t *testing.T) {
	if os.Getenv("BOXMAIL_POP3_REFERENCE") != "dovecot" {
		t.Skip("set BOXMAIL_POP3_REFERENCE=dovecot to run against the reference Dovecot")
	}
	script, _ := filepath.Abs(filepath.Join("..", "..", "shared", "bench", "peers", "postfix-dovecot.sh"))
	if env := os.Getenv("BOXMAIL_PEERS_SCRIPT"); env != "" {
		script = env
	}
	// Ports of our own (not imapd's dovecot_test ones), so the two can run
	// at once and a peer someone else runs on the defaults is left alone.
	const smtpPort, imapPort, pop3Port, pass = 16525, 16143, 16110, "benchpass"
	benchDir, err := os.MkdirTemp("", "bxp") // short: Dovecot's sockets live under it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(benchDir) })
	peer := func(arg string) {
		cmd := exec.Command("bash", script, arg)
		cmd.Env = append(os.Environ(), "BENCH_DIR="+benchDir, "PD_USERS=1", "PD_PASS="+pass,
			fmt.Sprintf("PD_SMTP_PORT=%d", smtpPort), fmt.Sprintf("PD_IMAP_PORT=%d", imapPort), fmt.Sprintf("PD_POP3_PORT=%d", pop3Port))
		// A file, not a pipe: the daemons inherit it and never close it.
		logPath := filepath.Join(benchDir, "peer-"+arg+".log")
		out, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s %s: %v\n%s", script, arg, err, b)
		}
	}
	peer("start")
	t.Cleanup(func() { peer("stop") })

	const user = "user1@bench.test"
	// APPEND rather than SMTP: LMTP would add trace headers, and the
	// scenario compares the messages byte for byte.
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", imapPort), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for i := range 3 {
		m := []byte(fmt.Sprintf("From: friend@elsewhere.example\r\nTo: %s\r\nSubject: for poplib %d\r\nMessage-ID: <p%d@elsewhere.example>\r\n\r\nHello %d.\r\n.a line starting with a dot\r\n..and two\r\n", user, i+1, i+1, i+1))
		cmd := c.Append("INBOX", int64(len(m)), &imap.AppendOptions{})
		cmd.Write(m)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	c.Logout().Wait()
	pop3Scenario(t, []string{"POP3_REFERENCE=dovecot"}, pop3Port, user, pass, writeFiles(t, msgs))
}
