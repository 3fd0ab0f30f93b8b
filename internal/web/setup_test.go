package web

import (
	"crypto/x509"
	"html"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"boxmail/internal/testutil"
)

// TestAccountLinksToItsOwnSetup: the /account page's link to /setup
// decodes to the account's address, domain and the box's server (it was
// once escaped whole, "?domain%3d...", and lost them).
func TestAccountLinksToItsOwnSetup(t *testing.T) {
	ts, _, _ := newTestServer(t)
	c := client(ts)
	login(t, ts, c, "kid@example.net", userPW)
	code, body := get(t, c, ts.URL+"/account")
	if code != 200 {
		t.Fatalf("/account: %d", code)
	}
	m := regexp.MustCompile(`<a href="([^"]*)" id="setup-link">`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no setup link on /account:\n%s", body)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/setup" || q.Get("domain") != "example.net" || q.Get("server") != "box.example.net" || q.Get("email") != "kid@example.net" {
		t.Errorf("setup link %q decodes to %s %v", m[1], u.Path, q)
	}
	// Followed, it opens the settings for that address first.
	_, page := get(t, c, ts.URL+u.String())
	if !strings.Contains(page, `id="setup-email">kid@example.net<`) || !strings.Contains(page, `id="in-username">kid@example.net<`) {
		t.Errorf("the linked setup page does not name the address:\n%s", page)
	}
}

// TestSetupFromASharedLinkPutsTheSettingsFirst: with its parameters (or
// on the box's own hostname) /setup shows the device picker and the
// settings before the admin's form, which is collapsed; without, the
// form comes first, open.
func TestSetupFromASharedLinkPutsTheSettingsFirst(t *testing.T) {
	ts, _, _ := newTestServer(t)
	before := func(body, a, b string) bool {
		i, j := strings.Index(body, a), strings.Index(body, b)
		return i >= 0 && j >= 0 && i < j
	}
	shared := func(name, body string) {
		t.Helper()
		if !before(body, `id="device-picker"`, `id="settings"`) || !before(body, `id="out-port"`, `id="setup-form"`) || !before(body, `id="android"`, `id="setup-form"`) {
			t.Errorf("%s: the settings and steps do not come before the form:\n%s", name, body)
		}
		if !strings.Contains(body, `<details class="card" id="setup-admin">`) {
			t.Errorf("%s: the admin's form is not collapsed", name)
		}
	}
	_, body := get(t, client(ts), ts.URL+"/setup?domain=example.net&server=box.example.net&email=kid%40example.net")
	shared("shared link", body)
	if !strings.Contains(body, `id="profile-email" placeholder="you@example.net" value="kid@example.net"`) {
		t.Error("the iPhone profile's address is not filled in")
	}
	_, body = get(t, client(ts), ts.URL+"/setup?email=kid%40example.net")
	shared("email only", body)

	// On the box's own name, without parameters.
	st := testutil.Store(t)
	if err := st.AddDomain(t.Context(), "example.net"); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "https://box.example.net:8443/setup", nil)
	New(Options{Store: st, Hostname: "box.example.net", Services: Services{IMAPS: 993, Submission: 587}}).Handler().ServeHTTP(w, r)
	shared("own hostname", w.Body.String())

	// Elsewhere (the admin at 127.0.0.1), the form first and open.
	_, body = get(t, client(ts), ts.URL+"/setup")
	if !before(body, `id="setup-form"`, `id="receiving"`) || !strings.Contains(body, `id="setup-admin" open>`) || strings.Contains(body, `id="device-picker"`) {
		t.Errorf("plain /setup: the form is not first and open:\n%s", body)
	}
	// A typo in a shared link shows the form, open, with its message.
	_, body = get(t, client(ts), ts.URL+"/setup?domain=not%20a%20domain")
	if !strings.Contains(body, `id="setup-admin" open>`) || !strings.Contains(body, "does not look like an email domain") {
		t.Errorf("bad domain: the form is not open with its message:\n%s", body)
	}
}

// TestSetupWarnsOnlyWithAnUntrustedCertificate: the page tells people
// to accept a certificate warning only while the certificate is not
// trusted (self-signed); with a CA-issued one (ACME) it does not.
func TestSetupWarnsOnlyWithAnUntrustedCertificate(t *testing.T) {
	st := testutil.Store(t)
	leaf := &x509.Certificate{}
	for _, trusted := range []bool{false, true} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "https://box.example.net/setup?domain=example.net", nil)
		New(Options{Store: st, Hostname: "box.example.net", Services: Services{IMAPS: 993, Submission: 587},
			Certificate: func() (*x509.Certificate, bool) { return leaf, trusted }}).Handler().ServeHTTP(w, r)
		if got := strings.Contains(w.Body.String(), `id="setup-cert-warning"`); got == trusted {
			t.Errorf("trusted %v: warning shown %v", trusted, got)
		}
	}
}
