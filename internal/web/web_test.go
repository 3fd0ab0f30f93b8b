package web

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"boxmail/internal/admin"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

const adminPW, userPW = "admin-secret-1", "user-secret-22"

// newTestServer is a web server over a temp store with example.net, an
// admin and a plain user, behind a TLS httptest server.
func newTestServer(t *testing.T) (*httptest.Server, *store.Store, *strings.Builder) {
	t.Helper()
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	if _, err := st.AddAccount(ctx, "admin@example.net", adminPW, true); err != nil {
		t.Fatal(err)
	}
	st.AddAccount(ctx, "kid@example.net", userPW, false)
	logs := &strings.Builder{}
	s := New(Options{Store: st, Admin: admin.New(admin.Options{Store: st}), Hostname: "box.example.net",
		Services: Services{IMAPS: 993, IMAP: 143, Submission: 587, Submissions: 465}, Logger: newTextLogger(logs)})
	ts := httptest.NewTLSServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, st, logs
}

// client is a browser-like client with a cookie jar that does not follow
// redirects.
func client(ts *httptest.Server) *http.Client {
	c := *ts.Client() // ts.Client is shared: copy it for a jar of its own
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// login logs c in through the form and returns the session's CSRF token.
func login(t *testing.T, ts *httptest.Server, c *http.Client, email, pw string) string {
	t.Helper()
	_, body := get(t, c, ts.URL+"/login")
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("login page has no CSRF field")
	}
	res, err := c.PostForm(ts.URL+"/login", url.Values{"csrf": {m[1]}, "email": {email}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as %s: %s", email, res.Status)
	}
	_, body = get(t, c, ts.URL+"/account")
	m = csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("account page has no CSRF token:\n%s", body)
	}
	return m[1]
}

func api(t *testing.T, c *http.Client, method, u, csrf, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// Every API route, with the method and a valid body.
var apiRoutes = []struct{ method, path, body string }{
	{"GET", "/admin/api/users", ""},
	{"POST", "/admin/api/users", `{"email":"new@example.net","password":"a-good-pass-1"}`},
	{"POST", "/admin/api/users/kid@example.net/password", `{"password":"a-good-pass-2"}`},
	{"POST", "/admin/api/users/kid@example.net/admin", `{"admin":false}`},
	{"DELETE", "/admin/api/users/kid@example.net", ""},
	{"GET", "/admin/api/aliases", ""},
	{"POST", "/admin/api/aliases", `{"address":"family@example.net","targets":["admin@example.net"]}`},
	{"DELETE", "/admin/api/aliases/family@example.net", ""},
	{"GET", "/admin/api/domains", ""},
	{"POST", "/admin/api/domains", `{"domain":"example.org"}`},
	{"DELETE", "/admin/api/domains/example.org", ""},
	{"GET", "/admin/api/dns/records", ""},
	{"GET", "/admin/api/status", ""},
	{"GET", "/admin/api/queue", ""},
	{"POST", "/admin/api/queue/1/retry", ""},
	{"DELETE", "/admin/api/queue/1", ""},
	{"GET", "/admin/api/tls", ""},
}

func TestEveryAPIRouteNeedsAnAdminAndTheCSRFToken(t *testing.T) {
	ts, st, _ := newTestServer(t)
	anon := client(ts)
	kid := client(ts)
	kidCSRF := login(t, ts, kid, "kid@example.net", userPW)
	adm := client(ts)
	login(t, ts, adm, "admin@example.net", adminPW)
	for _, r := range apiRoutes {
		if code, _ := api(t, anon, r.method, ts.URL+r.path, "", r.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s without login: %d, want 401", r.method, r.path, code)
		}
		if code, _ := api(t, kid, r.method, ts.URL+r.path, kidCSRF, r.body); code != http.StatusForbidden {
			t.Errorf("%s %s as a user: %d, want 403", r.method, r.path, code)
		}
		req, _ := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader(r.body))
		req.SetBasicAuth("kid@example.net", userPW)
		if res, err := anon.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with a user's Basic credentials: %v %v, want 403", r.method, r.path, res.Status, err)
		}
		if r.method != "GET" {
			if code, _ := api(t, adm, r.method, ts.URL+r.path, "", r.body); code != http.StatusForbidden {
				t.Errorf("%s %s as admin without X-CSRF-Token: %d, want 403", r.method, r.path, code)
			}
		}
	}
	// Nothing above changed anything.
	if _, err := st.AccountByEmail(context.Background(), "kid@example.net"); err != nil {
		t.Errorf("kid was removed by a refused request: %v", err)
	}
	if _, err := st.AccountByEmail(context.Background(), "new@example.net"); err == nil {
		t.Error("a refused request added new@example.net")
	}
	// And a user never reaches an admin page.
	for _, p := range adminPages {
		if code, _ := get(t, kid, ts.URL+"/admin/"+p.path); code != http.StatusForbidden {
			t.Errorf("user on /admin/%s: %d, want 403", p.path, code)
		}
	}
}

