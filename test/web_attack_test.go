package test

// Attacks on the web server as a stranger (from 127.0.0.2) or a family
// member would make them: huge bodies, many connections, redirects off
// the box after login, locking the owner out, sessions that outlive a
// password reset, profiles pointing at another server, a Host header
// steering the HTTPS redirect, two-step login set up on a stolen session,
// TOTP secrets readable in the database file.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"boxmail/internal/store"
)

// webClient is a browser-like client (cookies, no redirects followed)
// whose connections come from the local address from (127.0.0.1 is the
// family's own network in these tests, 127.0.0.2 the stranger's).
type webClient struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newWebClient(t *testing.T, b *Box, from string) *webClient {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	return &webClient{t: t, base: fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS), c: &http.Client{Timeout: 60 * time.Second, Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *webClient) do(req *http.Request) (*http.Response, string) {
	w.t.Helper()
	res, err := w.c.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	d, _ := io.ReadAll(res.Body)
	return res, string(d)
}

func (w *webClient) get(path string) (*http.Response, string) {
	w.t.Helper()
	req, _ := http.NewRequest("GET", w.base+path, nil)
	return w.do(req)
}

func (w *webClient) post(path string, v url.Values) (*http.Response, string) {
	w.t.Helper()
	req, _ := http.NewRequest("POST", w.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return w.do(req)
}

var (
	formCSRFRe  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	formTokenRe = regexp.MustCompile(`name="token" value="([^"]+)"`)
)

// login posts the login form (with next when not empty) and returns the
// answer; a 303 means logged in (or sent on to the code form: 200).
func (w *webClient) login(email, pw, next string) (*http.Response, string) {
	w.t.Helper()
	_, page := w.get("/login")
	m := formCSRFRe.FindStringSubmatch(page)
	if m == nil {
		w.t.Fatalf("login page:\n%s", page)
	}
	v := url.Values{"csrf": {m[1]}, "email": {email}, "password": {pw}}
	if next != "" {
		v.Set("next", next)
	}
	return w.post("/login", v)
}

// mustLogin logs in and returns the session's CSRF token.
func (w *webClient) mustLogin(email, pw string) string {
	w.t.Helper()
	if res, page := w.login(email, pw, ""); res.StatusCode != http.StatusSeeOther {
		w.t.Fatalf("login of %s: %s\n%s", email, res.Status, page)
	}
	return w.csrf()
}

// csrf reads the session's CSRF token off the account page.
func (w *webClient) csrf() string {
	w.t.Helper()
	res, page := w.get("/account")
	m := formCSRFRe.FindStringSubmatch(page)
	if res.StatusCode != 200 || m == nil {
		w.t.Fatalf("account page: %s\n%s", res.Status, page)
	}
	return m[1]
}

// loggedIn reports whether the client's session still opens /account.
func (w *webClient) loggedIn() bool {
	w.t.Helper()
	res, _ := w.get("/account")
	return res.StatusCode == 200
}

func addUser(t *testing.T, b *Box, email, pw string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(f, []byte(pw+"\n"), 0o600)
	mustRun(t, "", "user", "add", email, "--password-file", f, "--dir", b.Dir)
}

// hugeBody streams a 40 MiB form (multipart or URL-encoded) with one big
// field, as fast as the server reads it.
func hugeBody(fields map[string]string, multi bool) (io.Reader, string) {
	pr, pw := io.Pipe()
	if !multi {
		v := url.Values{}
		for k, x := range fields {
			v.Set(k, x)
		}
		go func() {
			if _, err := io.WriteString(pw, v.Encode()+"&email="); err != nil {
				return
			}
			chunk := bytes.Repeat([]byte("A"), 1<<20)
			for range 40 {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			pw.Close()
		}()
		return pr, "application/x-www-form-urlencoded"
	}
	mw := multipart.NewWriter(pw)
	go func() {
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		fw, err := mw.CreateFormField("email")
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		chunk := bytes.Repeat([]byte("A"), 1<<20)
		for range 40 {
			if _, err := fw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		mw.Close()
		pw.Close()
	}()
	return pr, mw.FormDataContentType()
}

func TestHugeWebFormsAreCutOffAndMemoryStaysBounded(t *testing.T) {
	b := newBox(t)
	owner := newWebClient(t, b, "127.0.0.1")
	owner.mustLogin(b.Admin, b.Password)
	start := b.peakRSS()

	// A stranger's session for the authenticated form.
	addUser(t, b, "cousin@example.test", "cousin-pass-2024")
	stranger := newWebClient(t, b, "127.0.0.2")
	scsrf := stranger.mustLogin("cousin@example.test", "cousin-pass-2024")
	anon := newWebClient(t, b, "127.0.0.2")
	_, lpage := anon.get("/login")
	lcsrf := formCSRFRe.FindStringSubmatch(lpage)[1]

	var wg sync.WaitGroup
	var accepted atomic.Int32
	var results sync.Map
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, path, fields := anon, "/login", map[string]string{"csrf": lcsrf, "password": "x"}
			if i%2 == 1 {
				c, path, fields = stranger, "/account", map[string]string{"csrf": scsrf, "op": "passwd"}
			}
			body, ct := hugeBody(fields, i/2%2 == 0)
			req, _ := http.NewRequest("POST", stranger.base+path, body)
			req.Header.Set("Content-Type", ct)
			res, err := c.c.Do(req)
			if err != nil {
				results.Store(i, path+": "+err.Error())
				return // the connection was closed on it: fine
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			results.Store(i, path+": "+res.Status)
			if res.StatusCode != http.StatusRequestEntityTooLarge && res.StatusCode != http.StatusUnsupportedMediaType {
				accepted.Add(1)
			}
		}()
	}
	// An honest login meanwhile.
	time.Sleep(200 * time.Millisecond)
	honest := newWebClient(t, b, "127.0.0.1")
	if res, page := honest.login(b.Admin, b.Password, ""); res.StatusCode != http.StatusSeeOther {
		t.Errorf("honest login during the attack: %s\n%s", res.Status, page)
	}
	wg.Wait()
	results.Range(func(k, v any) bool { t.Logf("request %v: %v", k, v); return true })
	if n := accepted.Load(); n > 0 {
		t.Errorf("%d of 20 huge forms were answered as if read, want 413 (too large), 415 (no uploads here) or a closed connection", n)
	}
	peak := b.peakRSS()
	t.Logf("peak RSS: %.0f MiB before, %.0f MiB after 20 x 40 MiB forms", start, peak)
	if peak > 256 {
		t.Errorf("peak RSS %.0f MiB, want under 256", peak)
	}
	if !owner.loggedIn() {
		t.Error("the owner's session did not survive the attack")
	}
}

// webConn opens a TLS connection from an address and asks for /login on
// it: it reports whether the box answered 200.
func webConn(t *testing.T, port int, from string) (net.Conn, bool) {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, false
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	l, err := bufio.NewReader(c).ReadString('\n')
	c.SetDeadline(time.Time{})
	return c, err == nil && strings.HasPrefix(l, "HTTP/1.1 200")
}

func TestOneAddressCannotHoldAllTheWebConnections(t *testing.T) {
	b := newBoxWith(t, map[string]string{"max_connections_per_ip": "20"})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	served := 0
	for range 120 {
		c, ok := webConn(t, b.HTTPS, "127.0.0.2")
		if c != nil {
			conns = append(conns, c)
		}
		if ok {
			served++
		}
	}
	t.Logf("%d of 120 connections from 127.0.0.2 served", served)
	if served > 20 {
		t.Errorf("%d connections from one address served at once, want at most 20", served)
	}
	// The plain-HTTP port counts in the same limit.
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	if c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.HTTP)); err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		l, _ := bufio.NewReader(c).ReadString('\n')
		if strings.HasPrefix(l, "HTTP/1.1 301") {
			t.Errorf("plain HTTP served the 21st connection from one address: %q", l)
		}
		c.Close()
	}
	// Another address is served meanwhile.
	if c, ok := webConn(t, b.HTTPS, "127.0.0.1"); !ok {
		t.Error("127.0.0.1 was not served while 127.0.0.2 held its connections")
	} else {
		c.Close()
	}
}

