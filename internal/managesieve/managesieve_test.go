package managesieve

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/sieve"
	"boxmail/internal/testutil"
)

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (c *client) send(s string) {
	c.t.Helper()
	fmt.Fprintf(c.c, "%s\r\n", s)
}

// until reads lines up to an OK/NO/BYE and returns them all.
func (c *client) until() []string {
	c.t.Helper()
	var out []string
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (so far %q)", err, out)
		}
		l = strings.TrimRight(l, "\r\n")
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}") && (strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "OK")) {
			var n int
			fmt.Sscanf(l[i:], "{%d}", &n)
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				c.t.Fatal(err)
			}
			c.r.ReadString('\n')
			l = l[:i] + strconv.Quote(string(buf))
		}
		out = append(out, l)
		if strings.HasPrefix(l, "OK") || strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
			return out
		}
	}
}

func (c *client) expect(cmd, want string) []string {
	c.t.Helper()
	if cmd != "" {
		c.send(cmd)
	}
	l := c.until()
	if !strings.HasPrefix(l[len(l)-1], want) {
		c.t.Fatalf("%s: got %q, want %s", cmd, l, want)
	}
	return l
}

// TestDialog: a user's client uploads a script that does not parse (and
// is told where), fixes it, activates it, and cannot delete it while
// active.
func TestDialog(t *testing.T) {
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	acc, _ := st.AddAccount(ctx, "me@example.net", "pw-pw-pw-pw", false)
	srv := New(Options{Backend: NewStoreBackend(st), InsecureAuth: true})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, c: nc, r: bufio.NewReader(nc)}
	greet := c.expect("", "OK")
	if !strings.Contains(strings.Join(greet, "\n"), `"SIEVE" "fileinto copy`) {
		t.Fatalf("greeting %q", greet)
	}
	c.expect("LISTSCRIPTS", `NO "authenticate first"`)
	bad := base64.StdEncoding.EncodeToString([]byte("\x00me@example.net\x00wrong"))
	c.expect(`AUTHENTICATE "PLAIN" "`+bad+`"`, `NO "authentication failed"`)
	good := base64.StdEncoding.EncodeToString([]byte("\x00me@example.net\x00pw-pw-pw-pw"))
	c.expect(`AUTHENTICATE "PLAIN" "`+good+`"`, "OK")
	script := "require \"fileinto\";\r\nif header :contains \"subject\" \"school\" {\r\n  fileinto \"School\"\r\n}\r\n"
	c.expect(fmt.Sprintf("PUTSCRIPT \"school\" {%d+}\r\n%s", len(script), script), `NO "line 4:1: expected ';' or '{' after fileinto, got \"}\""`)
	script = strings.Replace(script, `"School"`, `"School";`, 1)
	c.expect(fmt.Sprintf("CHECKSCRIPT {%d+}\r\n%s", len(script), script), "OK")
	c.expect(fmt.Sprintf("PUTSCRIPT \"school\" {%d+}\r\n%s", len(script), script), "OK")
	c.expect(`HAVESPACE "school" 2000000`, `NO (QUOTA/MAXSIZE)`)
	c.expect(`SETACTIVE "nope"`, `NO (NONEXISTENT)`)
	c.expect(`SETACTIVE "school"`, "OK")
	if l := c.expect("LISTSCRIPTS", "OK"); l[0] != `"school" ACTIVE` {
		t.Fatalf("list %q", l)
	}
	got := c.expect(`GETSCRIPT "school"`, "OK")
	if got[0] != fmt.Sprintf("{%d}", len(script)) {
		t.Fatalf("getscript %q", got)
	}
	c.expect(`DELETESCRIPT "school"`, `NO (ACTIVE)`)
	c.expect(`RENAMESCRIPT "school" "kids"`, "OK")
	if s, err := st.ActiveSieveScript(ctx, acc.ID); err != nil || s.Name != "kids" {
		t.Fatalf("active: %+v %v", s, err)
	}
	c.expect(`SETACTIVE ""`, "OK")
	c.expect(`DELETESCRIPT "kids"`, "OK")
	c.expect(`NOOP "x1"`, `OK (TAG "x1")`)
	c.expect(`FROB`, `NO "unknown command FROB"`)
	c.expect(`PUTSCRIPT "unterminated`, `NO "unterminated quoted string"`)
	c.expect("LOGOUT", "OK")
}

