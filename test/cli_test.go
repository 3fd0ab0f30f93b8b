package test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// oneLineError checks a failed command printed exactly one line on stderr
// matching re and exited non-zero.
func oneLineError(t *testing.T, re string, stdin string, args ...string) {
	t.Helper()
	out, errs, code := run(t, stdin, args...)
	if code == 0 {
		t.Errorf("boxmail %s: succeeded, want an error\n%s", strings.Join(args, " "), out)
		return
	}
	if strings.Count(errs, "\n") != 1 || !regexp.MustCompile(re).MatchString(errs) {
		t.Errorf("boxmail %s: stderr %q, want one line matching /%s/", strings.Join(args, " "), errs, re)
	}
}

func TestInitRefusesBadArgumentsAndCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "box")
	oneLineError(t, "required", "", "init", "--dir", dir)
	oneLineError(t, `--admin: address "admin" has no @domain`, "", "init", "--dir", dir, "--hostname", "box.example.net", "--domain", "example.net", "--admin", "admin")
	oneLineError(t, "not in --domain", "", "init", "--dir", dir, "--hostname", "box.example.net", "--domain", "example.net", "--admin", "admin@other.net")
	oneLineError(t, "has no dot", "", "init", "--dir", dir, "--hostname", "box", "--domain", "example.net", "--admin", "admin@example.net")
	oneLineError(t, "flag provided but not defined", "", "init", "--dir", dir, "--bogus")
	oneLineError(t, "unknown command", "", "frobnicate")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("failed init left %s behind", dir)
	}
	out := mustRun(t, "", "init", "--dir", dir, "--hostname", "box.example.net", "--domain", "example.net", "--admin", "admin@example.net")
	if !regexp.MustCompile(`password: +\S{12,}`).MatchString(out) {
		t.Errorf("init did not print a generated password:\n%s", out)
	}
	oneLineError(t, "already holds a boxmail config", "", "init", "--dir", dir, "--hostname", "box.example.net", "--domain", "example.net", "--admin", "admin@example.net")
	for _, f := range []string{"boxmail.conf", "boxmail.db", "tls/cert.pem", "tls/key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not create %s", f)
		}
	}
	if got := mustRun(t, "", "user", "list", "--dir", dir); got != "admin@example.net\tadmin\n" {
		t.Errorf("user list = %q", got)
	}
	// The production ports are the standard ones.
	conf, _ := os.ReadFile(filepath.Join(dir, "boxmail.conf"))
	for _, want := range []string{"smtp_port = 25\n", "submission_port = 587\n", "submissions_port = 465\n", "imap_port = 143\n", "imaps_port = 993\n"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("config lacks %q", want)
		}
	}
}

