package test

import (
	"net/http"
	"net/url"
	"testing"
)

// A family member stays logged in across a restart (an upgrade): the
// same cookie still reaches /account; after a logout it does not, even
// after another restart.
func TestAWebSessionSurvivesARestart(t *testing.T) {
	b := newBox(t)
	w := newWebClient(t, b, "127.0.0.1")
	csrf := w.mustLogin(b.Admin, b.Password)
	if res, _ := w.get("/account"); res.StatusCode != http.StatusOK {
		t.Fatalf("/account before the restart: %s", res.Status)
	}
	b.Stop()
	b.Start()
	res, _ := w.get("/account")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/account after a restart: %s (Location %q)", res.Status, res.Header.Get("Location"))
	}
	base, _ := url.Parse(w.base)
	kept := w.c.Jar.Cookies(base)
	if res, _ := w.post("/logout", url.Values{"csrf": {csrf}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", res.Status)
	}
	b.Stop()
	b.Start()
	w.c.Jar.SetCookies(base, kept) // the old cookie, as a copy of it would be
	if res, _ := w.get("/account"); res.StatusCode == http.StatusOK {
		t.Error("a logged-out session came back after a restart")
	}
}
