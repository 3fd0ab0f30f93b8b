package main

// 'boxmail install': a production box on a fresh Debian or Ubuntu server
// with systemd. It checks everything first (installcheck.go), then makes
// each change that is missing, in order: the system user, the data dir,
// the binary, the systemd unit, 'init', the data dir's owner, and the
// service enabled and started. What is already as it should be is left
// alone, so a second run changes nothing and says so. If a write fails,
// what this run wrote is removed again.
//
// --root DIR writes every file under DIR instead of / and runs neither
// useradd nor systemctl (tests use it); --dry-run prints the changes and
// makes none.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/safefile"

	"golang.org/x/term"
)

// Where 'boxmail install' puts things (under --root when given).
const (
	installBin     = "/usr/local/bin/boxmail"
	installUnit    = "/etc/systemd/system/boxmail.service"
	installDataDir = "/var/lib/boxmail"
	installService = "boxmail"
)

// unitFile is the systemd unit of the box: the server runs as user, can
// bind the ports below 1024 through CAP_NET_BIND_SERVICE and nothing
// else, sees the file system read-only except its data dir, and logs to
// the journal through stderr.
func unitFile(user, dataDir string) string {
	return `# Written by 'boxmail install'; running it again rewrites this file.
[Unit]
Description=boxmail mail server (SMTP, IMAP, POP3, DNS, web)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=` + user + `
Group=` + user + `
Environment=BOXMAIL_DIR=` + dataDir + `
ExecStart=` + installBin + ` serve --dir ` + dataDir + `
Restart=on-failure
RestartSec=5s
TimeoutStopSec=30s
LimitNOFILE=65536
UMask=0077

AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=` + dataDir + `
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`
}

var (
	unitSafePath = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)
	userName     = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

// installer is one run of 'boxmail install'.
type installer struct {
	e       *env
	root    string // "" for the real system
	dataDir string // installDataDir unless --dir says otherwise
	dryRun  bool
	user    string

	// The answers init needs, when the data dir has no config yet.
	needInit                         bool
	hostname, domain, admin, pwFile  string
	ipv4, ipv6                       string // --public-ipv4, --public-ipv6
	publicV4, publicV6               []netip.Addr
	password                         string
	uid, gid                         int // -1: no such user (yet)
	undo                             []func() error
	changed                          int
	binChanged, unitChanged, didInit bool
	records                          bytes.Buffer    // DNS records, after init
	planned                          map[string]bool // dirs a dry run would create
}