func TestAdminCommandsRefuseBadInputWithOneClearLine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "box")
	mustRun(t, "", "init", "--dir", dir, "--hostname", "box.example.net", "--domain", "example.net", "--admin", "admin@example.net")
	d := []string{"--dir", dir}
	oneLineError(t, "no @domain", "good-password-1\n", append([]string{"user", "add", "not-an-address"}, d...)...)
	oneLineError(t, "domain other.net is not hosted here", "good-password-1\n", append([]string{"user", "add", "x@other.net"}, d...)...)
	oneLineError(t, "already exists", "good-password-1\n", append([]string{"user", "add", "admin@example.net"}, d...)...)
	oneLineError(t, "too short", "short\n", append([]string{"user", "add", "kid@example.net"}, d...)...)
	oneLineError(t, "empty password", "\n", append([]string{"user", "add", "kid@example.net"}, d...)...)
	oneLineError(t, "no password given", "", append([]string{"user", "add", "kid@example.net"}, d...)...)
	oneLineError(t, "too weak", "password\n", append([]string{"user", "add", "kid@example.net"}, d...)...)
	oneLineError(t, "takes 1 argument", "", append([]string{"user", "remove"}, d...)...)
	oneLineError(t, "on|off", "", append([]string{"user", "admin", "admin@example.net", "maybe"}, d...)...)
	oneLineError(t, "not found", "", append([]string{"user", "remove", "ghost@example.net"}, d...)...)
	oneLineError(t, "unknown user subcommand", "", append([]string{"user", "delete"}, d...)...)
	oneLineError(t, "not an account or alias", "", append([]string{"alias", "add", "team@example.net", "ghost@example.net"}, d...)...)
	oneLineError(t, "is an account", "", append([]string{"alias", "add", "admin@example.net", "x@elsewhere.org"}, d...)...)
	oneLineError(t, "permitted sender", "", append([]string{"alias", "add", "team@example.net", "admin@example.net", "--permit", "ghost@example.net"}, d...)...)
	oneLineError(t, `still has accounts or aliases \(1 left`, "", append([]string{"domain", "remove", "example.net"}, d...)...)
	oneLineError(t, "does not exist", "", "user", "list", "--dir", filepath.Join(dir, "nope"))
	if got := mustRun(t, "", append([]string{"user", "list"}, d...)...); got != "admin@example.net\tadmin\n" {
		t.Errorf("failed commands changed the accounts: %q", got)
	}
	if got := mustRun(t, "", append([]string{"alias", "list"}, d...)...); strings.Count(got, "\n") != 1 {
		t.Errorf("failed commands created aliases: %q", got)
	}

	// And the happy paths, with BOXMAIL_DIR instead of --dir.
	t.Setenv("BOXMAIL_DIR", dir)
	cmd := exec.Command(binary, "user", "add", "kid@example.net")
	cmd.Stdin = strings.NewReader("kid-password-77\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add via BOXMAIL_DIR: %v\n%s", err, out)
	}
	mustRun(t, "another-password\n", append([]string{"user", "passwd", "kid@example.net"}, d...)...)
	mustRun(t, "", append([]string{"user", "admin", "kid@example.net", "on"}, d...)...)
	mustRun(t, "", append([]string{"domain", "add", "example.org"}, d...)...)
	if got := mustRun(t, "", append([]string{"domain", "list"}, d...)...); got != "example.net\nexample.org\n" {
		t.Errorf("domain list = %q", got)
	}
	mustRun(t, "", append([]string{"alias", "add", "team@example.org", "admin@example.net,kid@example.net,someone@elsewhere.org", "--permit", "kid@example.net"}, d...)...)
	got := mustRun(t, "", append([]string{"alias", "list"}, d...)...)
	if !strings.Contains(got, "team@example.org") || !strings.Contains(got, "someone@elsewhere.org") {
		t.Errorf("alias list = %q", got)
	}
	mustRun(t, "", append([]string{"alias", "remove", "team@example.org"}, d...)...)
	mustRun(t, "", append([]string{"user", "remove", "kid@example.net"}, d...)...)
	mustRun(t, "", append([]string{"domain", "remove", "example.org"}, d...)...)
}

// quickstart prints its banner; startQuickstart returns the password it
// printed and the running command.
func startQuickstart(t *testing.T, dir string, ports []int) (string, *exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(binary, "quickstart", "--dir", dir,
		"--smtp-port", fmt.Sprint(ports[0]), "--submission-port", fmt.Sprint(ports[1]), "--submissions-port", fmt.Sprint(ports[2]),
		"--imap-port", fmt.Sprint(ports[3]), "--imaps-port", fmt.Sprint(ports[4]), "--dns-port", fmt.Sprint(ports[5]),
		"--http-port", fmt.Sprint(ports[6]), "--https-port", fmt.Sprint(ports[7]),
		"--pop3-port", fmt.Sprint(ports[8]), "--pop3s-port", fmt.Sprint(ports[9]), "--managesieve-port", fmt.Sprint(ports[10]),
		"--metrics-port", "0") // not the fixed 9154 (metrics_test.go serves it on a free port)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A failed test must not leave the server running.
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	r := bufio.NewReader(stdout)
	var pw string
	deadline := time.Now().Add(20 * time.Second)
	var banner strings.Builder
	for time.Now().Before(deadline) {
		line, err := r.ReadString('\n')
		banner.WriteString(line)
		if err != nil {
			t.Fatalf("quickstart output ended: %v\n%s", err, banner.String())
		}
		if m := regexp.MustCompile(`password:\s+(\S+)`).FindStringSubmatch(line); m != nil {
			pw = m[1]
		}
		if strings.Contains(line, "Ctrl-C") {
			break
		}
	}
	for _, want := range []string{"me@example.test", fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[3]),
		fmt.Sprintf("127.0.0.1:%d", ports[10]), // no port of a quickstart under test is fixed
		fmt.Sprintf("admin panel: https://127.0.0.1:%d/admin (log in as me@example.test, the box's admin", ports[7]),
		fmt.Sprintf("https://127.0.0.1:%d/setup", ports[7])} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %s:\n%s", want, banner.String())
		}
	}
	return pw, cmd, r
}

func TestQuickstartMakesADemoBoxAndKeepsItsPassword(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "boxmail-data")
	ports := testutil.FreePorts(t, 11)
	pw1, cmd, _ := startQuickstart(t, dir, ports)
	if pw1 == "" {
		t.Fatal("no password printed")
	}
	b := &Box{t: t, Dir: dir, SMTP: ports[0]}
	out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--to", "family@example.test", "--from", "friend@elsewhere.example")
	if code != 0 {
		t.Errorf("delivery to the demo box failed:\n%s", out)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("quickstart did not exit cleanly on Ctrl-C: %v", err)
	}
	pw2, cmd, _ := startQuickstart(t, dir, ports)
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if pw1 != pw2 {
		t.Errorf("second run printed password %q, first %q", pw2, pw1)
	}
	if n := len(b.Mailbox("me@example.test", "INBOX")); n != 1 {
		t.Errorf("mail did not survive a restart: %d messages", n)
	}
}

