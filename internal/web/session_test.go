package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"boxmail/internal/admin"
	"boxmail/internal/store"
)

// followsOffSite reports whether a browser following Location loc from
// https://box.example.net/login would leave the box: it drops tabs and
// newlines and leading C0 controls and spaces, and reads \ as /.
func followsOffSite(loc string) bool {
	loc = strings.TrimLeft(loc, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
	base, _ := url.Parse("https://box.example.net/login")
	u, err := base.Parse(loc)
	return err != nil || u.Host != "box.example.net" || u.Scheme != "https"
}

func TestSafeNextKeepsRedirectsOnTheBox(t *testing.T) {
	for _, n := range []string{
		"", "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\r\n/evil.example", "//evil.example", "///evil.example",
		"/\\evil.example", "/\\/evil.example", "\\\\evil.example", "https://evil.example/", "http:evil.example", "HTTPS://evil.example",
		"javascript:alert(1)", "data:text/html,x", "evil.example", " /account", "\t/account", "/%09/evil.example", "/%0a/evil.example",
		"/%2F/evil.example", "/%2f%2fevil.example", "/%5cevil.example", "/%5C%5Cevil.example", "/ /evil.example", "/\x00/evil.example",
		"/\x7f/evil.example", "/\u0085/evil.example", "/account\xff", "//@evil.example", "/@evil.example/..//x", "/%", "/a%zz",
		"/" + strings.Repeat("a", maxNext), "//evil.example%2f..", "/.%09/evil.example", "/a/../b", "/./x", "/x/..", "/x/%2e%2e/y",
	} {
		got := safeNext(n)
		if got != defaultNext {
			t.Errorf("safeNext(%q) = %q, want %q", n, got, defaultNext)
		}
		if followsOffSite(got) {
			t.Errorf("safeNext(%q) = %q leaves the box", n, got)
		}
	}
	for _, n := range []string{"/account", "/admin/users", "/account/security?x=1", "/admin/dns#zone", "/account/api/forwards", "/@me", "/a..b/c.d?x=/../"} {
		if got := safeNext(n); got != n {
			t.Errorf("safeNext(%q) = %q, want it kept", n, got)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/account", "/\t/evil.example", "//evil.example", "/\\evil", "/%09/x", "https://x", "/a?b=c#d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, n string) {
		got := safeNext(n)
		if got != defaultNext && got != n {
			t.Fatalf("safeNext(%q) = %q: neither kept nor the default", n, got)
		}
		if followsOffSite(got) || !utf8.ValidString(got) {
			t.Fatalf("safeNext(%q) = %q leaves the box", n, got)
		}
		if strings.ContainsAny(got, "\x00\t\r\n\\ ") {
			t.Fatalf("safeNext(%q) = %q holds a control byte, space or backslash", n, got)
		}
	})
}

func TestThePlainRedirectKeepsOnlyHostsOfTheBox(t *testing.T) {
	s := New(Options{Hostname: "box.example.net", HTTPSPort: 8443})
	h := s.Plain().Handler()
	for host, want := range map[string]string{
		"evil.example":         "https://box.example.net:8443/admin?x=1",
		"evil.example:80":      "https://box.example.net:8443/admin?x=1",
		"box.example.net":      "https://box.example.net:8443/admin?x=1",
		"BOX.example.net.":     "https://box.example.net:8443/admin?x=1",
		"127.0.0.1:8080":       "https://127.0.0.1:8443/admin?x=1",
		"localhost":            "https://localhost:8443/admin?x=1",
		"10.0.0.1":             "https://box.example.net:8443/admin?x=1",
		"[::1]:8080":           "https://box.example.net:8443/admin?x=1", // not the address connected to
		"box.example.net@evil": "https://box.example.net:8443/admin?x=1",
		"":                     "https://box.example.net:8443/admin?x=1",
	} {
		r := httptest.NewRequest("GET", "http://x/admin?x=1", nil)
		r.Host = host
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &netAddr{"127.0.0.1:8080"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if loc := w.Header().Get("Location"); w.Code != 301 || loc != want {
			t.Errorf("Host %q: %d %q, want %q", host, w.Code, loc, want)
		}
	}
	s = New(Options{Hostname: "box.example.net"}) // port 443
	r := httptest.NewRequest("GET", "http://x/", nil)
	r.Host = "[::1]"
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &netAddr{"[::1]:80"}))
	w := httptest.NewRecorder()
	s.Plain().Handler().ServeHTTP(w, r)
	if loc := w.Header().Get("Location"); loc != "https://[::1]/" {
		t.Errorf("IPv6 on 443: %q", loc)
	}
}

