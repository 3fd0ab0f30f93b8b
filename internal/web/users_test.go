package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"boxmail/internal/admin"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// newServerWith is newTestServer with options changed by mod.
func newServerWith(t *testing.T, mod func(*Options)) (*httptest.Server, *store.Store, *strings.Builder) {
	t.Helper()
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	if _, err := st.AddAccount(ctx, "admin@example.net", adminPW, true); err != nil {
		t.Fatal(err)
	}
	st.AddAccount(ctx, "kid@example.net", userPW, false)
	logs := &strings.Builder{}
	o := Options{Store: st, Admin: admin.New(admin.Options{Store: st}), Hostname: "box.example.net",
		Services: Services{IMAPS: 993, IMAP: 143, Submission: 587, Submissions: 465}, Logger: newTextLogger(logs)}
	if mod != nil {
		mod(&o)
	}
	ts := httptest.NewTLSServer(New(o).Handler())
	t.Cleanup(ts.Close)
	return ts, st, logs
}

// Admin API routes that edit in place (TLS, alias, disable, two-step),
// each with a valid body.
var editAdminRoutes = []struct{ method, path, body string }{
	{"POST", "/admin/api/tls", `{"cert":"C","key":"K"}`},
	{"PUT", "/admin/api/aliases/family@example.net", `{"targets":["admin@example.net"]}`},
	{"POST", "/admin/api/users/kid@example.net/disabled", `{"disabled":true}`},
	{"DELETE", "/admin/api/users/kid@example.net?keep_mail=true", ""},
	{"DELETE", "/admin/api/users/kid@example.net/two-step", ""},
}

func TestEditAndTLSRoutesNeedAnAdminAndTheCSRFToken(t *testing.T) {
	var calls int
	ts, st, _ := newServerWith(t, func(o *Options) {
		o.InstallCertificate = func(context.Context, []byte, []byte) (bool, error) { calls++; return false, nil }
	})
	st.AddAlias(context.Background(), store.Alias{Address: "family@example.net", Targets: []string{"kid@example.net"}})
	anon, kid, adm := client(ts), client(ts), client(ts)
	kidCSRF := login(t, ts, kid, "kid@example.net", userPW)
	login(t, ts, adm, "admin@example.net", adminPW)
	for _, r := range editAdminRoutes {
		if code, _ := api(t, anon, r.method, ts.URL+r.path, "", r.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s without login: %d, want 401", r.method, r.path, code)
		}
		if code, _ := api(t, kid, r.method, ts.URL+r.path, kidCSRF, r.body); code != http.StatusForbidden {
			t.Errorf("%s %s as a user: %d, want 403", r.method, r.path, code)
		}
		if r.method != "GET" {
			if code, _ := api(t, adm, r.method, ts.URL+r.path, "", r.body); code != http.StatusForbidden {
				t.Errorf("%s %s as admin without X-CSRF-Token: %d, want 403", r.method, r.path, code)
			}
		}
	}
	if calls != 0 {
		t.Errorf("refused requests installed a certificate %d times", calls)
	}
	if off, _ := st.DisabledAccounts(context.Background()); len(off) != 0 {
		t.Errorf("refused requests disabled %v", off)
	}
	if al, _ := st.AliasByAddress(context.Background(), "family@example.net"); len(al.Targets) != 1 || al.Targets[0] != "kid@example.net" {
		t.Errorf("refused requests changed the alias: %+v", al)
	}
}