func TestAUserAddedWhileRunningReceivesMailAtOnce(t *testing.T) {
	b := newBox(t)
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	out, _ := b.Swaks("--server", mx, "--to", "grandpa@example.test")
	expectIn(t, out, "550 5.1.1")
	mustRun(t, "", "user", "add", "grandpa@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "grandpa-pass-1"))
	if out, code := b.Swaks("--server", mx, "--to", "grandpa@example.test"); code != 0 {
		t.Fatalf("new user refused:\n%s", out)
	}
	mustRun(t, "", "user", "remove", "grandpa@example.test", "--dir", b.Dir)
	out, _ = b.Swaks("--server", mx, "--to", "grandpa@example.test")
	expectIn(t, out, "550 5.1.1")
	// A changed password takes effect at once for submission.
	mustRun(t, "", "user", "passwd", "me@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "brand-new-pass-9"))
	sub := fmt.Sprintf("127.0.0.1:%d", b.Submission)
	out, _ = b.Swaks("--server", sub, "-tls", "--auth-user", "me@example.test", "--auth-password", b.Password, "--from", "me@example.test", "--to", "me@example.test")
	expectIn(t, out, "535 5.7.8")
	if out, code := b.Swaks("--server", sub, "-tls", "--auth-user", "me@example.test", "--auth-password", "brand-new-pass-9", "--from", "me@example.test", "--to", "me@example.test"); code != 0 {
		t.Fatalf("new password refused:\n%s", out)
	}
}

func TestCtrlCAnswers421AndLosesNothingHalfWritten(t *testing.T) {
	b := newBox(t)
	greet := func(c *Conn) {
		c.Expect("^220 ")
		c.Send("EHLO client.example")
		c.Expect("^250 ")
	}
	// idle: connected, greeted, nothing more.
	idle := b.Dial(b.SMTP)
	greet(idle)
	// mid-transaction: MAIL and RCPT given, no DATA yet.
	mid := b.Dial(b.SMTP)
	greet(mid)
	mid.Send("MAIL FROM:<friend@elsewhere.example>")
	mid.Expect("^250 ")
	mid.Send("RCPT TO:<me@example.test>")
	mid.Expect("^250 ")
	// in DATA: half the body sent.
	data := b.Dial(b.SMTP)
	greet(data)
	data.Send("MAIL FROM:<friend@elsewhere.example>")
	data.Expect("^250 ")
	data.Send("RCPT TO:<me@example.test>")
	data.Expect("^250 ")
	data.Send("DATA")
	data.Expect("^354 ")
	data.Send("Subject: sent while the server stops")
	data.Send("")
	data.Send("first half")
	// dropped: a client that vanishes mid-DATA.
	drop := b.Dial(b.SMTP)
	greet(drop)
	drop.Send("MAIL FROM:<friend@elsewhere.example>")
	drop.Expect("^250 ")
	drop.Send("RCPT TO:<me@example.test>")
	drop.Expect("^250 ")
	drop.Send("DATA")
	drop.Expect("^354 ")
	drop.Send("Subject: never finished")
	drop.c.Close()

	time.Sleep(100 * time.Millisecond)
	b.cmd.Process.Signal(syscall.SIGINT)
	idle.Expect(`^421 4\.3\.2 `)
	mid.Expect(`^421 4\.3\.2 `)
	data.Send("second half")
	data.Send(".")
	data.Expect(`^250 `)
	data.Expect(`^421 4\.3\.2 `)
	select {
	case err := <-b.exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
	b.cmd = nil
	msgs := b.Mailbox("me@example.test", "INBOX")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "first half\r\nsecond half\r\n") {
		t.Fatalf("after shutdown the inbox holds %q; want just the completed message", msgs)
	}
}

func TestEveryDomainGetsADKIMKeyToPublish(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "box")
	mustRun(t, "", "init", "--dir", dir, "--hostname", "box.example.net", "--domain", "example.net", "--admin", "admin@example.net")
	mustRun(t, "", "domain", "add", "example.org", "--dir", dir)
	for _, d := range []string{"example.net", "example.org"} {
		out := mustRun(t, "", "dkim", "show", d, "--dir", dir)
		if !regexp.MustCompile(`(?m)^mail\._domainkey +TXT +v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,} +yes$`).MatchString(out) {
			t.Errorf("dkim show %s:\n%s", d, out)
		}
	}
	a := mustRun(t, "", "dkim", "show", "example.net", "--dir", dir)
	b := mustRun(t, "", "dkim", "show", "example.org", "--dir", dir)
	if a == b {
		t.Error("two domains share a DKIM key")
	}
	oneLineError(t, "not hosted here", "", "dkim", "show", "example.com", "--dir", dir)
}

// The admin changes where the family alias goes: who may send as it stays
// as it was unless --permit says otherwise, and an empty --permit clears
// it.
func TestChangingAnAliasKeepsWhoMaySendAsIt(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "user", "add", "grandma@example.test", "--password-file", writeTemp(t, "knitting-2024\n"), "--dir", b.Dir)
	mustRun(t, "", "alias", "add", "club@example.test", "me@example.test", "--permit", "me@example.test", "--dir", b.Dir)
	mustRun(t, "", "alias", "set", "club@example.test", "me@example.test,grandma@example.test", "--dir", b.Dir)
	if out := mustRun(t, "", "alias", "list", "--dir", b.Dir); !strings.Contains(out, "me@example.test,grandma@example.test  me@example.test") {
		t.Errorf("alias set without --permit dropped who may send as it:\n%s", out)
	}
	mustRun(t, "", "alias", "set", "club@example.test", "me@example.test", "--permit", "", "--dir", b.Dir)
	out := mustRun(t, "", "alias", "list", "--dir", b.Dir)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "club@example.test") && strings.TrimSpace(strings.TrimPrefix(l, "club@example.test")) != "me@example.test" {
			t.Errorf("--permit '' did not clear the list: %q", l)
		}
	}
	if _, errs, code := b.Cmd("", "alias", "set", "ghost@example.test", "me@example.test"); code == 0 {
		t.Errorf("alias set of a missing alias succeeded: %s", errs)
	}
}