type netAddr struct{ s string }

func (a *netAddr) Network() string { return "tcp" }
func (a *netAddr) String() string  { return a.s }

func TestBodiesAreCappedBeforeAnyHandler(t *testing.T) {
	ts, _, _ := newTestServer(t)
	c := client(ts)
	big := strings.Repeat("a", maxFormBody+1)
	for _, tc := range []struct {
		name, path, ct string
		body           string
		want           int
	}{
		{"big login form", "/login", "application/x-www-form-urlencoded", "email=" + big, http.StatusRequestEntityTooLarge},
		{"multipart login", "/login", "multipart/form-data; boundary=x", "--x--\r\n", http.StatusUnsupportedMediaType},
		{"big TLS upload without a session", "/admin/tls", "application/x-www-form-urlencoded", "cert=" + big, http.StatusRequestEntityTooLarge},
		{"big API body", "/admin/api/users", "application/json", `{"email":"` + strings.Repeat("a", maxAPIBody) + `"}`, http.StatusRequestEntityTooLarge},
		{"big autodiscover", "/autodiscover/autodiscover.xml", "text/xml", big, http.StatusRequestEntityTooLarge},
	} {
		req, _ := http.NewRequest("POST", ts.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ct)
		res, err := c.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, res.Status, tc.want)
		}
	}
	// A body announced small but sent big (chunked) is cut as it is read.
	pr := strings.NewReader("email=" + big)
	req, _ := http.NewRequest("POST", ts.URL+"/login", struct{ *strings.Reader }{pr})
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, err := c.Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked big form: %s", res.Status)
		}
	}

	// An admin's session lifts the TLS page's cap for its upload.
	csrf := login(t, ts, c, "admin@example.net", adminPW)
	var buf bytes.Buffer
	buf.WriteString("--x\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + csrf + "\r\n--x\r\nContent-Disposition: form-data; name=\"op\"\r\n\r\nupload\r\n")
	buf.WriteString("--x\r\nContent-Disposition: form-data; name=\"cert_file\"; filename=\"c.pem\"\r\n\r\n" + strings.Repeat("c", 200<<10) + "\r\n--x--\r\n")
	req, _ = http.NewRequest("POST", ts.URL+"/admin/tls", &buf)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther { // to the TLS page, which says what was wrong
		t.Errorf("an admin's 200 KiB upload: %s", res.Status)
	}
}

func TestAProfileNamesOnlyTheBoxItself(t *testing.T) {
	ts, _, _ := newTestServer(t)
	c := client(ts)
	for q, want := range map[string]int{
		"email=kid@example.net":                                  200,
		"email=kid@example.net&server=box.example.net":           200,
		"email=kid@example.net&server=BOX.example.net":           200,
		"email=kid@example.net&server=attacker.example":          400,
		"email=kid@example.net&server=box.example.net.evil.test": 400,
		"email=kid@example.net&server=" + url.QueryEscape("x\n"): 400,
	} {
		if code, body := get(t, c, ts.URL+"/setup/mobileconfig?"+q); code != want || (code == 200 && !strings.Contains(body, "<string>box.example.net</string>")) {
			t.Errorf("%s: %d, want %d", q, code, want)
		}
	}
}

func TestAProfileMayNameAConfiguredServer(t *testing.T) {
	s := New(Options{Hostname: "box.example.net", ProfileServers: []string{"imap.example.net"}})
	for q, want := range map[string]int{
		"email=kid@example.net&server=imap.example.net": 200,
		"email=kid@example.net&server=IMAP.example.net": 200,
		"email=kid@example.net&server=smtp.example.net": 400,
	} {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/setup/mobileconfig?"+q, nil))
		if w.Code != want || (want == 200 && !strings.Contains(w.Body.String(), "<string>imap.example.net</string>")) {
			t.Errorf("%s: %d, want %d", q, w.Code, want)
		}
	}
}

