// Package test holds boxmail's end-to-end tests: they build the real
// binary once, start it per test on free loopback ports with a temporary
// data dir, and drive it with clients nobody here wrote (swaks, Python's
// smtplib and imaplib) and with scripted protocol dialogs (dialogs/).
package test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
	"boxmail/internal/testutil/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	if b := os.Getenv("BOXMAIL_E2E_BINARY"); b != "" {
		// test/e2e.sh built it once for the many processes it runs.
		binary = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "boxmail-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "boxmail")
	cmd := exec.Command("go", "build", "-o", binary, "../cmd/boxmail")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if os.Getenv("BOXMAIL_E2E_RACE") != "" {
		// make test-race: the servers under test run with the race
		// detector; a race makes the binary exit 66 at Stop, which fails.
		cmd = exec.Command("go", "build", "-race", "-o", binary, "../cmd/boxmail")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building boxmail: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if err := pgtest.Stop(); err != nil { // newPGBox's cluster
		fmt.Fprintf(os.Stderr, "stopping the test PostgreSQL: %v\n", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// needTool skips (or, with CI=true, fails) a test when an external tool
// is missing.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI but not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// Box is a running boxmail under test.
type Box struct {
	t        *testing.T
	Dir      string
	Domain   string
	Admin    string
	Password string
	StoreURL string // store_url: "" for SQLite in Dir (newPGBox: PostgreSQL)
	// Addr is the loopback address the box listens on and is dialled
	// at ("" for 127.0.0.1): the nodes of a cluster test each have
	// their own (startPGCluster).
	Addr string
	// BodyStore is the box's body_store setting ("" for the default),
	// which the test process needs to read its large bodies.
	BodyStore                                  string
	SMTP, Submission, Submissions, IMAP, IMAPS int
	DNS                                        int // UDP and TCP
	HTTP, HTTPS                                int // web
	POP3, POP3S                                int
	cmd                                        *exec.Cmd
	stderr                                     *syncBuffer
	exited                                     chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testPassword = "family-secret-42"

// run runs a boxmail command and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return runWithin(t, 10*time.Minute, stdin, args...)
}

// runWithin is run with a time limit: a command still running then is
// killed and fails the test.
func runWithin(t *testing.T, limit time.Duration, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "BOXMAIL_DIR=")
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("boxmail %s did not finish within %v\n%s%s", strings.Join(args, " "), limit, out.String(), errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mustRun runs a boxmail command that must succeed.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errs, code := run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("boxmail %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// newBox initialises a data dir for example.test with admin
// me@example.test, moves it to free loopback ports and starts it.
func newBox(t *testing.T) *Box {
	t.Helper()
	return newBoxWith(t, nil)
}

// newBoxWith is newBox with more config settings (key: value) written
// before the start, e.g. "resolvers" or "trusted_networks".
func newBoxWith(t *testing.T, settings map[string]string) *Box {
	t.Helper()
	return newBoxFor(t, "example.test", settings)
}

// newBoxFor is newBoxWith for another domain (hostname mail.DOMAIN, admin
// me@DOMAIN): a second box a test talks to. With BOXMAIL_E2E_PG=1 (make
// test-pg's e2e part) the box's store is on PostgreSQL, as newPGBox's.
func newBoxFor(t *testing.T, domain string, settings map[string]string) *Box {
	t.Helper()
	if os.Getenv("BOXMAIL_E2E_PG") == "1" {
		return newBoxOn(t, domain, pgDatabase(t), settings)
	}
	return newBoxOn(t, domain, "", settings)
}

// pgDatabase is a fresh database of the test run's private PostgreSQL
// cluster. Without initdb the test is skipped (with CI=true: failed).
func pgDatabase(t *testing.T) string {
	t.Helper()
	needTool(t, "initdb")
	needTool(t, "pg_ctl")
	url, err := pgtest.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// newPGBox is newBoxWith on PostgreSQL: a fresh database of the test
// run's private cluster (internal/testutil/pgtest) is the box's store.
// Without initdb the test is skipped (with CI=true: failed).
func newPGBox(t *testing.T, settings map[string]string) *Box {
	t.Helper()
	return newBoxOn(t, "example.test", pgDatabase(t), settings)
}

// newBoxOn starts a box for domain with its store at storeURL ("": SQLite).
func newBoxOn(t *testing.T, domain, storeURL string, settings map[string]string) *Box {
	t.Helper()
	return newBoxAt(t, domain, storeURL, "", settings)
}

// newBoxAt is newBoxOn listening on the loopback address addr ("" for
// 127.0.0.1).
func newBoxAt(t *testing.T, domain, storeURL, addr string, settings map[string]string) *Box {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "..", "pw-"+filepath.Base(dir))
	os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600)
	t.Cleanup(func() { os.Remove(pwFile) })
	data := filepath.Join(dir, "data")
	initArgs := []string{"init", "--dir", data, "--hostname", "mail." + domain, "--domain", domain, "--admin", "me@" + domain, "--password-file", pwFile}
	if storeURL != "" {
		initArgs = append(initArgs, "--store-url", storeURL)
	}
	mustRun(t, "", initArgs...)
	b := &Box{t: t, Dir: data, Domain: domain, Admin: "me@" + domain, Password: testPassword, StoreURL: storeURL, Addr: addr}
	b.startOnFreePorts(settings)
	return b
}

// Host is the address the box listens on: Addr, or 127.0.0.1.
func (b *Box) Host() string {
	if b.Addr == "" {
		return "127.0.0.1"
	}
	return b.Addr
}

// HostPort is the address of one of the box's ports, to dial.
func (b *Box) HostPort(port int) string {
	return net.JoinHostPort(b.Host(), strconv.Itoa(port))
}

// startOnFreePorts writes free loopback ports and settings into the box's
// config and starts it, stopped when the test ends. The ports are free
// when picked but another test process may take one before the box binds
// it: then the box starts again on others.
func (b *Box) startOnFreePorts(settings map[string]string) {
	t := b.t
	t.Helper()
	for attempt := 1; ; attempt++ {
		p := testutil.FreePorts(t, 10)
		b.SMTP, b.Submission, b.Submissions, b.IMAP, b.IMAPS, b.DNS, b.HTTP, b.HTTPS, b.POP3, b.POP3S = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]
		b.configure(settings)
		err := b.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "already in use") {
			t.Fatal(err)
		}
		t.Logf("start again on other ports: %v", err)
	}
	t.Cleanup(b.Stop)
}

// configure writes the box's ports and the test settings (key: value)
// into its config file.
func (b *Box) configure(settings map[string]string) {
	t := b.t
	t.Helper()
	conf := filepath.Join(b.Dir, "boxmail.conf")
	c, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	s := string(c)
	for k, v := range map[string]string{"listen": b.Host(), "smtp_port": strconv.Itoa(b.SMTP), "submission_port": strconv.Itoa(b.Submission),
		"submissions_port": strconv.Itoa(b.Submissions), "imap_port": strconv.Itoa(b.IMAP), "imaps_port": strconv.Itoa(b.IMAPS), "log_level": "debug",
		"dns_port": strconv.Itoa(b.DNS), "http_port": strconv.Itoa(b.HTTP), "https_port": strconv.Itoa(b.HTTPS),
		"pop3_port": strconv.Itoa(b.POP3), "pop3s_port": strconv.Itoa(b.POP3S),
		// Tests from 127.0.0.2 play outside senders: the defences that
		// would defer them are off unless a test turns them on
		// (defence_test.go).
		"greylisting": "false", "smtp_greet_wait": "off", "smtp_dnsbl": "",
		// Tests open many connections from one address.
		"max_connections_per_ip": "1000",
		// ManageSieve only where a test asks for it (sieve_test.go), so
		// no box binds the fixed 4190.
		"managesieve_port": "0",
		// The box asks only its own DNS server: no query leaves the
		// machine, and mail to outside domains waits in the queue.
		"resolvers": b.HostPort(b.DNS)} {
		s = regexp.MustCompile(`(?m)^`+k+` = .*$`).ReplaceAllString(s, k+" = "+v)
	}
	b.BodyStore = settings["body_store"]
	for k, v := range settings {
		re := regexp.MustCompile(`(?m)^` + k + ` = .*$`)
		if !re.MatchString(s) {
			t.Fatalf("setting %s is not in boxmail.conf", k)
		}
		s = re.ReplaceAllLiteralString(s, k+" = "+v)
	}
	if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Start starts the server and waits for its ports.
func (b *Box) Start() {
	b.t.Helper()
	if err := b.start(); err != nil {
		b.t.Fatal(err)
	}
}

// start starts the server and waits for its ports; when it does not come
// up, no process is left behind and the error carries the server's log.
func (b *Box) start() error {
	b.stderr = &syncBuffer{}
	b.cmd = exec.Command(binary, "serve", "--dir", b.Dir)
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		b.cmd = nil
		return err
	}
	b.exited = make(chan error, 1)
	go func() { b.exited <- b.cmd.Wait() }()
	for _, p := range []int{b.SMTP, b.Submission, b.Submissions, b.IMAP, b.IMAPS, b.DNS, b.HTTP, b.HTTPS, b.POP3, b.POP3S} {
		if err := b.awaitPort(p); err != nil {
			return err
		}
	}
	return nil
}

// waitPort waits for the running server to open port p (one a test
// configured); it fails the test if the server does not.
func (b *Box) waitPort(p int) {
	b.t.Helper()
	if err := b.awaitPort(p); err != nil {
		b.t.Fatal(err)
	}
}

func (b *Box) awaitPort(p int) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", b.HostPort(p))
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-b.exited:
			b.cmd = nil
			return fmt.Errorf("boxmail exited: %v\n%s", err, b.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	b.cmd.Process.Kill() // never leave a server behind a failed start
	<-b.exited
	b.cmd = nil
	return fmt.Errorf("port %d did not open\n%s", p, b.stderr.String())
}

// Stop sends SIGINT and waits for a clean exit.
func (b *Box) Stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-b.exited:
		if err != nil {
			b.t.Errorf("boxmail exited with %v\n%s", err, b.stderr.String())
		}
	case <-time.After(15 * time.Second):
		b.cmd.Process.Kill()
		b.t.Errorf("boxmail did not stop within 15s\n%s", b.stderr.String())
	}
	b.cmd = nil
	if b.t.Failed() {
		b.t.Logf("server log:\n%s", b.stderr.String())
	}
}