func TestAnAdminManagesUsersAliasesAndDomainsThroughTheAPI(t *testing.T) {
	ts, st, logs := newTestServer(t)
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	ok := func(method, path, body string) {
		t.Helper()
		if code, m := api(t, adm, method, ts.URL+path, csrf, body); code != 200 {
			t.Fatalf("%s %s: %d %v", method, path, code, m)
		}
	}
	ok("POST", "/admin/api/users", `{"email":"Grandma@Example.NET","password":"knitting-2024"}`)
	ok("POST", "/admin/api/aliases", `{"address":"family@example.net","targets":["grandma@example.net","kid@example.net"],"permit":["grandma@example.net"]}`)
	ok("POST", "/admin/api/domains", `{"domain":"example.org"}`)
	ok("POST", "/admin/api/users/kid@example.net/admin", `{"admin":true}`)
	if a, _ := st.AccountByEmail(context.Background(), "kid@example.net"); !a.Admin {
		t.Error("kid is not an admin")
	}
	if _, err := st.Authenticate(context.Background(), "grandma@example.net", "knitting-2024"); err != nil {
		t.Errorf("grandma cannot log in: %v", err)
	}
	// Basic auth works for scripts, without a CSRF token.
	req, _ := http.NewRequest("DELETE", ts.URL+"/admin/api/aliases/family@example.net", nil)
	req.SetBasicAuth("admin@example.net", adminPW)
	if res, err := ts.Client().Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("DELETE with Basic: %v %v", res.Status, err)
	}
	if _, err := st.AliasByAddress(context.Background(), "family@example.net"); err == nil {
		t.Error("alias still there")
	}
	for _, secret := range []string{"knitting-2024", adminPW} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a password is in the log:\n%s", logs.String())
		}
	}
}

func TestBadInputIsA400WithAClearMessageAndChangesNothing(t *testing.T) {
	ts, st, _ := newTestServer(t)
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	ctx := context.Background()
	before := func() string {
		as, _ := st.Accounts(ctx)
		al, _ := st.Aliases(ctx)
		ds, _ := st.Domains(ctx)
		b, _ := json.Marshal([]any{as, al, len(ds)})
		return string(b)
	}
	was := before()
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/admin/api/users", `{"email":"not-an-address","password":"a-good-pass-1"}`, "has no @domain"},
		{"POST", "/admin/api/users", `{"password":"a-good-pass-1"}`, "email is missing"},
		{"POST", "/admin/api/users", `{"email":"kid@example.net","password":"a-good-pass-1"}`, "already exists"},
		{"POST", "/admin/api/users", `{"email":"x@example.net","password":"short"}`, "password too short"},
		{"POST", "/admin/api/users", `{"email":"x@nowhere.example","password":"a-good-pass-1"}`, "not hosted here"},
		{"POST", "/admin/api/users", `{"email":"x@example.net","pasword":"typo-in-field"}`, "unknown field"},
		{"POST", "/admin/api/users", `not json`, "not the expected JSON"},
		{"POST", "/admin/api/users/kid@example.net/admin", `{}`, "admin is missing"},
		{"POST", "/admin/api/users/admin@example.net/admin", `{"admin":false}`, "your own admin right"},
		{"DELETE", "/admin/api/users/admin@example.net", ``, "your own account"},
		{"POST", "/admin/api/aliases", `{"address":"fam@example.net","targets":[]}`, "targets are missing"},
		{"POST", "/admin/api/aliases", `{"address":"fam@example.net","targets":["nobody@example.net"]}`, "not an account or alias here"},
		{"POST", "/admin/api/aliases", `{"address":"kid@example.net","targets":["admin@example.net"]}`, "already exists"},
		{"POST", "/admin/api/aliases", `{"address":"fam@@example.net","targets":["admin@example.net"]}`, "address"},
		{"POST", "/admin/api/domains", `{"domain":""}`, "domain is missing"},
		{"POST", "/admin/api/domains", `{"domain":"example.net"}`, "already exists"},
		{"POST", "/admin/api/domains", `{"domain":"bad domain"}`, "domain"},
		{"DELETE", "/admin/api/domains/example.net", ``, "still has accounts"},
		{"POST", "/admin/api/queue/abc/retry", ``, "not a number"},
	} {
		code, m := api(t, adm, c.method, ts.URL+c.path, csrf, c.body)
		msg, _ := m["error"].(string)
		if code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s %s: %d %q, want 400 mentioning %q", c.method, c.path, c.body, code, msg, c.want)
		}
	}
	if code, _ := api(t, adm, "DELETE", ts.URL+"/admin/api/users/ghost@example.net", csrf, ""); code != 404 {
		t.Errorf("removing a missing user: %d, want 404", code)
	}
	if now := before(); now != was {
		t.Errorf("bad requests changed the store:\nbefore %s\nafter  %s", was, now)
	}
}