func TestAnAdminSignsAUserOutEverywhere(t *testing.T) {
	ts, st, _ := newTestServer(t)
	ctx := context.Background()
	kid := client(ts)
	login(t, ts, kid, "kid@example.net", userPW)
	app, err := st.AddAppPassword(ctx, "kid@example.net", "phone")
	if err != nil {
		t.Fatal(err)
	}
	admin := client(ts)
	csrf := login(t, ts, admin, "admin@example.net", adminPW)
	postForm(t, admin, ts.URL+"/admin/users", url.Values{"csrf": {csrf}, "op": {"sign-out"}, "email": {"kid@example.net"}, "revoke_apps": {"on"}})
	if code, _ := get(t, kid, ts.URL+"/account"); code == 200 {
		t.Error("the kid's session survived")
	}
	if _, body := get(t, admin, ts.URL+"/admin/users"); !strings.Contains(body, "1 web session(s) ended, 1 app password(s) revoked") {
		t.Errorf("no report of the sign-out:\n%s", body)
	}
	if _, err := st.AuthenticateDevice(ctx, "kid@example.net", app, store.LoginRecord{}); err == nil {
		t.Error("the app password survived")
	}
	// The API; an unknown account is 404.
	req, _ := http.NewRequest("POST", ts.URL+"/admin/api/users/ghost@example.net/sign-out", nil)
	req.SetBasicAuth("admin@example.net", adminPW)
	if res, err := ts.Client().Do(req); err != nil || res.StatusCode != 404 {
		t.Errorf("sign-out of an unknown account: %v %v", res.Status, err)
	}
	login(t, ts, kid, "kid@example.net", userPW)
	req, _ = http.NewRequest("POST", ts.URL+"/admin/api/users/kid@example.net/sign-out", strings.NewReader(`{"revoke_app_passwords":false}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("admin@example.net", adminPW)
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out signedOut
	json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	if res.StatusCode != 200 || out.Sessions != 1 {
		t.Errorf("API sign-out: %s %+v", res.Status, out)
	}
	// A password set behind the server's back (another process) ends
	// the sessions made before it.
	login(t, ts, kid, "kid@example.net", userPW)
	if err := st.SetPassword(ctx, "kid@example.net", userPW); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, kid, ts.URL+"/account"); code == 200 {
		t.Error("a session survived a password set in the store")
	}
}

// A session outlives the server: a new one over the same store takes the
// same cookie; logging out ends it for every later server too.
func TestASessionSurvivesARestart(t *testing.T) {
	ts, st, _ := newTestServer(t)
	ctx := context.Background()
	kid := client(ts)
	csrf := login(t, ts, kid, "kid@example.net", userPW)
	u, _ := url.Parse(ts.URL)
	var cookie string
	for _, c := range kid.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			cookie = c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	if _, err := st.WebSessionByToken(ctx, cookie); err != nil {
		t.Fatalf("the session is not in the store: %v", err)
	}
	restarted := func() *httptest.Server {
		s := New(Options{Store: st, Admin: admin.New(admin.Options{Store: st}), Hostname: "box.example.net"})
		ts2 := httptest.NewTLSServer(s.Handler())
		t.Cleanup(ts2.Close)
		return ts2
	}
	ts2 := restarted()
	c2 := client(ts2)
	u2, _ := url.Parse(ts2.URL)
	c2.Jar.SetCookies(u2, []*http.Cookie{{Name: sessionCookie, Value: cookie, Path: "/"}})
	code, body := get(t, c2, ts2.URL+"/account")
	if code != 200 || !strings.Contains(body, csrf) {
		t.Fatalf("after a restart /account is %d", code)
	}
	postForm(t, c2, ts2.URL+"/logout", url.Values{"csrf": {csrf}})
	ts3 := restarted()
	c3 := client(ts3)
	u3, _ := url.Parse(ts3.URL)
	c3.Jar.SetCookies(u3, []*http.Cookie{{Name: sessionCookie, Value: cookie, Path: "/"}})
	if code, _ := get(t, c3, ts3.URL+"/account"); code == 200 {
		t.Error("a logged-out session came back after a restart")
	}
}
