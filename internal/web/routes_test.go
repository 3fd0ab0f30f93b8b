package web

import (
	"encoding/base64"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"boxmail/internal/admin"
	"boxmail/internal/testutil"
)

// changesState says whether a request method may change state; a
// pattern without a method takes every method, so it may.
func changesState(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS":
		return false
	}
	return true
}

// splitPattern is a route pattern's method ("" for any) and path.
func splitPattern(p string) (method, path string) {
	if m, rest, ok := strings.Cut(p, " "); ok {
		return m, rest
	}
	return "", p
}

// samplePath fills a pattern's wildcards with values the test store has.
func samplePath(path string) string {
	r := strings.NewReplacer("{email}", "kid@example.net", "{address}", "family@example.net",
		"{domain}", "example.net", "{id}", "1", "{name}", "old", "{$}", "")
	path = r.Replace(path)
	if strings.HasSuffix(path, "/api/") {
		path += "no-such-call"
	}
	return path
}

// sampleMethod is the method a request to a route is sent with.
func sampleMethod(method string) string {
	if method == "" {
		return "PATCH"
	}
	return method
}

// The public routes answered to POST, and why they are safe: they only
// read (Outlook asks for its settings by POST).
var readOnlyPosts = map[string]string{
	"POST /autodiscover/autodiscover.xml": "Outlook autodiscover: answers settings, changes nothing",
	"POST /Autodiscover/Autodiscover.xml": "Outlook autodiscover: answers settings, changes nothing",
}

// TestRouteTableRules checks the table itself: every route that can
// change state needs a session and the CSRF token, or an API credential,
// or is the login itself; the changes column matches the method.
func TestRouteTableRules(t *testing.T) {
	s := New(Options{Store: testutil.Store(t), DAV: http.NotFoundHandler()}) // the DAV rows are in the table only with a handler
	seen := map[string]bool{}
	for _, r := range s.routes() {
		if seen[r.pattern] {
			t.Errorf("%s: twice in the table", r.pattern)
		}
		seen[r.pattern] = true
		method, path := splitPattern(r.pattern)
		if r.on == 0 {
			t.Errorf("%s: no server answers it", r.pattern)
		}
		switch r.who {
		case byUser, byAdmin, byAPIUser, byAPIAdmin:
			if r.changes != changesState(method) {
				t.Errorf("%s: changes=%v, but the method says %v", r.pattern, r.changes, changesState(method))
			}
			if r.on != onHTTPS {
				t.Errorf("%s: a logged-in route on plain HTTP", r.pattern)
			}
		case byLoginForm:
			if method != "POST" || !r.changes {
				t.Errorf("%s: a login form route must be a POST that changes state", r.pattern)
			}
		case byAnyone, byMailApp:
			if r.changes {
				t.Errorf("%s: a public route must not change state", r.pattern)
			}
			if method != "GET" && method != "" && readOnlyPosts[r.pattern] == "" {
				t.Errorf("%s: a public route that may change state; give it a session, the CSRF token or an API credential", r.pattern)
			}
			if method == "" && r.on != onHTTP {
				t.Errorf("%s: a public route for every method on HTTPS", r.pattern)
			}
		case byWebmail:
			if r.pattern != "/mail/" || r.on != onHTTPS {
				t.Errorf("%s: the webmail is mounted at /mail/ on HTTPS only", r.pattern)
			}
		case byDAV:
			if !slices.Contains(davPatterns, r.pattern) || r.on != onHTTPS {
				t.Errorf("%s: CardDAV/CalDAV is mounted at /dav/ and its well-known names, on HTTPS only", r.pattern)
			}
		case bySlashTypo:
			page, ok := strings.CutSuffix(path, "/{$}")
			if method != "GET" || r.changes || r.on != onHTTPS || !ok {
				t.Errorf("%s: a trailing-slash row must be a GET of PATH/{$} on HTTPS that changes nothing", r.pattern)
			}
			if !pageRow(s.routes(), "GET "+page) {
				t.Errorf("%s: redirects to %s, which no GET row answers", r.pattern, page)
			}
		default:
			t.Errorf("%s: unknown access %d", r.pattern, r.who)
		}
		if strings.HasPrefix(path, "/admin") && r.who != byAdmin && r.who != byAPIAdmin && r.who != bySlashTypo {
			t.Errorf("%s: under /admin but not for admins only", r.pattern)
		}
		if strings.HasPrefix(path, "/admin/api/") != (r.who == byAPIAdmin) || strings.HasPrefix(path, "/account/api/") != (r.who == byAPIUser) {
			t.Errorf("%s: API path and API access disagree", r.pattern)
		}
	}
}

// pageRow reports whether the table has a row for pattern.
func pageRow(table []route, pattern string) bool {
	for _, r := range table {
		if r.pattern == pattern {
			return true
		}
	}
	return false
}

// TestEveryAdminTabHasItsRoutes: a GET for each tab of adminPages, and
// a POST for each tab with forms.
func TestEveryAdminTabHasItsRoutes(t *testing.T) {
	s := New(Options{Store: testutil.Store(t)})
	have := map[string]access{}
	for _, r := range s.routes() {
		have[r.pattern] = r.who
	}
	for _, p := range adminPages {
		if who, ok := have["GET /admin/"+p.path]; !ok || who != byAdmin {
			t.Errorf("tab %s: no admin GET route", p.path)
		}
		if who, ok := have["POST /admin/"+p.path]; ok != (p.do != nil) || ok && who != byAdmin {
			t.Errorf("tab %s: a POST route %v, but a form %v", p.path, ok, p.do != nil)
		}
	}
}