// hostileNexts are next= values that must not take a browser off the box.
var hostileNexts = []string{
	"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "//evil.example", "/\\evil.example", "/\\/evil.example",
	"https://evil.example/", "//evil.example/%2f..", "/%09/evil.example", "\t//evil.example", " //evil.example",
	"/\x00/evil.example", "https:evil.example", "javascript:alert(1)", "/%5cevil.example", "/ /evil.example",
}

// staysOnBox reports whether a browser following loc from the box stays
// on it (browsers drop tabs and newlines and read \ as /).
func staysOnBox(loc string) bool {
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(strings.TrimLeft(loc, " \x00"))
	u, err := url.Parse("https://mail.example.test/login")
	if err != nil {
		return false
	}
	r, err := u.Parse(loc)
	return err == nil && r.Host == "mail.example.test" && !strings.ContainsAny(loc, "\x00 ")
}

func TestALoginNeverRedirectsOffTheBox(t *testing.T) {
	b := newBox(t)
	for _, next := range hostileNexts {
		res, _ := newWebClient(t, b, "127.0.0.2").login(b.Admin, b.Password, next)
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !staysOnBox(loc) || loc != "/admin" {
			t.Errorf("login with next=%q: %s Location %q, want /admin", next, res.Status, loc)
		}
	}
	c := newWebClient(t, b, "127.0.0.2")
	if res, _ := c.login(b.Admin, b.Password, "/account/security?x=1"); res.Header.Get("Location") != "/account/security?x=1" {
		t.Errorf("an honest next was not kept: %q", res.Header.Get("Location"))
	}
	// The login page itself, already logged in.
	for _, next := range hostileNexts {
		res, _ := c.get("/login?next=" + url.QueryEscape(next))
		if loc := res.Header.Get("Location"); !staysOnBox(loc) || loc != "/account" {
			t.Errorf("GET /login?next=%q: Location %q", next, loc)
		}
	}

	// The two-step login's second step keeps the same rule.
	out := mustRun(t, "", "user", "totp", "--dir", b.Dir, b.Admin, "enable")
	m := totpKeyRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("totp enable:\n%s", out)
	}
	at := time.Now()
	for i, next := range hostileNexts[:2] {
		c := newWebClient(t, b, "127.0.0.2")
		res, page := c.login(b.Admin, b.Password, next)
		tm := formTokenRe.FindStringSubmatch(page)
		if res.StatusCode != 200 || tm == nil {
			t.Fatalf("login with TOTP: %s\n%s", res.Status, page)
		}
		code, _ := store.TOTPCode(m[1], at.Add(time.Duration(i)*30*time.Second)) // each code works once
		res, _ = c.post("/login/code", url.Values{"token": {tm[1]}, "code": {code}})
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/admin" {
			t.Errorf("code step with next=%q: %s Location %q, want /admin", next, res.Status, loc)
		}
	}
}