// Admin runs an admin command on the box's data dir.
func (b *Box) Cmd(stdin string, args ...string) (string, string, int) {
	b.t.Helper()
	return run(b.t, stdin, append(args, "--dir", b.Dir)...)
}

// openAccount opens the store of a data dir (closed when the test ends)
// and looks up an account in it.
func openAccount(t testing.TB, dir, email string) (*store.Store, store.Account) {
	t.Helper()
	return openAccountOn(t, dir, "", email)
}

// openAccountOn is openAccount for a box whose store is at storeURL.
func openAccountOn(t testing.TB, dir, storeURL, email string) (*store.Store, store.Account) {
	t.Helper()
	return openAccountWith(t, dir, store.Options{URL: storeURL}, email)
}

// openAccountWith is openAccount for a store opened with opts.
func openAccountWith(t testing.TB, dir string, opts store.Options, email string) (*store.Store, store.Account) {
	t.Helper()
	ctx := context.Background()
	st := testutil.StoreAt(t, dir, opts)
	acc, err := st.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatalf("account %s: %v", email, err)
	}
	return st, acc
}

// OpenAccount opens the box's store and looks up an account (openAccount
// for this box, whatever its engine).
func (b *Box) OpenAccount(email string) (*store.Store, store.Account) {
	b.t.Helper()
	return openAccountWith(b.t, b.Dir, b.storeOptions(), email)
}