func cmdInstall(e *env, args []string) error {
	in := &installer{e: e, uid: -1, gid: -1, planned: map[string]bool{}}
	fset := newFlags(e, "install", &in.dataDir)
	fset.StringVar(&in.root, "root", "", "write every file under this directory instead of / and run neither useradd nor systemctl; the user is looked up in its etc/passwd (for tests and images)")
	fset.BoolVar(&in.dryRun, "dry-run", false, "print every change it would make, make none")
	fset.StringVar(&in.user, "user", installService, "the system user the server runs as")
	fset.StringVar(&in.hostname, "hostname", "", "the box's host name, e.g. box.example.net (asked when not given)")
	fset.StringVar(&in.domain, "domain", "", "the first mail domain, e.g. example.net (asked when not given)")
	fset.StringVar(&in.admin, "admin", "", "the first admin account, e.g. admin@example.net (asked when not given)")
	fset.StringVar(&in.pwFile, "password-file", "", "read the admin password from this file (default: generate one and print it)")
	fset.StringVar(&in.ipv4, "public-ipv4", "", "the box's public IPv4 address(es), comma-separated, for its DNS records (default: the public ones on this machine's interfaces; none under --root)")
	fset.StringVar(&in.ipv6, "public-ipv6", "", "the box's public IPv6 address(es), likewise")
	pos, err := parseFlags(e, fset, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	dirSet := false
	fset.Visit(func(f *flag.Flag) { dirSet = dirSet || f.Name == "dir" })
	switch {
	case !dirSet:
		in.dataDir = installDataDir // not $BOXMAIL_DIR: that is for the commands run later
	case !filepath.IsAbs(in.dataDir):
		return usagef("--dir %s: want an absolute path, such as %s", in.dataDir, installDataDir)
	}
	in.dataDir = filepath.Clean(in.dataDir)
	// Both go into the unit file and useradd's command line as they are.
	if !unitSafePath.MatchString(in.dataDir) {
		return usagef("--dir %q: want a path of letters, digits and . _ - / only (it goes into the systemd unit)", in.dataDir)
	}
	if !userName.MatchString(in.user) {
		return usagef("--user %q: want a user name such as boxmail (lower-case letters, digits, _ and -)", in.user)
	}
	if in.root != "" {
		if in.root, err = filepath.Abs(in.root); err != nil {
			return err
		}
	}
	if err := in.check(); err != nil {
		return err
	}
	return in.install()
}

// path is p under the root.
func (in *installer) path(p string) string {
	if in.root == "" {
		return p
	}
	return filepath.Join(in.root, p)
}

func (in *installer) sayf(format string, a ...any) { fmt.Fprintf(in.e.stdout, format+"\n", a...) }

// check makes every check before anything is written.
func (in *installer) check() error {
	if err := checkRoot(in.e); err != nil {
		return err
	}
	if err := checkDistro(in.root); err != nil {
		return err
	}
	if err := checkSystemd(in.root); err != nil {
		return err
	}
	ports, err := portsToCheck(in.e)
	if err != nil {
		return err
	}
	if err := checkPortsFree(ports); err != nil {
		return err
	}
	if in.uid, in.gid, err = lookupUser(in.root, in.user); err != nil && !errors.As(err, new(user.UnknownUserError)) {
		return err
	}
	if _, err := os.Stat(filepath.Join(in.path(in.dataDir), config.FileName)); err == nil {
		if in.hostname != "" || in.domain != "" || in.admin != "" {
			in.sayf("note: %s is already set up; --hostname, --domain and --admin are not used", in.dataDir)
		}
		return nil
	}
	in.needInit = true
	return in.initAnswers()
}

// initAnswers fills in and checks what init needs: from the flags, else
// asked on stdin (a default in brackets is taken on an empty answer).
func (in *installer) initAnswers() error {
	r := bufio.NewReader(in.e.stdin)
	f, ok := in.e.stdin.(*os.File)
	interactive := ok && term.IsTerminal(int(f.Fd()))
	ask := func(v *string, question, def string) {
		if *v != "" {
			return
		}
		if !interactive {
			*v = def // a script gives flags: what it leaves out has its default
			return
		}
		if def != "" {
			question += " [" + def + "]"
		}
		fmt.Fprintf(in.e.stderr, "%s: ", question)
		line, err := r.ReadString('\n')
		if err != nil {
			fmt.Fprintln(in.e.stderr) // end of input: the default
		}
		if *v = strings.TrimSpace(line); *v == "" {
			*v = def
		}
	}
	ask(&in.hostname, "host name of this box, e.g. box.example.net", "")
	if in.hostname == "" {
		return usagef("--hostname is required (--domain and --admin default to its parent domain and admin@ it; on a terminal, install asks)")
	}
	var err error
	if in.hostname, err = delivery.ParseHostedDomain(in.hostname); err != nil {
		return usagef("--hostname: %v", err)
	}
	_, parent, _ := strings.Cut(in.hostname, ".")
	ask(&in.domain, "first mail domain", parent)
	if in.domain, err = delivery.ParseHostedDomain(in.domain); err != nil {
		return usagef("--domain: %v", err)
	}
	ask(&in.admin, "admin account", "admin@"+in.domain)
	a, err := delivery.ParseAddress(in.admin)
	if err != nil {
		return usagef("--admin: %v", err)
	}
	if a.Domain != in.domain {
		return usagef("--admin %s is not in --domain %s", a, in.domain)
	}
	in.admin = a.String()
	if err := in.publicAddrs(); err != nil {
		return err
	}
	in.password = generatePassword()
	if in.pwFile != "" {
		if in.password, err = readPasswordFile(in.pwFile); err != nil {
			return err
		}
		if err := admin.CheckPassword(in.password, a); err != nil {
			return err
		}
	}
	return nil
}

// publicAddrs parses --public-ipv4 and --public-ipv6; when neither is
// given (and not under --root), it takes the public addresses of this
// machine's interfaces.
func (in *installer) publicAddrs() error {
	parse := func(flag, v string, v4 bool) ([]netip.Addr, error) {
		var l []netip.Addr
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil || a.Is4() != v4 || a.Zone() != "" {
				return nil, usagef("--%s: %q is not an IPv%s address", flag, s, map[bool]string{true: "4", false: "6"}[v4])
			}
			l = append(l, a)
		}
		return l, nil
	}
	var err error
	if in.publicV4, err = parse("public-ipv4", in.ipv4, true); err != nil {
		return err
	}
	if in.publicV6, err = parse("public-ipv6", in.ipv6, false); err != nil {
		return err
	}
	if in.ipv4 != "" || in.ipv6 != "" || in.root != "" {
		return nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil // the records then lack the addresses; 'boxmail status' says so
	}
	for _, ia := range addrs {
		p, err := netip.ParsePrefix(ia.String())
		if a := p.Addr(); err != nil || !a.IsGlobalUnicast() || a.IsPrivate() {
			continue
		} else if a.Is4() {
			in.publicV4 = append(in.publicV4, a)
		} else {
			in.publicV6 = append(in.publicV6, a)
		}
	}
	if len(in.publicV4)+len(in.publicV6) > 0 {
		in.sayf("public addresses (from this machine's interfaces; --public-ipv4/--public-ipv6 to choose): %s", joinAddrs(append(in.publicV4, in.publicV6...)))
	}
	return nil
}