func TestAStrangerCannotLockTheOwnerOutOfTheWeb(t *testing.T) {
	b := newBoxWith(t, map[string]string{"auth_failure_delay": "10ms"})
	owner := newWebClient(t, b, "127.0.0.1")
	owner.mustLogin(b.Admin, b.Password) // the network the owner uses
	owner.post("/logout", url.Values{"csrf": {owner.csrf()}})
	// A restart: the box remembers the owner's network from its login
	// records, not only in memory.
	b.Stop()
	b.Start()

	// Two attacking addresses, 20 wrong passwords each: the account is
	// under attack, each address is blocked.
	for _, from := range []string{"127.0.0.2", "127.0.0.4"} {
		stranger := newWebClient(t, b, from)
		for i := range 20 {
			stranger.login(b.Admin, fmt.Sprintf("guess-%s-%d", from, i), "")
		}
		if res, _ := stranger.login(b.Admin, b.Password, ""); res.StatusCode == http.StatusSeeOther {
			t.Errorf("the attacking address %s is not blocked after 20 wrong passwords", from)
		}
	}
	if res, page := owner.login(b.Admin, b.Password, ""); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the owner from their own network after the attack: %s\n%s", res.Status, page)
	}
	// Someone the account never logged in from is slowed, not locked:
	// one attempt is still let through.
	third := newWebClient(t, b, "127.0.0.3")
	if res, page := third.login(b.Admin, b.Password, ""); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a new network's first attempt after the attack: %s\n%s", res.Status, page)
	}
}

