package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// newMoreServer is newTestServer with options changed by mod.
func newMoreServer(t *testing.T, mod func(*Options)) (*httptest.Server, *store.Store, *strings.Builder) {
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

// The routes added by webmore.go, each with a valid body.
var moreAdminRoutes = []struct{ method, path, body string }{
	{"POST", "/admin/api/tls", `{"cert":"C","key":"K"}`},
	{"PUT", "/admin/api/aliases/family@example.net", `{"targets":["admin@example.net"]}`},
	{"POST", "/admin/api/users/kid@example.net/disabled", `{"disabled":true}`},
	{"DELETE", "/admin/api/users/kid@example.net?keep_mail=true", ""},
	{"DELETE", "/admin/api/users/kid@example.net/two-step", ""},
}

func TestMoreAdminRoutesNeedAnAdminAndTheCSRFToken(t *testing.T) {
	var calls int
	ts, st, _ := newMoreServer(t, func(o *Options) {
		o.InstallCertificate = func(context.Context, []byte, []byte) error { calls++; return nil }
	})
	st.AddAlias(context.Background(), store.Alias{Address: "family@example.net", Targets: []string{"kid@example.net"}})
	anon, kid, adm := client(ts), client(ts), client(ts)
	kidCSRF := login(t, ts, kid, "kid@example.net", userPW)
	login(t, ts, adm, "admin@example.net", adminPW)
	for _, r := range moreAdminRoutes {
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

func TestTLSUploadGoesThroughInstallCertificate(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts, _, logs := newMoreServer(t, func(o *Options) {
		o.InstallCertificate = func(_ context.Context, c, k []byte) error {
			if string(c) == "expired" {
				return &admin.InputError{Msg: "the certificate expired on 2020-01-01"}
			}
			mu.Lock()
			got = append(got, string(c)+"|"+string(k))
			mu.Unlock()
			return nil
		}
	})
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	for _, c := range []struct{ body, want string }{
		{`{"key":"SECRET-KEY"}`, "cert is missing"},
		{`{"cert":"C"}`, "key is missing"},
		{`{"cert":"expired","key":"SECRET-KEY"}`, "expired on 2020-01-01"},
		{`{"cert":"C","key":"K","extra":1}`, "unknown field"},
	} {
		code, m := api(t, adm, "POST", ts.URL+"/admin/api/tls", csrf, c.body)
		if msg, _ := m["error"].(string); code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", c.body, code, msg, c.want)
		}
	}
	if len(got) != 0 {
		t.Fatalf("bad input installed %v", got)
	}
	if code, m := api(t, adm, "POST", ts.URL+"/admin/api/tls", csrf, `{"cert":"CERT","key":"SECRET-KEY"}`); code != 200 {
		t.Fatalf("upload: %d %v", code, m)
	}
	// The page's form, as a browser sends it: files win over the text boxes.
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", csrf)
	mw.WriteField("op", "upload")
	mw.WriteField("cert", "ignored")
	fw, _ := mw.CreateFormFile("cert_file", "cert.pem")
	fw.Write([]byte("FILECERT"))
	mw.WriteField("key", "PASTEDKEY")
	mw.Close()
	req, _ := http.NewRequest("POST", ts.URL+"/admin/tls", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := adm.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("form: %s", res.Status)
	}
	if _, page := get(t, adm, ts.URL+"/admin/tls"); !strings.Contains(page, "new certificate is installed") {
		t.Errorf("no success message on the TLS page:\n%s", page)
	}
	if strings.Join(got, ",") != "CERT|SECRET-KEY,FILECERT|PASTEDKEY" {
		t.Errorf("installed %q", got)
	}
	if strings.Contains(logs.String(), "SECRET-KEY") || strings.Contains(logs.String(), "PASTEDKEY") {
		t.Errorf("a private key is in the log:\n%s", logs)
	}
}

func TestAnAdminEditsAnAliasAndDisablesAUserKeepingTheMail(t *testing.T) {
	ts, st, _ := newMoreServer(t, nil)
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

func TestAUserManagesTheirForwardingOnTheAccountPageAndAPI(t *testing.T) {
	ts, st, _ := newMoreServer(t, nil)
	ctx := context.Background()
	anon, kid := client(ts), client(ts)
	csrf := login(t, ts, kid, "kid@example.net", userPW)
	script := func() string {
		a, _ := st.AccountByEmail(ctx, "kid@example.net")
		sc, err := st.ActiveSieveScript(ctx, a.ID)
		if err != nil {
			return ""
		}
		return sc.Content
	}
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

	// The page's flow: add (forward and keep), turn off, turn on, delete.
	res, _ = kid.PostForm(ts.URL+"/account/forward", url.Values{"csrf": {csrf}, "op": {"add"}, "to": {"Old@Old.example"}, "keep": {"on"}, "name": {admin.DefaultForwardName}})
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

func TestTheMigrationPageShowsTheChecklist(t *testing.T) {
	since := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	runs := 0
	ts, _, _ := newMoreServer(t, func(o *Options) {
		o.measureMigration = func(context.Context) ([]admin.MigrationDomain, error) {
			runs++
			return []admin.MigrationDomain{{Domain: "example.net", Steps: []admin.MigrationStep{
				{N: 1, Name: "accounts created on the box", State: "done", Found: "2 accounts", Since: since, Detail: []string{"admin@example.net", "kid@example.net"}},
				{N: 5, Name: "MX points at the box", State: "waiting", Found: "propagated to 1 of 3 resolvers", Next: "wait for the old record's TTL"},
				{N: 7, Name: "SPF hardened to the box alone", State: "to do", Found: "v=spf1 include:old -all", Next: "boxmail spf harden example.net"},
			}}}, nil
		}
	})
	anon, kid, adm := client(ts), client(ts), client(ts)
	login(t, ts, kid, "kid@example.net", userPW)
	login(t, ts, adm, "admin@example.net", adminPW)
	if code, _ := api(t, anon, "GET", ts.URL+"/admin/api/migration", "", ""); code != 401 {
		t.Errorf("API without login: %d", code)
	}
	if code, _ := api(t, kid, "GET", ts.URL+"/admin/api/migration", "", ""); code != 403 {
		t.Errorf("API as a user: %d", code)
	}
	if code, _ := get(t, kid, ts.URL+"/admin/migration?run=1"); code != 403 {
		t.Errorf("page as a user: %d", code)
	}
	if runs != 0 {
		t.Fatalf("refused requests measured the checklist %d times", runs)
	}
	if _, page := get(t, adm, ts.URL+"/admin/migration"); runs != 0 || !strings.Contains(page, "Check now") {
		t.Errorf("the page measured before being asked (runs %d) or has no button", runs)
	}
	_, page := get(t, adm, ts.URL+"/admin/migration?run=1")
	for _, want := range []string{"example.net", "accounts created on the box", "since 2026-11-02", "kid@example.net", "propagated to 1 of 3", "Next: <code>boxmail spf harden example.net</code>", `class="lvl warn">waiting`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "Next: <code>") && strings.Count(page, "Next: <code>") != 2 {
		t.Errorf("a done step shows a next action")
	}
	code, _ := api(t, adm, "GET", ts.URL+"/admin/api/migration", "", "")
	req, _ := http.NewRequest("GET", ts.URL+"/admin/api/migration", nil)
	res, _ := adm.Do(req)
	var got []admin.MigrationDomain
	json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if code != 200 || len(got) != 1 || len(got[0].Steps) != 3 || got[0].Steps[1].State != "waiting" {
		t.Errorf("API: %d %+v", code, got)
	}
	// Without the hook, the page says so and the API is a clear 400.
	ts2, _, _ := newMoreServer(t, nil)
	adm2 := client(ts2)
	login(t, ts2, adm2, "admin@example.net", adminPW)
	if _, page := get(t, adm2, ts2.URL+"/admin/migration"); !strings.Contains(page, "not wired into this server") {
		t.Error("no hook: the page does not say so")
	}
	if code, m := api(t, adm2, "GET", ts2.URL+"/admin/api/migration", "", ""); code != 400 || !strings.Contains(fmt.Sprint(m), "not available") {
		t.Errorf("no hook: API %d %v", code, m)
	}
}

// Grandma lost the phone with her authenticator app: the admin sees her
// two-step login on the Users page and turns it off there (or through
// the API), and her password alone opens the web again.
func TestAnAdminTurnsOffTwoStepLoginAfterALostPhone(t *testing.T) {
	ts, st, _ := newMoreServer(t, nil)
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
