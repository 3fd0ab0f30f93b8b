package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// 'boxmail install --root DIR' on a fake root: every file it writes, the
// unit passing systemd-analyze, a second run and a dry run changing
// nothing, and each bad input refused with the root left as it was.

// installRoot is a fake root directory that passes install's checks: a
// Debian os-release and systemd "running".
func installRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/os-release"), "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nID=debian\n")
	if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runInstall runs the real binary's 'install' with the test knobs in env
// (BOXMAIL_INSTALL_PORTS=none unless env sets it; BOXMAIL_INSTALL_EUID=0
// when the tests do not run as root, so --root works for anyone).
func runInstall(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"install"}, args...)...)
	cmd.Env = append(os.Environ(), "BOXMAIL_DIR=", "BOXMAIL_INSTALL_PORTS=none")
	if os.Geteuid() != 0 {
		cmd.Env = append(cmd.Env, "BOXMAIL_INSTALL_EUID=0")
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// treeState lists every path under root with its mode, owner, size and
// modification time: two equal states mean nothing was written.
func treeState(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v %d:%d %d %d\n", strings.TrimPrefix(p, root), fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var installArgs = []string{"--hostname", "box.example.net", "--domain", "example.net", "--admin", "admin@example.net"}

func TestInstallWritesEveryFile(t *testing.T) {
	root := installRoot(t)
	// No user boxmail here and no useradd under --root: the files stay
	// the tester's (TestInstallGivesTheDataDirToTheUser checks chown).
	owner, args := os.Getuid(), append([]string{"--root", root, "--public-ipv4", "203.0.113.7"}, installArgs...)
	out, errs, code := runInstall(t, nil, args...)
	if code != 0 {
		t.Fatalf("install: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"skipped (--root): create the system user", "skipped (--root): systemctl daemon-reload",
		"done: write the systemd unit " + filepath.Join(root, "etc/systemd/system/boxmail.service"),
		"admin account: admin@example.net", "next steps:",
		"boxmail status --dir /var/lib/boxmail", "https://box.example.net/admin",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	for _, re := range []string{`password: +\S{12,}`, `(?m)^@ +MX +10 box\.example\.net\.$`, `(?m)^box +A +203\.0\.113\.7$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("install output does not match /%s/:\n%s", re, out)
		}
	}
	self, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path  string
		mode  os.FileMode
		owned bool // by the service's user
	}{
		{"usr/local/bin/boxmail", 0o755, false},
		{"etc/systemd/system/boxmail.service", 0o644, false},
		{"var/lib/boxmail", 0o700 | os.ModeDir, true},
		{"var/lib/boxmail/boxmail.conf", 0o600, true},
		{"var/lib/boxmail/boxmail.db", 0o600, true},
		{"var/lib/boxmail/tls", 0o700 | os.ModeDir, true},
		{"var/lib/boxmail/tls/key.pem", 0o600, true},
		{"var/lib/boxmail/tls/cert.pem", 0o644, true},
	} {
		fi, err := os.Stat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		if fi.Mode() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, fi.Mode(), f.mode)
		}
		if uid := int(fi.Sys().(*syscall.Stat_t).Uid); f.owned && uid != owner {
			t.Errorf("%s: owner %d, want %d", f.path, uid, owner)
		}
	}
	if got, err := os.ReadFile(filepath.Join(root, "usr/local/bin/boxmail")); err != nil || !bytes.Equal(got, self) {
		t.Errorf("the installed binary is not this one (%v)", err)
	}
	conf, err := os.ReadFile(filepath.Join(root, "var/lib/boxmail/boxmail.conf"))
	if err != nil || !strings.Contains(string(conf), "\nhostname = box.example.net\n") || !strings.Contains(string(conf), "\nlog_format = text\n") ||
		!strings.Contains(string(conf), "\npublic_ipv4 = 203.0.113.7\n") {
		t.Errorf("boxmail.conf (%v):\n%s", err, conf)
	}
	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/boxmail.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/boxmail serve --dir /var/lib/boxmail", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "ProtectSystem=strict", "ReadWritePaths=/var/lib/boxmail", "NoNewPrivileges=yes",
		"PrivateTmp=yes", "ProtectHome=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("unit lacks %q", want)
		}
	}
	verifyUnit(t, root, unit)
	if got := mustRun(t, "", "user", "list", "--dir", filepath.Join(root, "var/lib/boxmail")); got != "admin@example.net\tadmin\n" {
		t.Errorf("user list of the installed box: %q", got)
	}

	// A second run changes nothing, and says so.
	before := treeState(t, root)
	out, errs, code = runInstall(t, nil, "--root", root)
	if code != 0 || !strings.Contains(out, "nothing changed: boxmail is already installed") || strings.Contains(out, "done:") {
		t.Errorf("second run: exit %d\n%s%s", code, out, errs)
	}
	if after := treeState(t, root); after != before {
		t.Errorf("the second run changed files:\nbefore:\n%safter:\n%s", before, after)
	}
}

// As root, under --root, the data dir and everything in it go to the
// user boxmail of the root's etc/passwd (no user is created under --root);
// the binary and the unit stay root's.
func TestInstallGivesTheDataDirToTheUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	const uid = 64999
	root := installRoot(t)
	writeFile(t, filepath.Join(root, "etc/passwd"), fmt.Sprintf("root:x:0:0:root:/root:/bin/bash\nboxmail:x:%d:%d:boxmail mail server:/var/lib/boxmail:/usr/sbin/nologin\n", uid, uid))
	out, errs, code := runInstall(t, nil, append([]string{"--root", root}, installArgs...)...)
	if code != 0 || !strings.Contains(out, "done: chown -R boxmail: "+filepath.Join(root, "var/lib/boxmail")) {
		t.Fatalf("install: exit %d\n%s%s", code, out, errs)
	}
	err := filepath.Walk(filepath.Join(root, "var/lib/boxmail"), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != uid {
			t.Errorf("%s: owner %d:%d, want boxmail (%d:%d)", p, st.Uid, st.Gid, uid, uid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"usr/local/bin/boxmail", "etc/systemd/system/boxmail.service"} {
		if fi, err := os.Stat(filepath.Join(root, f)); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("%s: not root's (%v)", f, err)
		}
	}
	if out, _, _ := runInstall(t, nil, "--root", root); !strings.Contains(out, "nothing changed") {
		t.Errorf("second run:\n%s", out)
	}
}

// verifyUnit runs systemd-analyze on the unit. The ExecStart binary must
// exist on this machine, and under --root it is ROOT/usr/local/bin/boxmail,
// so systemd-analyze reads a copy of the unit (named boxmail.service, as
// verify wants) whose ExecStart points there; every other line is the
// file install wrote. ('verify --root=ROOT' would need the whole of
// systemd's units under ROOT.) verify exits 0 on lines it ignores, so its
// output must be empty too; 'security --offline' scores the sandbox.
func verifyUnit(t *testing.T, root string, unit []byte) {
	t.Helper()
	sa := needTool(t, "systemd-analyze")
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "boxmail.service")
	installed := filepath.Join(root, "usr/local/bin/boxmail")
	writeFile(t, copyPath, strings.Replace(string(unit), "ExecStart=/usr/local/bin/boxmail ", "ExecStart="+installed+" ", 1))
	out, err := exec.Command(sa, "verify", "--man=no", copyPath).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(sa, "security", "--offline=yes", "--threshold=25", "--no-pager", copyPath).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security (exposure above 2.5): %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`exposure level for boxmail.service: ([0-9.]+)`).FindSubmatch(out); m != nil {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	}
}

func TestInstallDryRunWritesNothing(t *testing.T) {
	root := installRoot(t)
	before := treeState(t, root)
	out, errs, code := runInstall(t, nil, append([]string{"--root", root, "--dry-run"}, installArgs...)...)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"would: install this binary", "would: write the systemd unit", "would: boxmail init --dir " + filepath.Join(root, "var/lib/boxmail") + " --hostname box.example.net",
		"would: create " + filepath.Join(root, "var/lib/boxmail") + " (mode 0700)", "dry run: nothing was changed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if after := treeState(t, root); after != before {
		t.Errorf("the dry run wrote:\n%s", after)
	}
}

// Each bad input is one clear line, a non-zero exit, and the root as it
// was.
func TestInstallRefusesBadInputAndWritesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name  string
		setup func(root string)
		env   []string
		want  string
	}{
		{"unknown distro", func(root string) {
			writeFile(t, filepath.Join(root, "etc/os-release"), "PRETTY_NAME=\"Fedora Linux 40\"\nID=fedora\n")
		}, nil, `this is Fedora Linux 40 \(ID=fedora\), and boxmail install supports Debian and Ubuntu only`},
		{"no os-release", func(root string) { os.Remove(filepath.Join(root, "etc/os-release")) }, nil, `cannot tell which Linux distribution this is`},
		{"no systemd", func(root string) { os.RemoveAll(filepath.Join(root, "run")) }, nil, `systemd is not running here \(no .*/run/systemd/system\)`},
		{"port taken", func(string) {}, []string{"BOXMAIL_INSTALL_PORTS=" + strconv.Itoa(port)},
			fmt.Sprintf(`port %d \(TCP\) is taken by \S+ \(pid %d\): stop it or move it`, port, os.Getpid())},
		{"not root", func(string) {}, []string{"BOXMAIL_INSTALL_EUID=1000"}, `must run as root .*: run it with sudo`},
		{"bad hostname", func(string) {}, nil, `--hostname: .*`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := installRoot(t)
			tc.setup(root)
			before := treeState(t, root)
			args := append([]string{"--root", root}, installArgs...)
			if tc.name == "bad hostname" {
				args = []string{"--root", root, "--hostname", "box"}
			}
			out, errs, code := runInstall(t, tc.env, args...)
			if code == 0 || strings.Count(errs, "\n") != 1 || !regexp.MustCompile(tc.want).MatchString(errs) {
				t.Errorf("exit %d, stderr %q, want one line matching /%s/\n%s", code, errs, tc.want, out)
			}
			if after := treeState(t, root); after != before {
				t.Errorf("the root changed:\nbefore:\n%safter:\n%s", before, after)
			}
		})
	}
}

// Really not root: the binary run as nobody (setpriv, when the tests run
// as root) refuses before it looks at anything else.
func TestInstallAsNobodyIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: TestInstallRefusesBadInputAndWritesNothing covers it through the test knob")
	}
	setpriv := needTool(t, "setpriv")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "boxmail")
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, bin, string(data))
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	root := installRoot(t)
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	before := treeState(t, root)
	cmd := exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin, "install", "--root", root}, installArgs...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "BOXMAIL_INSTALL_PORTS=none"}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "must run as root") {
		t.Errorf("as nobody: %v\n%s", err, out)
	}
	if after := treeState(t, root); after != before {
		t.Errorf("the root changed:\n%s", after)
	}
}

// log_format = json: every line the server logs is one JSON object.
func TestLogFormatJSON(t *testing.T) {
	b := newBoxWith(t, map[string]string{"log_format": "json"}) // started
	// A session and a failed login are logged.
	c := b.Dial(b.Submission)
	c.Expect("^220 ")
	c.Send("EHLO client.example")
	c.Expect("^250 ")
	c.Send("QUIT")
	c.Expect("^221 ")
	in := b.Dial(b.IMAP)
	in.Expect(`^\* OK`)
	in.Send(`a LOGIN "nobody@example.test" "wrong"`)
	in.Expect("^a (NO|BAD)")
	b.Stop()
	lines := strings.Split(strings.TrimSpace(b.stderr.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("the server logged nothing")
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("not a JSON log record: %q (%v)", l, err)
		}
	}
}
