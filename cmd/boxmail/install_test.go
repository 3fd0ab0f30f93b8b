package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The unit runs the server unprivileged, with the one capability it needs
// and the sandbox the issue asks for.
func TestUnitFileIsHardened(t *testing.T) {
	u := unitFile("boxmail", "/var/lib/boxmail")
	for _, want := range []string{
		"\nUser=boxmail\n", "\nGroup=boxmail\n",
		"\nExecStart=/usr/local/bin/boxmail serve --dir /var/lib/boxmail\n",
		"\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n", "\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
		"\nProtectSystem=strict\n", "\nReadWritePaths=/var/lib/boxmail\n", "\nNoNewPrivileges=yes\n",
		"\nPrivateTmp=yes\n", "\nProtectHome=yes\n", "\nProtectKernelTunables=yes\n",
		"\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n", "\nWantedBy=multi-user.target\n",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	if u := unitFile("mail", "/srv/box"); !strings.Contains(u, "\nReadWritePaths=/srv/box\n") || !strings.Contains(u, "\nUser=mail\n") {
		t.Errorf("unit for user mail in /srv/box:\n%s", u)
	}
}

func TestCheckDistro(t *testing.T) {
	for _, tc := range []struct{ osRelease, wantErr string }{
		{"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n", ""},
		{"NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n", ""},
		{"ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", ""},
		{"PRETTY_NAME=\"Fedora Linux 40\"\nID=fedora\n", "this is Fedora Linux 40 (ID=fedora), and boxmail install supports Debian and Ubuntu only"},
		{"", "cannot tell which Linux distribution this is"},
	} {
		root := t.TempDir()
		if tc.osRelease != "" {
			writeTestFile(t, filepath.Join(root, "etc/os-release"), tc.osRelease)
		}
		err := checkDistro(root)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("os-release %q: %v, want %q", tc.osRelease, err, tc.wantErr)
		}
	}
}

func TestCheckSystemdAndRoot(t *testing.T) {
	root := t.TempDir()
	if err := checkSystemd(root); err == nil || !strings.Contains(err.Error(), "systemd is not running here") {
		t.Errorf("no /run/systemd/system: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkSystemd(root); err != nil {
		t.Errorf("with /run/systemd/system: %v", err)
	}
	e := &env{getenv: func(k string) string { return map[string]string{envInstallEUID: "1000"}[k] }}
	if err := checkRoot(e); err == nil || !strings.Contains(err.Error(), "must run as root") {
		t.Errorf("uid 1000: %v", err)
	}
	e.getenv = func(k string) string { return map[string]string{envInstallEUID: "0"}[k] }
	if err := checkRoot(e); err != nil {
		t.Errorf("uid 0: %v", err)
	}
}

// The ports checked are the box's eleven, DNS on UDP too.
func TestPortsToCheck(t *testing.T) {
	ps, err := portsToCheck(&env{getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for _, p := range ps {
		got[p.port] = p.udp
	}
	for _, n := range []int{25, 53, 80, 443, 587, 465, 993, 995, 143, 110, 4190} {
		if _, ok := got[n]; !ok {
			t.Errorf("port %d not checked", n)
		}
	}
	if len(got) != 11 || !got[53] || got[25] {
		t.Errorf("ports checked: %v", got)
	}
}

// A port this process listens on is named, with the program holding it.
func TestATakenPortIsNamedWithItsHolder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	err = checkPortsFree([]installPort{{port: port}})
	comm, rerr := os.ReadFile("/proc/self/comm")
	if rerr != nil {
		t.Skipf("no /proc: %v", rerr)
	}
	want := "port " + strconv.Itoa(port) + " (TCP) is taken by " + strings.TrimSpace(string(comm)) + " (pid " + strconv.Itoa(os.Getpid()) + ")"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("checkPortsFree: %v, want %q", err, want)
	}
	ln.Close()
	if err := checkPortsFree([]installPort{{port: port}}); err != nil {
		t.Errorf("after close: %v", err)
	}
}

func TestKnownHoldersGetTheirFix(t *testing.T) {
	for _, tc := range []struct {
		port int
		comm string
		want string
	}{
		{53, "systemd-resolve", "port 53 (UDP) is taken by systemd-resolved's stub resolver (systemd-resolve, pid 7): set DNSStubListener=no"},
		{25, "master", "port 25 (UDP) is taken by Postfix (master, pid 7)"},
		{443, "nginx", "systemctl disable --now nginx"},
		{80, "frob", "port 80 (UDP) is taken by frob (pid 7): stop it"},
	} {
		if got := portTaken(tc.port, "UDP", &holder{pid: 7, comm: tc.comm}); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.comm, got, tc.want)
		}
	}
	if got := portTaken(25, "TCP", nil); !strings.Contains(got, "ss -lntup") {
		t.Errorf("unknown holder: %q", got)
	}
}