func TestAnAdminEditsAnAliasAndDisablesAUserKeepingTheMail(t *testing.T) {
	ts, st, _ := newServerWith(t, nil)
	ctx := context.Background()
	st.AddAlias(ctx, store.Alias{Address: "family@example.net", Targets: []string{"kid@example.net"}})
	adm, kid := client(ts), client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	login(t, ts, kid, "kid@example.net", userPW)
	snapshot := func() string {
		al, _ := st.Aliases(ctx)
		off, _ := st.DisabledAccounts(ctx)
		return fmt.Sprint(al, off)
	}
	was := snapshot()
	for _, c := range []struct{ method, path, body, want string }{
		{"PUT", "/admin/api/aliases/family@example.net", `{"targets":[]}`, "targets are missing"},
		{"PUT", "/admin/api/aliases/family@example.net", `{"targets":["nobody@example.net"]}`, "not an account or alias here"},
		{"PUT", "/admin/api/aliases/family@example.net", `{"targets":["kid@example.net"],"permit":["ghost@example.net"]}`, "not an account"},
		{"PUT", "/admin/api/aliases/family@example.net", `{"targets":["kid@@example.net"]}`, "target"},
		{"PUT", "/admin/api/aliases/family@example.net", `{"targets":["kid@example.net"],"x":1}`, "unknown field"},
		{"POST", "/admin/api/users/kid@example.net/disabled", `{}`, "disabled is missing"},
		{"POST", "/admin/api/users/admin@example.net/disabled", `{"disabled":true}`, "your own account"},
		{"POST", "/admin/api/users/not-an-address/disabled", `{"disabled":true}`, "email"},
		{"DELETE", "/admin/api/users/admin@example.net?keep_mail=true", ``, "your own account"},
	} {
		code, m := api(t, adm, c.method, ts.URL+c.path, csrf, c.body)
		if msg, _ := m["error"].(string); code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s %s: %d %q, want 400 mentioning %q", c.method, c.path, c.body, code, msg, c.want)
		}
	}
	for _, p := range []string{"/admin/api/aliases/ghost@example.net", "/admin/api/users/ghost@example.net/disabled"} {
		body := `{"targets":["kid@example.net"]}`
		method := "PUT"
		if strings.HasSuffix(p, "disabled") {
			body, method = `{"disabled":true}`, "POST"
		}
		if code, _ := api(t, adm, method, ts.URL+p, csrf, body); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	if now := snapshot(); now != was {
		t.Fatalf("bad requests changed the store:\nbefore %s\nafter  %s", was, now)
	}

	if code, m := api(t, adm, "PUT", ts.URL+"/admin/api/aliases/family@example.net", csrf, `{"targets":["kid@example.net","admin@example.net"],"permit":["kid@example.net"]}`); code != 200 {
		t.Fatalf("edit alias: %d %v", code, m)
	}
	if al, _ := st.AliasByAddress(ctx, "family@example.net"); fmt.Sprint(al.Targets, al.Permit) != "[kid@example.net admin@example.net] [kid@example.net]" {
		t.Errorf("alias after edit: %+v", al)
	}
	// Remove, keeping the mail: kid is out at once, mail and account stay.
	if code, m := api(t, adm, "DELETE", ts.URL+"/admin/api/users/kid@example.net?keep_mail=true", csrf, ""); code != 200 {
		t.Fatalf("remove keeping mail: %d %v", code, m)
	}
	if code, _ := get(t, kid, ts.URL+"/account"); code != http.StatusSeeOther {
		t.Errorf("kid's session still works after disable: %d", code)
	}
	if _, err := st.AccountByEmail(ctx, "kid@example.net"); err != nil {
		t.Errorf("kept account gone: %v", err)
	}
	c2 := client(ts)
	_, body := get(t, c2, ts.URL+"/login")
	m := csrfRe.FindStringSubmatch(body)
	res, _ := c2.PostForm(ts.URL+"/login", url.Values{"csrf": {m[1]}, "email": {"kid@example.net"}, "password": {userPW}})
	res.Body.Close()
	if res.StatusCode == http.StatusSeeOther {
		t.Error("a disabled account logged in")
	}
	var users []map[string]any
	req, _ := http.NewRequest("GET", ts.URL+"/admin/api/users", nil)
	res, _ = adm.Do(req)
	json.NewDecoder(res.Body).Decode(&users)
	res.Body.Close()
	if fmt.Sprint(users) == "" || !strings.Contains(fmt.Sprint(users), "disabled:true") {
		t.Errorf("users list does not show kid disabled: %v", users)
	}
	if _, page := get(t, adm, ts.URL+"/admin/users"); !strings.Contains(page, "Enable again") {
		t.Error("users page has no Enable button for the disabled account")
	}
	// Enabled again through the page's form.
	res, _ = adm.PostForm(ts.URL+"/admin/users", url.Values{"csrf": {csrf}, "op": {"enable"}, "email": {"kid@example.net"}})
	res.Body.Close()
	if off, _ := st.DisabledAccounts(ctx); off["kid@example.net"] {
		t.Error("kid still disabled after Enable")
	}
	login(t, ts, client(ts), "kid@example.net", userPW)
	// The page's remove form with "keep" disables without the typed confirmation.
	res, _ = adm.PostForm(ts.URL+"/admin/users", url.Values{"csrf": {csrf}, "op": {"remove"}, "mail": {"keep"}, "email": {"kid@example.net"}})
	res.Body.Close()
	if off, _ := st.DisabledAccounts(ctx); !off["kid@example.net"] {
		t.Error("remove keeping the mail did not disable kid")
	}
	// The alias page's edit form.
	res, _ = adm.PostForm(ts.URL+"/admin/aliases", url.Values{"csrf": {csrf}, "op": {"edit"}, "address": {"family@example.net"}, "targets": {"admin@example.net"}, "permit": {""}})
	res.Body.Close()
	if al, _ := st.AliasByAddress(ctx, "family@example.net"); fmt.Sprint(al.Targets, al.Permit) != "[admin@example.net] []" {
		t.Errorf("alias after the form: %+v", al)
	}
}