func TestAPasswordResetEndsTheUsersWebSessions(t *testing.T) {
	b := newBox(t)
	addUser(t, b, "kid@example.test", "kid-pass-2024")
	phone := newWebClient(t, b, "127.0.0.1")
	phone.mustLogin("kid@example.test", "kid-pass-2024")
	out := mustRun(t, "", "user", "app-password", "add", "--dir", b.Dir, "kid@example.test", "tablet")
	app := appPasswordRe.FindString(out)

	// The admin resets the password from the command line.
	f := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(f, []byte("kid-new-pass-1\n"), 0o600)
	out = mustRun(t, "", "user", "passwd", "kid@example.test", "--password-file", f, "--dir", b.Dir)
	if !strings.Contains(out, "web sessions") || !strings.Contains(out, "app password") {
		t.Errorf("user passwd does not say what happened to sessions and app passwords:\n%s", out)
	}
	if phone.loggedIn() {
		t.Error("a web session survived 'boxmail user passwd'")
	}

	// The admin resets it on the web.
	phone.mustLogin("kid@example.test", "kid-new-pass-1")
	admin := newWebClient(t, b, "127.0.0.1")
	acsrf := admin.mustLogin(b.Admin, b.Password)
	res, _ := admin.post("/admin/users", url.Values{"csrf": {acsrf}, "op": {"passwd"}, "email": {"kid@example.test"}, "password": {"kid-newer-pass-2"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("web reset: %s", res.Status)
	}
	if _, page := admin.get("/admin/users"); !strings.Contains(page, "web sessions") {
		t.Errorf("the web reset does not say the sessions ended:\n%s", page)
	}
	if phone.loggedIn() {
		t.Error("a web session survived the admin's reset on the web")
	}

	// Signing out everywhere, with the app passwords.
	if got := imapsLogin(t, b.IMAPS, "kid@example.test", app); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("app password before sign-out: %q", got)
	}
	laptop := newWebClient(t, b, "127.0.0.1")
	laptop.mustLogin("kid@example.test", "kid-newer-pass-2")
	csrf := phone.mustLogin("kid@example.test", "kid-newer-pass-2")
	res, _ = phone.post("/account/security", url.Values{"csrf": {csrf}, "op": {"sign-out-everywhere"}, "revoke_apps": {"on"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %s", res.Status)
	}
	if phone.loggedIn() || laptop.loggedIn() {
		t.Error("a session survived 'sign out everywhere'")
	}
	if got := imapsLogin(t, b.IMAPS, "kid@example.test", app); strings.HasPrefix(got, "a OK") {
		t.Error("an app password survived 'sign out everywhere' with revoking")
	}

	// The admin signs a user out everywhere (API).
	phone.mustLogin("kid@example.test", "kid-newer-pass-2")
	req, _ := http.NewRequest("POST", admin.base+"/admin/api/users/kid@example.test/sign-out", strings.NewReader(`{"revoke_app_passwords": false}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(b.Admin, b.Password)
	if res, page := admin.do(req); res.StatusCode != 200 {
		t.Errorf("admin sign-out API: %s\n%s", res.Status, page)
	}
	if phone.loggedIn() {
		t.Error("a session survived the admin's sign-out")
	}

	// Changing one's own password keeps this session, ends the others.
	laptop.mustLogin("kid@example.test", "kid-newer-pass-2")
	csrf = phone.mustLogin("kid@example.test", "kid-newer-pass-2")
	phone.post("/account", url.Values{"csrf": {csrf}, "op": {"passwd"}, "current": {"kid-newer-pass-2"}, "password": {"kid-own-pass-3"}, "password2": {"kid-own-pass-3"}})
	if !phone.loggedIn() || laptop.loggedIn() {
		t.Errorf("own password change: this session %v (want kept), other session %v (want ended)", phone.loggedIn(), laptop.loggedIn())
	}
}

func TestAProfileCannotPointAtAnotherServer(t *testing.T) {
	b := newBoxWith(t, map[string]string{"profile_servers": "imap.example.test"})
	c := newWebClient(t, b, "127.0.0.2")
	for _, server := range []string{"attacker.example", "mail.example.test.attacker.example", "127.0.0.2", "evil.example%0a"} {
		res, body := c.get("/setup/mobileconfig?email=me@example.test&server=" + url.QueryEscape(server))
		if res.StatusCode != http.StatusBadRequest || strings.Contains(body, "attacker") {
			t.Errorf("profile for server %q: %s", server, res.Status)
		}
	}
	for q, server := range map[string]string{"": "mail.example.test", "&server=mail.example.test": "mail.example.test", "&server=imap.example.test": "imap.example.test"} {
		res, body := c.get("/setup/mobileconfig?email=me@example.test" + q)
		if res.StatusCode != 200 || !strings.Contains(body, "<string>"+server+"</string>") {
			t.Errorf("profile with %q: %s", q, res.Status)
		}
	}
}

func TestThePlainHTTPRedirectIgnoresAForeignHost(t *testing.T) {
	b := newBox(t)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]string{
		"evil.example":                      fmt.Sprintf("https://mail.example.test:%d/admin?x=1", b.HTTPS),
		"evil.example:80":                   fmt.Sprintf("https://mail.example.test:%d/admin?x=1", b.HTTPS),
		"mail.example.test":                 fmt.Sprintf("https://mail.example.test:%d/admin?x=1", b.HTTPS),
		"127.0.0.1":                         fmt.Sprintf("https://127.0.0.1:%d/admin?x=1", b.HTTPS),
		fmt.Sprintf("127.0.0.1:%d", b.HTTP): fmt.Sprintf("https://127.0.0.1:%d/admin?x=1", b.HTTPS),
		"localhost:8080":                    fmt.Sprintf("https://localhost:%d/admin?x=1", b.HTTPS),
		"10.1.2.3":                          fmt.Sprintf("https://mail.example.test:%d/admin?x=1", b.HTTPS),
	} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/admin?x=1", b.HTTP), nil)
		req.Host = host
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode != 301 || loc != want {
			t.Errorf("Host %q: %s %q, want %q", host, res.Status, loc, want)
		}
	}
	// Autoconfig still answers on plain HTTP for the hosted domain.
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/.well-known/autoconfig/mail/config-v1.1.xml", b.HTTP), nil)
	req.Host = "autoconfig.example.test"
	if res, err := c.Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("autoconfig over plain HTTP: %v %v", res, err)
	}
}

var totpSetupKeyRe = regexp.MustCompile(`id="totp-key">([A-Z2-7]+)<`)

func TestTurningOnTwoStepLoginNeedsThePasswordAgain(t *testing.T) {
	b := newBox(t)
	c := newWebClient(t, b, "127.0.0.1")
	csrf := c.mustLogin(b.Admin, b.Password)
	// Someone at an unlocked computer, without the password.
	for _, pw := range []string{"", "not-the-password"} {
		c.post("/account/security", url.Values{"csrf": {csrf}, "op": {"totp-start"}, "password": {pw}})
		if _, page := c.get("/account/security"); totpSetupKeyRe.MatchString(page) {
			t.Fatalf("the two-step secret was shown after password %q", pw)
		}
	}
	c.post("/account/security", url.Values{"csrf": {csrf}, "op": {"totp-start"}, "password": {b.Password}})
	_, page := c.get("/account/security")
	m := totpSetupKeyRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no secret with the right password:\n%s", page)
	}
	code, _ := store.TOTPCode(m[1], time.Now())
	c.post("/account/security", url.Values{"csrf": {csrf}, "op": {"totp-enable"}, "code": {code}})
	if _, page := c.get("/account/security"); !strings.Contains(page, `id="totp-state"><strong>On.`) {
		t.Errorf("two-step login not on after set-up:\n%s", page)
	}

	// The secret is not in the database files in clear, and still works.
	for _, name := range []string{store.FileName, store.FileName + "-wal"} {
		data, _ := os.ReadFile(filepath.Join(b.Dir, name))
		if bytes.Contains(data, []byte(m[1])) {
			t.Errorf("the TOTP secret is in clear in %s", name)
		}
	}
	fi, err := os.Stat(filepath.Join(b.Dir, "keys", "totp.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("totp.key: %v %v", fi, err)
	}
	c2 := newWebClient(t, b, "127.0.0.1")
	res, page := c2.login(b.Admin, b.Password, "")
	tm := formTokenRe.FindStringSubmatch(page)
	if res.StatusCode != 200 || tm == nil {
		t.Fatalf("login with TOTP: %s", res.Status)
	}
	code, _ = store.TOTPCode(m[1], time.Now().Add(30*time.Second))
	if res, _ := c2.post("/login/code", url.Values{"token": {tm[1]}, "code": {code}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("login with a code of the encrypted secret: %s", res.Status)
	}
}
