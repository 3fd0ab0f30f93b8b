package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

var (
	keyRe   = regexp.MustCompile(`id="totp-key">([A-Z2-7]+)<`)
	tokenRe = regexp.MustCompile(`name="token" value="([^"]+)"`)
	appPWRe = regexp.MustCompile(`<code class="big">([a-z-]+)</code>`)
)

func postForm(t *testing.T, c *http.Client, u string, v url.Values) (int, string) {
	t.Helper()
	res, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res.StatusCode, b.String()
}

// A user turns TOTP on from /account/security (QR code, confirmed by a
// code), makes an app password, and from then on the web login asks for
// a code; the secret is never shown again and never logged.
func TestTOTPSetUpAndLogin(t *testing.T) {
	ts, st, logs := newTestServer(t)
	ctx := context.Background()
	c := client(ts)
	csrf := login(t, ts, c, "kid@example.net", userPW)

	// Without the password again, no secret is made or shown.
	postForm(t, c, ts.URL+"/account/security", url.Values{"csrf": {csrf}, "op": {"totp-start"}, "password": {"not-it"}})
	if _, body := get(t, c, ts.URL+"/account/security"); keyRe.MatchString(body) || !strings.Contains(body, "password was not right") {
		t.Fatalf("set-up with a wrong password:\n%s", body)
	}
	postForm(t, c, ts.URL+"/account/security", url.Values{"csrf": {csrf}, "op": {"totp-start"}, "password": {userPW}})
	_, body := get(t, c, ts.URL+"/account/security")
	m := keyRe.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
		t.Fatalf("set-up page shows no key or QR code:\n%s", body)
	}
	secret := m[1]
	// A wrong code leaves it off.
	postForm(t, c, ts.URL+"/account/security", url.Values{"csrf": {csrf}, "op": {"totp-enable"}, "code": {"000000"}})
	if on, _ := st.TOTPEnabled(ctx, "kid@example.net"); on {
		t.Fatal("a wrong code turned TOTP on")
	}
	code, _ := store.TOTPCode(secret, time.Now())
	postForm(t, c, ts.URL+"/account/security", url.Values{"csrf": {csrf}, "op": {"totp-enable"}, "code": {code}})
	if on, _ := st.TOTPEnabled(ctx, "kid@example.net"); !on {
		t.Fatal("TOTP not on after the right code")
	}
	_, body = get(t, c, ts.URL+"/account/security")
	if strings.Contains(body, secret) || !strings.Contains(body, `id="totp-state"><strong>On.`) {
		t.Fatalf("security page after enabling:\n%s", body)
	}

	// An app password, shown once.
	_, body = postForm(t, c, ts.URL+"/account/security", url.Values{"csrf": {csrf}, "op": {"app-add"}, "name": {"Mum's iPhone"}})
	am := appPWRe.FindStringSubmatch(body)
	if am == nil {
		t.Fatalf("no app password shown:\n%s", body)
	}
	_, body = get(t, c, ts.URL+"/account/security")
	if strings.Contains(body, am[1]) || !strings.Contains(body, "Mum&#39;s iPhone") {
		t.Fatalf("the app password list:\n%s", body)
	}
	if _, err := st.AuthenticateDevice(ctx, "kid@example.net", am[1], store.LoginRecord{}); err != nil {
		t.Errorf("app password made on the web: %v", err)
	}
	if _, err := st.AuthenticateDevice(ctx, "kid@example.net", userPW, store.LoginRecord{}); err == nil {
		t.Error("main password works on a device with TOTP on")
	}

	// The web login now asks for the code.
	c2 := client(ts)
	_, body = get(t, c2, ts.URL+"/login")
	lc := csrfRe.FindStringSubmatch(body)[1]
	status, body := postForm(t, c2, ts.URL+"/login", url.Values{"csrf": {lc}, "email": {"kid@example.net"}, "password": {userPW}})
	tm := tokenRe.FindStringSubmatch(body)
	if status != http.StatusOK || tm == nil {
		t.Fatalf("login with TOTP on: %d\n%s", status, body)
	}
	if st, _ := get(t, c2, ts.URL+"/account"); st != http.StatusSeeOther {
		t.Fatalf("logged in before the code: %d", st)
	}
	if st, _ := postForm(t, c2, ts.URL+"/login/code", url.Values{"token": {tm[1]}, "code": {"123456"}}); st != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", st)
	}
	// The code used to turn TOTP on cannot be used again; the next one can.
	next, _ := store.TOTPCode(secret, time.Now().Add(30*time.Second))
	if st, _ := postForm(t, c2, ts.URL+"/login/code", url.Values{"token": {tm[1]}, "code": {next}}); st != http.StatusSeeOther {
		t.Fatalf("right code: %d", st)
	}
	if st, body := get(t, c2, ts.URL+"/account"); st != http.StatusOK || !strings.Contains(body, ", web from 127.0.0.1") {
		t.Fatalf("account after the code: %d\n%s", st, body)
	}

	// Turning it off needs a code.
	csrf2 := csrfRe.FindStringSubmatch(func() string { _, b := get(t, c2, ts.URL+"/account/security"); return b }())[1]
	postForm(t, c2, ts.URL+"/account/security", url.Values{"csrf": {csrf2}, "op": {"totp-disable"}, "code": {"999999"}})
	if on, _ := st.TOTPEnabled(ctx, "kid@example.net"); !on {
		t.Fatal("a wrong code turned TOTP off")
	}
	third, _ := store.TOTPCode(secret, time.Now().Add(-30*time.Second))
	postForm(t, c2, ts.URL+"/account/security", url.Values{"csrf": {csrf2}, "op": {"totp-disable"}, "code": {third}})
	// -30 s is before the step used to log in: refused as a replay.
	if on, _ := st.TOTPEnabled(ctx, "kid@example.net"); !on {
		t.Fatal("an older code than the last used one turned TOTP off")
	}
	st.DisableTOTP(ctx, "kid@example.net")

	// Revoke.
	postForm(t, c2, ts.URL+"/account/security", url.Values{"csrf": {csrf2}, "op": {"app-revoke"}, "name": {"Mum's iPhone"}})
	if ps, _ := st.AppPasswords(ctx, "kid@example.net"); len(ps) != 0 {
		t.Errorf("after revoke: %v", ps)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), am[1]) {
		t.Errorf("a secret reached the log:\n%s", logs)
	}
}

// HTTP Basic on the API: an admin with TOTP on must send the code.
func TestAPIBasicWithTOTP(t *testing.T) {
	ts, st, _ := newTestServer(t)
	ctx := context.Background()
	secret := store.NewTOTPSecret()
	if err := st.EnableTOTP(ctx, "admin@example.net", secret, 0); err != nil {
		t.Fatal(err)
	}
	do := func(code string) int {
		req, _ := http.NewRequest("GET", ts.URL+"/admin/api/users", nil)
		req.SetBasicAuth("admin@example.net", adminPW)
		if code != "" {
			req.Header.Set("X-Boxmail-TOTP", code)
		}
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := do(""); s != http.StatusUnauthorized {
		t.Errorf("no code: %d", s)
	}
	if s := do("000000"); s != http.StatusUnauthorized {
		t.Errorf("wrong code: %d", s)
	}
	code, _ := store.TOTPCode(secret, time.Now())
	if s := do(code); s != http.StatusOK {
		t.Errorf("right code: %d", s)
	}
	if s := do(code); s != http.StatusUnauthorized {
		t.Errorf("the same code again: %d", s)
	}
}