// storeOptions open the box's store as it does: its store_url and
// body_store.
func (b *Box) storeOptions() store.Options {
	return store.Options{URL: b.StoreURL, BodyStore: b.BodyStore}
}

// Mailbox returns the raw messages in a mailbox of an account, read
// straight from the store.
func (b *Box) Mailbox(email, mailbox string) [][]byte {
	b.t.Helper()
	ctx := context.Background()
	st, acc := b.OpenAccount(email)
	mb, err := st.MailboxByName(ctx, acc.ID, mailbox)
	if err != nil {
		b.t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		b.t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		body, err := st.Body(ctx, m.BodyID)
		if err != nil {
			b.t.Fatal(err)
		}
		out = append(out, body)
	}
	return out
}

// OpenStore opens the box's store (SQLite in Dir, or its store_url),
// closed when the test ends.
func (b *Box) OpenStore() *store.Store {
	b.t.Helper()
	return testutil.StoreAt(b.t, b.Dir, b.storeOptions())
}

// Queue returns the outbound queue.
func (b *Box) Queue() []store.QueueItem {
	st := b.OpenStore()
	defer st.Close()
	q, err := st.Queue(context.Background())
	if err != nil {
		b.t.Fatal(err)
	}
	return q
}

// Swaks runs swaks against the box and returns its transcript and exit code.
func (b *Box) Swaks(args ...string) (string, int) {
	b.t.Helper()
	sw := needTool(b.t, "swaks")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sw, append([]string{"--timeout", "20"}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		b.t.Fatal(err)
	}
	return string(out), code
}

// Python runs a script from clients/ with args.
func (b *Box) Python(script string, args ...string) (string, error) {
	b.t.Helper()
	py := needTool(b.t, "python3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join("clients", script)}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Dial opens a raw connection to a port for scripted dialogs.
type Conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (b *Box) Dial(port int) *Conn {
	b.t.Helper()
	c, err := net.DialTimeout("tcp", b.HostPort(port), 5*time.Second)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	return &Conn{t: b.t, c: c, r: bufio.NewReader(c)}
}

// Send writes a line (CRLF added).
func (c *Conn) Send(line string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// Line reads one reply line.
func (c *Conn) Line() (string, error) {
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// Expect reads SMTP reply lines up to the last of a multi-line reply and
// checks the last against a regexp.
func (c *Conn) Expect(re string) string {
	c.t.Helper()
	for {
		l, err := c.Line()
		if err != nil {
			c.t.Fatalf("waiting for /%s/: %v", re, err)
		}
		if len(l) >= 4 && l[3] == '-' {
			continue
		}
		if !regexp.MustCompile(re).MatchString(l) {
			c.t.Fatalf("got %q, want /%s/", l, re)
		}
		return l
	}
}