// The admin starts a second box by mistake while the first runs: it
// refuses to start and names every port in use, each with what to do.
func TestASecondBoxOnTheSamePortsNamesEveryConflict(t *testing.T) {
	b := newBox(t)
	_, errs, code := b.Cmd("", "serve")
	if code != 1 {
		t.Fatalf("a second serve on the same ports: exit %d: %s", code, errs)
	}
	for _, want := range []string{
		fmt.Sprintf("SMTP: port %d is already in use", b.SMTP),
		fmt.Sprintf("IMAP: port %d is already in use", b.IMAP),
		fmt.Sprintf("HTTPS: port %d is already in use", b.HTTPS),
		"--smtp-port", "--imaps-port",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, errs)
		}
	}
	if n := strings.Count(errs, "\n"); n != 1 {
		t.Errorf("the refusal is %d lines, want one:\n%s", n, errs)
	}
}

// The admin of a trial box runs 'boxmail status' and opens the Status
// page at the same moment: both ask the box's own DNS server, never one
// outside the machine, and give the same verdict for every check.
func TestTheCommandLineAndTheWebGiveTheSameStatus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "boxmail-data")
	ports := testutil.FreePorts(t, 11)
	pw, cmd, _ := startQuickstart(t, dir, ports)
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	out, errs, _ := run(t, "", "status", "--no-ports", "--timeout", "2s", "--dir", dir)
	if want := fmt.Sprintf("asking the DNS servers of 'resolvers' in boxmail.conf: 127.0.0.1:%d", ports[5]); !strings.Contains(out, want) {
		t.Errorf("status does not say it asks the box's own DNS (%q):\n%s%s", want, out, errs)
	}
	cli := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && (f[0] == "ok" || f[0] == "warn" || f[0] == "fail") {
			cli[f[1]+" "+strings.Join(f[2:], " ")] = f[0]
		}
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/admin/api/status", ports[7]), nil)
	req.SetBasicAuth("me@example.test", pw)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var web []struct{ Level, Subject, Check, Found string }
	if err := json.NewDecoder(res.Body).Decode(&web); err != nil || len(web) == 0 {
		t.Fatalf("web status: %s: %v", res.Status, err)
	}
	for _, w := range web {
		found := false
		for k, level := range cli {
			if strings.HasPrefix(k, w.Subject+" "+w.Check+" ") || k == w.Subject+" "+w.Check {
				found = true
				if level != w.Level {
					t.Errorf("%s %s: the command line says %s, the web %s (%s)", w.Subject, w.Check, level, w.Level, w.Found)
				}
			}
		}
		if !found {
			t.Errorf("%s %s (%s on the web) is missing from 'boxmail status':\n%s", w.Subject, w.Check, w.Level, out)
		}
	}
}