// TestTheMuxServesTheTable checks that each server's mux answers every
// row of the table with that row, and that nothing registers a route
// outside the table (routes.go's mux is the only place that calls Handle).
func TestTheMuxServesTheTable(t *testing.T) {
	s := New(Options{Store: testutil.Store(t)})
	table := s.routes()
	for _, on := range []servers{onHTTPS, onHTTP} {
		m := mux(table, on)
		for _, r := range table {
			if r.on&on == 0 {
				continue
			}
			method, path := splitPattern(r.pattern)
			req := httptest.NewRequest(sampleMethod(method), "https://box.example.net"+samplePath(path), nil)
			if _, got := m.Handler(req); got != r.pattern {
				t.Errorf("server %d: %s %s is answered by %q, want %q", on, req.Method, req.URL.Path, got, r.pattern)
			}
		}
	}
	// The plain-HTTP server answers only autoconfig; the rest is redirected.
	m := mux(table, onHTTP)
	if _, got := m.Handler(httptest.NewRequest("POST", "http://box.example.net/admin/api/users", nil)); got != "/" {
		t.Errorf("plain HTTP POST /admin/api/users: answered by %q, want the redirect", got)
	}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			ast.Inspect(d, func(n ast.Node) bool {
				sel, isSel := n.(*ast.SelectorExpr)
				if !isSel {
					return true
				}
				switch sel.Sel.Name {
				case "Handle", "HandleFunc", "NewServeMux":
					if f != "routes.go" || !ok || fd.Name.Name != "mux" {
						t.Errorf("%s: %s outside routes.go's mux: register routes in the table", fset.Position(sel.Pos()), sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
}

// TestEveryRouteRefusesWhoItMust sends a request to every row as each
// caller its access refuses: an anonymous client, a logged-in user
// without (or with a foreign Origin and) the CSRF token, a user who is
// not an admin, by session and by HTTP Basic.
func TestEveryRouteRefusesWhoItMust(t *testing.T) {
	ts, st, _ := newTestServer(t)
	anon, kid := client(ts), client(ts)
	kidCSRF := login(t, ts, kid, "kid@example.net", userPW)
	s := New(Options{Store: st, Admin: admin.New(admin.Options{Store: st})})

	send := func(c *http.Client, method, path string, form url.Values, hdr map[string]string) *http.Response {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("{}")
		}
		req, err := http.NewRequest(method, ts.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	want := func(r route, who string, res *http.Response, code int) {
		t.Helper()
		if res.StatusCode != code {
			t.Errorf("%s as %s: %d, want %d", r.pattern, who, res.StatusCode, code)
		}
		if code == http.StatusSeeOther && !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
			t.Errorf("%s as %s: redirected to %q, want the login page", r.pattern, who, res.Header.Get("Location"))
		}
	}
	kidBasic := map[string]string{"Authorization": "Basic " + basic("kid@example.net", userPW)}
	foreign := map[string]string{"Origin": "https://evil.example"}
	for _, r := range s.routes() {
		if r.on&onHTTPS == 0 {
			continue
		}
		method, path := splitPattern(r.pattern)
		// Judged by the method and path, not by the row's own columns.
		writes, adminOnly := changesState(method), strings.HasPrefix(path, "/admin")
		method, path = sampleMethod(method), samplePath(path)
		switch r.who {
		case bySlashTypo:
			// Anyone is sent on, query kept; the page checks who calls.
			res := send(anon, "GET", path+"?domain=example.net&x=%2F", nil, nil)
			if to := strings.TrimSuffix(path, "/") + "?domain=example.net&x=%2F"; res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != to {
				t.Errorf("%s: %d to %q, want 301 to %q", r.pattern, res.StatusCode, res.Header.Get("Location"), to)
			}
		case byUser, byAdmin:
			want(r, "anonymous", send(anon, method, path, url.Values{"csrf": {"x"}}, nil), http.StatusSeeOther)
			if writes {
				want(r, "a user without the CSRF token", send(kid, method, path, url.Values{}, nil), http.StatusForbidden)
				want(r, "a user with a wrong CSRF token", send(kid, method, path, url.Values{"csrf": {"wrong"}}, nil), http.StatusForbidden)
				want(r, "a user posting from another site", send(kid, method, path, url.Values{"csrf": {kidCSRF}}, foreign), http.StatusForbidden)
			}
			if adminOnly {
				want(r, "a user who is not an admin", send(kid, method, path, url.Values{"csrf": {kidCSRF}}, nil), http.StatusForbidden)
			}
		case byAPIUser, byAPIAdmin:
			want(r, "anonymous", send(anon, method, path, nil, nil), http.StatusUnauthorized)
			if writes {
				want(r, "a user without X-CSRF-Token", send(kid, method, path, nil, nil), http.StatusForbidden)
				want(r, "a user posting from another site", send(kid, method, path, nil, map[string]string{"X-CSRF-Token": kidCSRF, "Origin": "https://evil.example"}), http.StatusForbidden)
			}
			if adminOnly {
				want(r, "a user who is not an admin", send(kid, method, path, nil, map[string]string{"X-CSRF-Token": kidCSRF}), http.StatusForbidden)
				want(r, "a user who is not an admin, by Basic", send(anon, method, path, nil, kidBasic), http.StatusForbidden)
			}
		}
	}
	// Nothing above changed anything.
	if a, err := st.AccountByEmail(t.Context(), "kid@example.net"); err != nil || a.Admin {
		t.Errorf("kid changed by refused requests: %+v, %v", a, err)
	}
}

func basic(user, pw string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)) }
