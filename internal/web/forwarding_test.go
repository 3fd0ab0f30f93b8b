package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"boxmail/internal/admin"
	"boxmail/internal/store"
)

// kidScript returns kid's active Sieve script ("" if none).
func kidScript(t *testing.T, st *store.Store) func() string {
	return func() string {
		ctx := context.Background()
		a, _ := st.AccountByEmail(ctx, "kid@example.net")
		sc, err := st.ActiveSieveScript(ctx, a.ID)
		if err != nil {
			return ""
		}
		return sc.Content
	}
}

func TestTheForwardingAPIRefusesBadRequests(t *testing.T) {
	ts, st, _ := newServerWith(t, nil)
	anon, kid := client(ts), client(ts)
	csrf := login(t, ts, kid, "kid@example.net", userPW)
	script := kidScript(t, st)
	// Auth: no login 401, no CSRF token 403; nothing changes.
	if code, _ := api(t, anon, "GET", ts.URL+"/account/api/forwards", "", ""); code != 401 {
		t.Errorf("GET forwards without login: %d", code)
	}
	if code, _ := api(t, anon, "POST", ts.URL+"/account/api/forwards", "", `{"to":"old@old.example"}`); code != 401 {
		t.Errorf("POST forwards without login: %d", code)
	}
	if code, _ := api(t, kid, "POST", ts.URL+"/account/api/forwards", "", `{"to":"old@old.example"}`); code != 403 {
		t.Errorf("POST forwards without X-CSRF-Token: %d", code)
	}
	res, _ := kid.PostForm(ts.URL+"/account/forward", url.Values{"op": {"add"}, "to": {"old@old.example"}, "keep": {"on"}})
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("form without CSRF: %s", res.Status)
	}
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/account/api/forwards", `{}`, "to is missing"},
		{"POST", "/account/api/forwards", `{"to":"old@@old.example"}`, "to:"},
		{"POST", "/account/api/forwards", `{"to":"kid@example.net"}`, "the account itself"},
		{"POST", "/account/api/forwards", `{"to":"old@old.example","name":"a]b"}`, "without [ ]"},
		{"POST", "/account/api/forwards", `{"to":"old@old.example","x":1}`, "unknown field"},
	} {
		code, m := api(t, kid, c.method, ts.URL+c.path, csrf, c.body)
		if msg, _ := m["error"].(string); code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s: %d %q, want 400 mentioning %q", c.method, c.body, code, msg, c.want)
		}
	}
	if code, _ := api(t, kid, "POST", ts.URL+"/account/api/forwards/Nothing/disable", csrf, ""); code != 404 {
		t.Errorf("disabling a missing rule: %d, want 404", code)
	}
	if s := script(); s != "" {
		t.Fatalf("bad requests wrote a script:\n%s", s)
	}
}

func TestAUserManagesTheirForwardingOnTheAccountPageAndAPI(t *testing.T) {
	ts, st, _ := newServerWith(t, nil)
	kid := client(ts)
	csrf := login(t, ts, kid, "kid@example.net", userPW)
	script := kidScript(t, st)

	// The page's flow: add (forward and keep), turn off, turn on, delete.
	res, _ := kid.PostForm(ts.URL+"/account/forward", url.Values{"csrf": {csrf}, "op": {"add"}, "to": {"Old@Old.example"}, "keep": {"on"}, "name": {admin.DefaultForwardName}})
	res.Body.Close()
	if s := script(); !strings.Contains(s, `redirect :copy "old@old.example";`) || !strings.Contains(s, "# rule:["+admin.DefaultForwardName+"]") || !strings.Contains(s, `require ["copy"]`) {
		t.Fatalf("script after add:\n%s", s)
	}
	_, page := get(t, kid, ts.URL+"/account")
	if !strings.Contains(page, "old@old.example") || !strings.Contains(page, "copy kept here") || !strings.Contains(page, "Turn off") {
		t.Errorf("account page does not show the rule:\n%s", page)
	}
	res, _ = kid.PostForm(ts.URL+"/account/forward", url.Values{"csrf": {csrf}, "op": {"add"}, "to": {"old@old.example"}, "name": {admin.DefaultForwardName}})
	res.Body.Close()
	if _, page := get(t, kid, ts.URL+"/account"); !strings.Contains(page, "already has a rule named") {
		t.Error("a duplicate rule name gave no message")
	}
	res, _ = kid.PostForm(ts.URL+"/account/forward", url.Values{"csrf": {csrf}, "op": {"disable"}, "name": {admin.DefaultForwardName}})
	res.Body.Close()
	if s := script(); !strings.Contains(s, "if false # true") {
		t.Errorf("script after disable:\n%s", s)
	}
	code, m := api(t, kid, "POST", ts.URL+"/account/api/forwards/"+url.PathEscape(admin.DefaultForwardName)+"/enable", csrf, "")
	if code != 200 || !strings.Contains(script(), "\nif true") {
		t.Errorf("enable through the API: %d %v\n%s", code, m, script())
	}
	// The admin's account is untouched; another user cannot see kid's rules.
	adm := client(ts)
	admCSRF := login(t, ts, adm, "admin@example.net", adminPW)
	req, _ := http.NewRequest("GET", ts.URL+"/account/api/forwards", nil)
	res, _ = adm.Do(req)
	var mine []map[string]any
	json.NewDecoder(res.Body).Decode(&mine)
	res.Body.Close()
	if len(mine) != 0 {
		t.Errorf("the admin sees forwards %v", mine)
	}
	if code, _ := api(t, adm, "DELETE", ts.URL+"/account/api/forwards/"+url.PathEscape(admin.DefaultForwardName), admCSRF, ""); code != 404 {
		t.Errorf("admin deleting kid's rule through their own API: %d, want 404", code)
	}
	res, _ = kid.PostForm(ts.URL+"/account/forward", url.Values{"csrf": {csrf}, "op": {"remove"}, "name": {admin.DefaultForwardName}})
	res.Body.Close()
	if s := script(); strings.Contains(s, "redirect") {
		t.Errorf("script after delete:\n%s", s)
	}
	// HTTP Basic works for the account API, without a CSRF token.
	req, _ = http.NewRequest("POST", ts.URL+"/account/api/forwards", strings.NewReader(`{"to":"old@old.example","keep":false,"name":"Move"}`))
	req.SetBasicAuth("kid@example.net", userPW)
	req.Header.Set("Content-Type", "application/json")
	res, err := ts.Client().Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("POST with Basic: %v %v", res.Status, err)
	}
	res.Body.Close()
	if s := script(); !strings.Contains(s, `redirect "old@old.example";`) {
		t.Errorf("script after a no-keep rule:\n%s", s)
	}
}