// fakeRoot is a root directory that passes the checks.
func fakeRoot(t *testing.T) string {
	root := t.TempDir()
	writeTestFile(t, filepath.Join(root, "etc/os-release"), "ID=debian\n")
	if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runInstall runs 'boxmail install --root ROOT' in-process as root (the
// test knob) with no port checked.
func runInstall(root string, args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	knobs := map[string]string{envInstallEUID: "0", envInstallPorts: "none"}
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errs, getenv: func(k string) string { return knobs[k] }}
	code := run(e, append([]string{"install", "--root", root, "--user", "no-such-user-boxmail"}, args...))
	return code, out.String(), errs.String()
}

// listTree is every path under root with its mode, for before/after.
func listTree(t *testing.T, root string) string {
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(strings.TrimPrefix(p, root) + " " + fi.Mode().String() + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A write that fails midway leaves the root as it was: here the unit's
// directory is a file.
func TestAFailedWriteIsUndone(t *testing.T) {
	root := fakeRoot(t)
	writeTestFile(t, filepath.Join(root, "etc/systemd/system"), "not a directory")
	before := listTree(t, root)
	code, out, errs := runInstall(root, "--hostname", "box.example.net")
	if code == 0 || !strings.Contains(errs, "what this run had written is removed again") {
		t.Errorf("exit %d, stderr %q\n%s", code, errs, out)
	}
	if after := listTree(t, root); after != before {
		t.Errorf("the root changed:\nbefore:\n%safter:\n%s", before, after)
	}
}

// A second run and a dry run change nothing; a dry run of a new box
// lists the changes.
func TestInstallTwiceAndDryRunInProcess(t *testing.T) {
	root := fakeRoot(t)
	before := listTree(t, root)
	code, out, errs := runInstall(root, "--dry-run", "--hostname", "box.example.net")
	if code != 0 || !strings.Contains(out, "would: write the systemd unit "+filepath.Join(root, installUnit)) || !strings.Contains(out, "dry run: nothing was changed") {
		t.Fatalf("dry run: exit %d %s\n%s", code, errs, out)
	}
	if after := listTree(t, root); after != before {
		t.Errorf("the dry run changed the root:\n%s", after)
	}
	if code, out, errs := runInstall(root, "--hostname", "box.example.net"); code != 0 || !strings.Contains(out, "done: boxmail init") {
		t.Fatalf("install: exit %d %s\n%s", code, errs, out)
	}
	if code, out, errs := runInstall(root); code != 0 || !strings.Contains(out, "nothing changed") || strings.Contains(out, "done:") {
		t.Errorf("second run: exit %d %s\n%s", code, errs, out)
	}
	if code, out, _ := runInstall(root, "--dry-run"); code != 0 || !strings.Contains(out, "nothing changed") || strings.Contains(out, "would:") {
		t.Errorf("dry run of an installed box:\n%s", out)
	}
}

// What goes into the unit file and useradd's command line is checked.
func TestInstallRefusesUnsafeNames(t *testing.T) {
	root := fakeRoot(t)
	for _, args := range [][]string{{"--dir", "/var/lib/box mail"}, {"--dir", "relative"}, {"--user", "Box\nExecStartPre=/bin/sh"}} {
		code, _, errs := runInstall(root, append(args, "--hostname", "box.example.net")...)
		if code != 2 || !strings.Contains(errs, args[0]) {
			t.Errorf("%q: exit %d, %q", args, code, errs)
		}
	}
}

func TestSystemdActions(t *testing.T) {
	for _, tc := range []struct {
		unit, bin, enabled, active bool
		want                       string
	}{
		{true, true, false, false, "daemon-reload; enable boxmail; start boxmail"}, // a first install
		{false, false, true, true, ""},                                             // a second run
		{false, true, true, true, "restart boxmail"},                               // an upgrade
		{true, false, true, true, "daemon-reload; restart boxmail"},                // a new unit
		{false, false, true, false, "start boxmail"},                               // stopped by hand
		{false, false, false, true, "enable boxmail"},                              // disabled by hand
	} {
		var got []string
		for _, a := range systemdActions(tc.unit, tc.bin, tc.enabled, tc.active) {
			got = append(got, strings.Join(a, " "))
		}
		if g := strings.Join(got, "; "); g != tc.want {
			t.Errorf("%+v: %q, want %q", tc, g, tc.want)
		}
	}
}

// Under --root the user is the root's: its etc/passwd.
func TestLookupUserUnderARoot(t *testing.T) {
	root := t.TempDir()
	if _, _, err := lookupUser(root, "boxmail"); err == nil {
		t.Error("found boxmail in a root without etc/passwd")
	}
	writeTestFile(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nboxmail:x:998:997:boxmail mail server:/var/lib/boxmail:/usr/sbin/nologin\n")
	if uid, gid, err := lookupUser(root, "boxmail"); err != nil || uid != 998 || gid != 997 {
		t.Errorf("boxmail: %d %d %v", uid, gid, err)
	}
	if _, _, err := lookupUser(root, "bob"); err == nil {
		t.Error("found bob")
	}
}