func TestCookiesAreSecureAndLoginsAreRateLimited(t *testing.T) {
	ts, _, _ := newTestServer(t)
	c := client(ts)
	_, body := get(t, c, ts.URL+"/login")
	tok := csrfRe.FindStringSubmatch(body)[1]
	res, _ := c.PostForm(ts.URL+"/login", url.Values{"csrf": {tok}, "email": {"admin@example.net"}, "password": {adminPW}})
	sc := strings.Join(res.Header.Values("Set-Cookie"), "\n")
	if !regexp.MustCompile(`boxmail_session=[^;]{40,}; Path=/; Max-Age=\d+; HttpOnly; Secure; SameSite=Strict`).MatchString(sc) {
		t.Errorf("session cookie: %s", sc)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP: %q", csp)
	}
	// A login form posted without its token is refused.
	res, _ = client(ts).PostForm(ts.URL+"/login", url.Values{"email": {"admin@example.net"}, "password": {adminPW}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %s", res.Status)
	}
	// Wrong passwords from one address block that address for a while,
	// even with the right password afterwards. (Accounts are protected
	// by the shared guard, which keeps admitting their own networks.)
	for i := 0; i < maxFailsPerIP; i++ {
		req, _ := http.NewRequest("GET", ts.URL+"/admin/api/users", nil)
		req.SetBasicAuth("kid@example.net", fmt.Sprintf("wrong-guess-%d", i))
		ts.Client().Do(req)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/admin/api/users", nil)
	req.SetBasicAuth("admin@example.net", adminPW)
	if res, _ := ts.Client().Do(req); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after %d failures from one address: %s, want 429", maxFailsPerIP, res.Status)
	}
}

func TestAUserChangesTheirPasswordAndOtherSessionsEnd(t *testing.T) {
	ts, st, _ := newTestServer(t)
	phone, laptop := client(ts), client(ts)
	login(t, ts, laptop, "kid@example.net", userPW)
	csrf := login(t, ts, phone, "kid@example.net", userPW)
	res, _ := phone.PostForm(ts.URL+"/account", url.Values{"csrf": {csrf}, "op": {"passwd"}, "current": {userPW}, "password": {"new-kid-pass-9"}, "password2": {"new-kid-pass-9"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %s", res.Status)
	}
	if _, body := get(t, phone, ts.URL+"/account"); !strings.Contains(body, "Your password is changed") {
		t.Errorf("no confirmation:\n%s", body)
	}
	if _, err := st.Authenticate(context.Background(), "kid@example.net", "new-kid-pass-9"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if code, _ := get(t, laptop, ts.URL+"/account"); code != http.StatusSeeOther {
		t.Errorf("the other session still works: %d", code)
	}
	// A weak new password is refused with the CLI's words.
	res, _ = phone.PostForm(ts.URL+"/account", url.Values{"csrf": {csrf}, "op": {"passwd"}, "current": {"new-kid-pass-9"}, "password": {"password"}, "password2": {"password"}})
	if _, body := get(t, phone, ts.URL+"/account"); !strings.Contains(body, "Password too weak") {
		t.Errorf("weak password not refused:\n%s", body)
	}
}

func TestSetupPageFillsTheSeedDocumentsTable(t *testing.T) {
	ts, _, _ := newTestServer(t)
	code, body := get(t, client(ts), ts.URL+"/setup?domain=Family.example&server=box.family.example")
	if code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{`id="in-server">box.family.example<`, `id="in-port">993<`, `id="in-security">SSL/TLS<`,
		`id="out-port">587<`, `STARTTLS (“always” or “required”, if asked)`, "Your full email address", `value="family.example"`, "This box does not offer POP3; use IMAP."} {
		if !strings.Contains(body, want) {
			t.Errorf("setup page lacks %q", want)
		}
	}
	if _, body := get(t, client(ts), ts.URL+"/setup"); !strings.Contains(body, `value="example.net"`) || !strings.Contains(body, `value="box.example.net"`) {
		t.Error("setup page does not default to the box's domain and hostname")
	}
}

func TestAutoconfigAndMobileconfigName(t *testing.T) {
	ts, _, _ := newTestServer(t)
	c := client(ts)
	code, body := get(t, c, ts.URL+"/mail/config-v1.1.xml?emailaddress=kid@example.net")
	var ac acConfig
	if code != 200 || xml.Unmarshal([]byte(body), &ac) != nil || len(ac.Provider.Incoming) != 2 || ac.Provider.Incoming[0].Username != "%EMAILADDRESS%" {
		t.Errorf("autoconfig: %d\n%s", code, body)
	}
	if code, _ := get(t, c, ts.URL+"/mail/config-v1.1.xml?emailaddress=kid@elsewhere.example"); code != 404 {
		t.Errorf("autoconfig for a foreign domain: %d", code)
	}
	code, body = get(t, c, ts.URL+"/setup/mobileconfig?email=Kid@example.net")
	if code != 200 || !strings.Contains(body, "<string>kid@example.net</string>") || !strings.Contains(body, "<integer>993</integer>") {
		t.Errorf("mobileconfig: %d\n%s", code, body)
	}
}

// With contacts and calendars on, the phone profile also sets up the
// CardDAV and CalDAV accounts at the user's principal on the HTTPS port;
// without them it carries mail only. Either way it is well-formed XML.
func TestMobileconfigCarriesContactsAndCalendarsWhenServed(t *testing.T) {
	for _, dav := range []bool{false, true} {
		o := Options{Store: testutil.Store(t), Hostname: "box.example.net", HTTPSPort: 8443,
			Services: Services{IMAPS: 993, Submission: 587}}
		if dav {
			o.DAV = http.NotFoundHandler()
		}
		w := httptest.NewRecorder()
		New(o).Handler().ServeHTTP(w, httptest.NewRequest("GET", "/setup/mobileconfig?email=kid@example.net", nil))
		body := w.Body.String()
		d := xml.NewDecoder(strings.NewReader(body))
		d.Strict = false // the DOCTYPE
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("dav=%v: not well-formed: %v\n%s", dav, err, body)
			}
		}
		for _, want := range []string{"com.apple.carddav.account", "com.apple.caldav.account",
			"<key>CardDAVPrincipalURL</key><string>/dav/kid@example.net/</string>", "<key>CalDAVPort</key><integer>8443</integer>",
			"<key>CalDAVUsername</key><string>kid@example.net</string>"} {
			if strings.Contains(body, want) != dav {
				t.Errorf("dav=%v: %q present: %v", dav, want, !dav)
			}
		}
		if w.Code != 200 || !strings.Contains(body, "com.apple.mail.managed") {
			t.Errorf("dav=%v: %d, no mail payload", dav, w.Code)
		}
	}
}

// The setup page explains contacts and calendars, with the address to
// type, only when the box serves them.
func TestSetupPageExplainsContactsAndCalendarsWhenServed(t *testing.T) {
	for _, dav := range []bool{false, true} {
		o := Options{Store: testutil.Store(t), Hostname: "box.example.net", HTTPSPort: 8443, Services: Services{IMAPS: 993, Submission: 587}}
		if dav {
			o.DAV = http.NotFoundHandler()
		}
		w := httptest.NewRecorder()
		New(o).Handler().ServeHTTP(w, httptest.NewRequest("GET", "/setup?email=kid@example.net", nil))
		has := strings.Contains(w.Body.String(), `<code id="dav-url">https://box.example.net:8443/dav/</code>`)
		if w.Code != 200 || has != dav || strings.Contains(w.Body.String(), "DAVx") != dav {
			t.Errorf("dav=%v: %d, DAV section shown: %v", dav, w.Code, has)
		}
	}
}