// Grandma lost the phone with her authenticator app: the admin sees her
// two-step login on the Users page and turns it off there (or through
// the API), and her password alone opens the web again.
func TestAnAdminTurnsOffTwoStepLoginAfterALostPhone(t *testing.T) {
	ts, st, _ := newServerWith(t, nil)
	ctx := context.Background()
	if err := st.EnableTOTP(ctx, "kid@example.net", store.NewTOTPSecret(), 0); err != nil {
		t.Fatal(err)
	}
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	_, body := get(t, adm, ts.URL+"/admin/users")
	if !strings.Contains(body, `<span class="tag">two-step login</span>`) || !strings.Contains(body, "Turn off two-step login") {
		t.Fatalf("the users page does not show kid's two-step login:\n%s", body)
	}
	_, js := get(t, adm, ts.URL+"/admin/api/users")
	var users []userInfo
	json.Unmarshal([]byte(js), &users)
	if i := slices.IndexFunc(users, func(u userInfo) bool { return u.Email == "kid@example.net" }); i < 0 || !users[i].TwoStep || users[0].TwoStep {
		t.Errorf("GET /admin/api/users does not say (only) kid has two-step login: %s", js)
	}
	postForm(t, adm, ts.URL+"/admin/users", url.Values{"csrf": {csrf}, "op": {"two-step-off"}, "email": {"kid@example.net"}})
	if on, _ := st.TOTPEnabled(ctx, "kid@example.net"); on {
		t.Fatal("two-step login is still on after the admin turned it off")
	}
	if _, body = get(t, adm, ts.URL+"/admin/users"); !strings.Contains(body, "Two-step login is off for kid@example.net") || strings.Contains(body, "Turn off two-step login") {
		t.Errorf("the users page after turning it off:\n%s", body)
	}
	login(t, ts, client(ts), "kid@example.net", userPW) // the password alone is enough again

	// The API does the same; bad addresses are told apart.
	st.EnableTOTP(ctx, "kid@example.net", store.NewTOTPSecret(), 0)
	for path, want := range map[string]int{"kid@example.net": 200, "ghost@example.net": 404, "not-an-address": 400} {
		if code, m := api(t, adm, "DELETE", ts.URL+"/admin/api/users/"+path+"/two-step", csrf, ""); code != want {
			t.Errorf("DELETE users/%s/two-step: %d %v, want %d", path, code, m, want)
		}
	}
	if on, _ := st.TOTPEnabled(ctx, "kid@example.net"); on {
		t.Error("two-step login is still on after the API call")
	}
}