func joinAddrs(l []netip.Addr) string {
	var s []string
	for _, a := range l {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

// install makes the missing changes, then prints what to do next.
func (in *installer) install() (err error) {
	defer func() {
		if err != nil && !in.dryRun {
			err = in.rollback(err)
		}
	}()
	for _, step := range []func() error{in.stepUser, in.stepDirs, in.stepBinary, in.stepUnit, in.stepInit, in.stepOwner} {
		if err := step(); err != nil {
			return err
		}
	}
	in.undo = nil // the files are complete: a failing systemctl keeps them
	if err := in.stepSystemd(); err != nil {
		return err
	}
	in.finish()
	return nil
}

// did reports a change: made, or with --dry-run to be made. It returns
// whether to make it.
func (in *installer) did(what string) bool {
	in.changed++
	if in.dryRun {
		in.sayf("would: %s", what)
		return false
	}
	in.sayf("done: %s", what)
	return true
}

// rollback undoes this run's writes, newest first.
func (in *installer) rollback(cause error) error {
	errs := []error{cause}
	for i := len(in.undo) - 1; i >= 0; i-- {
		if err := in.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 1 {
		return fmt.Errorf("%w (what this run had written is removed again)", cause)
	}
	return errors.Join(errs...)
}

func (in *installer) stepUser() error {
	if in.uid >= 0 {
		return nil
	}
	args := []string{"--system", "--user-group", "--home-dir", in.dataDir, "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "boxmail mail server", in.user}
	what := "create the system user " + in.user + " (useradd " + strings.Join(args[:len(args)-3], " ") + " --comment '" + args[len(args)-2] + "' " + in.user + ")"
	if in.root != "" {
		in.sayf("skipped (--root): %s", what)
		return nil
	}
	if !in.did(what) {
		return nil
	}
	if err := runTool("useradd", args...); err != nil {
		return err
	}
	in.undo = append(in.undo, func() error { return runTool("userdel", in.user) })
	var err error
	if in.uid, in.gid, err = lookupUser(in.root, in.user); err != nil {
		return fmt.Errorf("the new user %s: %w", in.user, err)
	}
	return nil
}

// lookupUser returns a user's uid and gid: this system's, or under a
// root directory those of its /etc/passwd; -1, -1 and the error (a
// user.UnknownUserError when there is no such user).
func lookupUser(root, name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if root != "" {
		u, err = lookupPasswd(filepath.Join(root, "/etc/passwd"), name)
	}
	if err != nil {
		return -1, -1, err
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return -1, -1, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return -1, -1, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	return uid, gid, nil
}

// lookupPasswd finds a user in a passwd file (a missing file has none).
func lookupPasswd(file, name string) (*user.User, error) {
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[0] == name {
			return &user.User{Username: name, Uid: f[2], Gid: f[3]}, nil
		}
	}
	return nil, user.UnknownUserError(name)
}

// stepDirs creates the parents the files go in (mode 0755, as they are on
// any system) and the data dir (0700).
func (in *installer) stepDirs() error {
	for _, d := range []string{filepath.Dir(installBin), filepath.Dir(installUnit), filepath.Dir(in.dataDir)} {
		if err := in.mkdirs(in.path(d), 0o755); err != nil {
			return err
		}
	}
	dd := in.path(in.dataDir)
	fi, err := os.Stat(dd)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return in.mkdirs(dd, 0o700)
	case err != nil:
		return err
	case fi.Mode().Perm() != 0o700:
		if in.did(fmt.Sprintf("chmod 0700 %s (was %04o)", dd, fi.Mode().Perm())) {
			return os.Chmod(dd, 0o700)
		}
	}
	return nil
}

// mkdirs creates dir and its missing parents with mode perm, remembering
// them for rollback.
func (in *installer) mkdirs(dir string, perm os.FileMode) error {
	if _, err := os.Stat(dir); err == nil || in.planned[dir] {
		return nil
	}
	if err := in.mkdirs(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if !in.did(fmt.Sprintf("create %s (mode %04o)", dir, perm)) {
		in.planned[dir] = true
		return nil
	}
	if err := os.Mkdir(dir, perm); err != nil {
		return err
	}
	in.undo = append(in.undo, func() error { return os.RemoveAll(dir) })
	return os.Chmod(dir, perm) // past the umask
}

// writeFile writes data to path durably with mode perm when it differs,
// remembering the old content for rollback. It reports whether it wrote.
func (in *installer) writeFile(path string, data []byte, perm os.FileMode, what string) (bool, error) {
	old, err := os.ReadFile(path)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if existed && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return false, nil
		}
	}
	if !in.did(what + " " + path) {
		return true, nil
	}
	if err := safefile.Write(path, data, perm); err != nil {
		return false, err
	}
	in.undo = append(in.undo, func() error {
		if existed {
			return safefile.Write(path, old, perm)
		}
		return os.Remove(path)
	})
	return true, nil
}

func (in *installer) stepBinary() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dst := in.path(installBin)
	if a, errA := os.Stat(self); errA == nil {
		if b, errB := os.Stat(dst); errB == nil && os.SameFile(a, b) {
			return nil
		}
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	in.binChanged, err = in.writeFile(dst, data, 0o755, "install this binary ("+version+") as")
	return err
}

func (in *installer) stepUnit() (err error) {
	in.unitChanged, err = in.writeFile(in.path(installUnit), []byte(unitFile(in.user, in.dataDir)), 0o644, "write the systemd unit")
	return err
}

// stepInit runs init in the data dir, and keeps the DNS records to print.
func (in *installer) stepInit() error {
	if !in.needInit {
		return nil
	}
	dd := in.path(in.dataDir)
	if !in.did(fmt.Sprintf("boxmail init --dir %s --hostname %s --domain %s --admin %s", dd, in.hostname, in.domain, in.admin)) {
		return nil
	}
	cfg := initConfig(in.hostname)
	cfg.PublicIPv4, cfg.PublicIPv6 = in.publicV4, in.publicV6
	if err := initBox(dd, cfg, in.domain, in.admin, in.password); err != nil {
		return err
	}
	in.didInit = true
	in.undo = append(in.undo, func() error { return removeInit(dd) })
	var errb bytes.Buffer
	re := &env{stdin: strings.NewReader(""), stdout: &in.records, stderr: &errb, getenv: func(string) string { return "" }}
	if err := dnsRecords(re, []string{"--dir", dd}); err != nil {
		fmt.Fprintf(&in.records, "(the records could not be listed: %s; run 'boxmail dns records --dir %s')\n", oneLine(err.Error()), in.dataDir)
	}
	return nil
}

// removeInit removes what init wrote in dir (which this run did not create,
// or the mkdir's rollback removes it whole).
func removeInit(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// stepOwner gives the data dir and everything in it to the user.
func (in *installer) stepOwner() error {
	dd := in.path(in.dataDir)
	if in.uid < 0 {
		if in.dryRun && in.root == "" {
			in.did("chown -R " + in.user + ": " + dd)
		} else if in.root != "" {
			in.sayf("skipped (--root): chown -R %s: %s (no user %s in %s)", in.user, dd, in.user, in.path("/etc/passwd"))
		}
		return nil
	}
	if in.root != "" && os.Geteuid() != 0 {
		in.sayf("skipped (--root): chown -R %s: %s (not root)", in.user, dd)
		return nil
	}
	if _, err := os.Stat(dd); err != nil && in.dryRun {
		in.did("chown -R " + in.user + ": " + dd)
		return nil
	}
	var wrong []string
	err := filepath.WalkDir(dd, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != in.uid || int(st.Gid) != in.gid) {
			wrong = append(wrong, p)
		}
		return nil
	})
	if err != nil || len(wrong) == 0 {
		return err
	}
	if !in.did(fmt.Sprintf("chown -R %s: %s (%d files)", in.user, dd, len(wrong))) {
		return nil
	}
	for _, p := range wrong {
		if err := os.Lchown(p, in.uid, in.gid); err != nil {
			return err
		}
	}
	return nil
}

// stepSystemd reloads systemd after a new unit, enables the service and
// starts it (restarts it when its binary or unit changed).
func (in *installer) stepSystemd() error {
	if in.root != "" {
		in.sayf("skipped (--root): systemctl daemon-reload; systemctl enable %s; systemctl start %s", installService, installService)
		return nil
	}
	enabled := runTool("systemctl", "is-enabled", "--quiet", installService) == nil
	active := runTool("systemctl", "is-active", "--quiet", installService) == nil
	for _, args := range systemdActions(in.unitChanged, in.binChanged, enabled, active) {
		if !in.did("systemctl " + strings.Join(args, " ")) {
			continue
		}
		if err := runTool("systemctl", args...); err != nil {
			return fmt.Errorf("%w: the files are in place; 'journalctl -u %s' says why", err, installService)
		}
	}
	return nil
}

// systemdActions are the systemctl commands that leave the service enabled
// and running the binary and unit now installed: a changed unit is
// reloaded, a running service whose binary or unit changed restarts.
func systemdActions(unitChanged, binChanged, enabled, active bool) [][]string {
	var l [][]string
	if unitChanged {
		l = append(l, []string{"daemon-reload"})
	}
	if !enabled {
		l = append(l, []string{"enable", installService})
	}
	switch {
	case !active:
		l = append(l, []string{"start", installService})
	case unitChanged || binChanged:
		l = append(l, []string{"restart", installService})
	}
	return l
}

// runTool runs a system command; its output goes into the error.
func runTool(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// finish prints the outcome and the next steps.
func (in *installer) finish() {
	switch {
	case in.changed == 0:
		in.sayf("nothing changed: boxmail is already installed (%s, %s, %s)", installBin, installUnit, in.dataDir)
	case in.dryRun:
		in.sayf("dry run: nothing was changed; run again without --dry-run to make these %d changes", in.changed)
	}
	if in.didInit {
		in.sayf("\nadmin account: %s", in.admin)
		if in.pwFile == "" {
			in.sayf("password:      %s", in.password)
		}
		in.sayf("\nDNS records to publish at your domain's DNS host (or delegate the domain to this box, which serves them itself on port 53):\n%s", in.records.String())
	}
	if in.dryRun {
		return
	}
	host := in.hostname
	if cfg, err := config.Load(in.path(in.dataDir)); err == nil {
		host = cfg.Hostname
	}
	in.sayf(`next steps:
  1. publish the DNS records (again any time: sudo -u %[1]s boxmail dns records --dir %[2]s)
  2. check DNS, certificate and ports: sudo -u %[1]s boxmail status --dir %[2]s
  3. sign in to the admin panel at https://%[4]s/admin; the server's log: journalctl -u %[3]s`, in.user, in.dataDir, installService, host)
}