// TestCommandLimits: before login a command holds at most maxPreAuth
// bytes and a bigger literal is refused with BYE before its data is
// read; after login a script-sized literal is fine, more is not, and
// eight script-sized literals in one command are not either.
func TestCommandLimits(t *testing.T) {
	read := func(in string, limit int) error {
		_, _, err := readCommand(bufio.NewReader(strings.NewReader(in)), limit)
		return err
	}
	fatal := func(err error) bool {
		pe, ok := err.(protoError)
		return ok && pe.fatal
	}
	// No data follows the announcement: a refusal must not wait for it.
	if err := read("PUTSCRIPT \"x\" {1048576+}\r\n", maxPreAuth); !fatal(err) {
		t.Errorf("1 MiB literal before login: %v", err)
	}
	lit := strings.Repeat("x", maxPreAuth-100)
	if err := read(fmt.Sprintf("AUTHENTICATE \"PLAIN\" {%d+}\r\n%s\r\n", len(lit), lit), maxPreAuth); err != nil {
		t.Errorf("a literal within the pre-login limit: %v", err)
	}
	script := strings.Repeat("#", sieve.MaxScriptSize)
	if err := read(fmt.Sprintf("PUTSCRIPT \"x\" {%d+}\r\n%s\r\n", len(script), script), maxAuthed); err != nil {
		t.Errorf("a script of the largest size: %v", err)
	}
	if err := read(fmt.Sprintf("PUTSCRIPT \"x\" {%d+}\r\n", maxAuthed+1), maxAuthed); !fatal(err) {
		t.Errorf("a literal over the limit after login: %v", err)
	}
	var b strings.Builder
	b.WriteString("PUTSCRIPT")
	for range 8 {
		fmt.Fprintf(&b, " {%d+}\r\n%s", len(lit), lit)
	}
	for range 20 {
		fmt.Fprintf(&b, " {%d+}\r\n%s", len(lit), lit)
	}
	if err := read(b.String()+"\r\n", maxPreAuth); !fatal(err) {
		t.Errorf("many literals before login: %v", err)
	}
}

// TestUploadValidates: a script whose vacation would inject header
// fields is refused at PUTSCRIPT and CHECKSCRIPT with its line:col.
func TestUploadValidates(t *testing.T) {
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	st.AddAccount(ctx, "me@example.net", "pw-pw-pw-pw", false)
	srv := New(Options{Backend: NewStoreBackend(st), InsecureAuth: true})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, c: nc, r: bufio.NewReader(nc)}
	c.expect("", "OK")
	good := base64.StdEncoding.EncodeToString([]byte("\x00me@example.net\x00pw-pw-pw-pw"))
	c.expect(`AUTHENTICATE "PLAIN" "`+good+`"`, "OK")
	script := "require \"vacation\";\r\nvacation :from \"ceo@example.net\r\nBcc: x@evil.test\" \"pay\";\r\n"
	for _, cmd := range []string{"PUTSCRIPT \"v\"", "CHECKSCRIPT"} {
		l := c.expect(fmt.Sprintf("%s {%d+}\r\n%s", cmd, len(script), script), "NO")
		if !strings.Contains(l[len(l)-1], "line 2:16: vacation :from has a control character") {
			t.Errorf("%s: %q", cmd, l)
		}
	}
	c.expect("LOGOUT", "OK")
}

func FuzzReadCommand(f *testing.F) {
	f.Add("PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n")
	f.Add("AUTHENTICATE \"PLAIN\" \"AG1lAHB3\"\r\n")
	f.Add("HAVESPACE \"x\\\"y\" 100\r\n")
	f.Add("{99999999999}\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		r := bufio.NewReader(strings.NewReader(in))
		for range 10 {
			if _, _, err := readCommand(r, maxPreAuth); err != nil {
				return
			}
		}
	})
}

// panicBackend panics in Login for the user "boom" and lets "me" in.
type panicBackend struct{}

func (panicBackend) Login(ctx context.Context, user, pass string, _ netip.Addr) (Session, error) {
	if user == "boom" {
		panic("injected backend failure")
	}
	if user != "me" || pass != "pw" {
		return nil, ErrAuthFailed
	}
	return memSession{}, nil
}

type memSession struct{}

func (memSession) Owner() string { return "me" }
func (memSession) Scripts(context.Context) ([]Script, error) {
	return []Script{{Name: "a", Active: true}}, nil
}
func (memSession) Script(context.Context, string) (string, error) { return "keep;", nil }
func (memSession) Put(context.Context, string, string) error      { return nil }
func (memSession) SetActive(context.Context, string) error        { return nil }
func (memSession) Delete(context.Context, string) error           { return nil }
func (memSession) Rename(context.Context, string, string) error   { return nil }

func serveMem(t *testing.T) (*Server, string, chan error) {
	t.Helper()
	srv := New(Options{Backend: panicBackend{}, InsecureAuth: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return srv, ln.Addr().String(), served
}

func dialT(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, c: nc, r: bufio.NewReader(nc)}
	c.expect("", "OK")
	return c
}

func plain(user, pass string) string {
	return `AUTHENTICATE "PLAIN" "` + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + `"`
}

func TestAPanicInTheBackendClosesOnlyThatConnection(t *testing.T) {
	srv, addr, _ := serveMem(t)
	defer srv.Shutdown(context.Background())
	other := dialT(t, addr)
	bad := dialT(t, addr)
	bad.send(plain("boom", "x"))
	bad.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := bad.r.ReadString('\n'); err == nil {
		t.Errorf("the panicking connection answered %q", l)
	}
	other.expect(plain("me", "pw"), "OK")
	if l := other.expect("LISTSCRIPTS", "OK"); l[0] != `"a" ACTIVE` {
		t.Errorf("LISTSCRIPTS: %q", l)
	}
	dialT(t, addr).expect("LOGOUT", "OK")
}

func TestShutdownSaysByeToIdleConnectionsAndServeReturnsErrServerClosed(t *testing.T) {
	srv, addr, served := serveMem(t)
	c := dialT(t, addr)
	c.expect(plain("me", "pw"), "OK")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expect("", `BYE "server shutting down"`)
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("the connection is still open after Shutdown")
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}
