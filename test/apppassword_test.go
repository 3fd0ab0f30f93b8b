package test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

var (
	appPasswordRe = regexp.MustCompile(`\b[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}\b`)
	totpKeyRe     = regexp.MustCompile(`type the key ([A-Z2-7]+)\)`)
)

// A user with TOTP on logs in on devices only with app passwords (IMAP
// with Python's imaplib, submission with swaks); revoking one stops it;
// the web login asks for a computed code (form and HTTP Basic API); the
// logins show up in 'migrate status' and the admin's user list.
func TestAppPasswordsAndTOTP(t *testing.T) {
	b := newBox(t)
	user := b.Admin
	imapLogin := func(pw string) bool {
		t.Helper()
		out, err := b.Python("login_attempts.py", "imap", "127.0.0.1", "127.0.0.1", fmt.Sprint(b.IMAP), user, pw, "0")
		if err != nil && !strings.Contains(out, "failed") {
			t.Fatalf("imaplib: %v\n%s", err, out)
		}
		return err == nil
	}
	sub := fmt.Sprintf("127.0.0.1:%d", b.Submission)
	submit := func(pw string) bool {
		t.Helper()
		out, code := b.Swaks("--server", sub, "-tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", pw,
			"--from", user, "--to", user, "--header", "Subject: app password")
		if code != 0 && !strings.Contains(out, "535") {
			t.Fatalf("swaks: exit %d\n%s", code, out)
		}
		return code == 0
	}

	out := mustRun(t, "", "migrate", "status", "--dir", b.Dir, "--timeout", "300ms")
	if !strings.Contains(out, "no login at the box yet") {
		t.Errorf("migrate status before any login:\n%s", out)
	}

	// Without TOTP the main password works on devices.
	if !imapLogin(b.Password) {
		t.Fatal("IMAP with the main password before TOTP")
	}
	out = mustRun(t, "", "migrate", "status", "--dir", b.Dir, "--timeout", "300ms")
	if !strings.Contains(out, user+": first login "+time.Now().Format("2006-01-02")) {
		t.Errorf("migrate status after an IMAP login:\n%s", out)
	}

	out = mustRun(t, "", "user", "app-password", "add", "--dir", b.Dir, user, "Mum's iPhone")
	app := appPasswordRe.FindString(out)
	if app == "" {
		t.Fatalf("app-password add printed no password:\n%s", out)
	}
	other := appPasswordRe.FindString(mustRun(t, "", "user", "app-password", "add", "--dir", b.Dir, user, "laptop"))

	out = mustRun(t, "", "user", "totp", "--dir", b.Dir, user, "enable")
	m := totpKeyRe.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "otpauth://totp/") || !strings.Contains(out, "█") {
		t.Fatalf("totp enable printed no key, URI or QR code:\n%s", out)
	}
	secret := m[1]

	if imapLogin(b.Password) {
		t.Error("IMAP accepted the main password with TOTP on")
	}
	if submit(b.Password) {
		t.Error("submission accepted the main password with TOTP on")
	}
	if !imapLogin(app) {
		t.Error("IMAP refused the app password")
	}
	if !submit(app) {
		t.Error("submission refused the app password")
	}

	out = mustRun(t, "", "user", "app-password", "list", "--dir", b.Dir, user)
	if !regexp.MustCompile(`Mum's iPhone .*smtp from 127\.0\.0\.1`).MatchString(out) || !regexp.MustCompile(`laptop .*never`).MatchString(out) {
		t.Errorf("app-password list:\n%s", out)
	}
	if strings.Contains(out, app) {
		t.Error("app-password list shows the password")
	}

	mustRun(t, "", "user", "app-password", "revoke", "--dir", b.Dir, user, "Mum's iPhone")
	if imapLogin(app) {
		t.Error("IMAP accepted a revoked app password")
	}
	if submit(app) {
		t.Error("submission accepted a revoked app password")
	}
	if !imapLogin(other) {
		t.Error("revoking one app password stopped another")
	}

	// The web login: password, then a code computed from the secret.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Timeout: 10 * time.Second, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	body := func(res *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		d, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(d)
	}
	_, page := body(c.Get(base + "/login"))
	cm := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if cm == nil {
		t.Fatalf("login page:\n%s", page)
	}
	status, page := body(c.PostForm(base+"/login", url.Values{"csrf": {cm[1]}, "email": {user}, "password": {b.Password}}))
	tm := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(page)
	if status != 200 || tm == nil {
		t.Fatalf("login with TOTP on: %d\n%s", status, page)
	}
	code, _ := store.TOTPCode(secret, time.Now())
	if status, _ := body(c.PostForm(base+"/login/code", url.Values{"token": {tm[1]}, "code": {code}})); status != http.StatusSeeOther {
		t.Fatalf("code: %d", status)
	}
	if status, page := body(c.Get(base + "/account/security")); status != 200 || !strings.Contains(page, "laptop") || strings.Contains(page, secret) {
		t.Errorf("security page: %d\n%s", status, page)
	}

	// The API over HTTP Basic needs the next code in X-Boxmail-TOTP.
	do := func(code string) (int, string) {
		req, _ := http.NewRequest("GET", base+"/admin/api/users", nil)
		req.SetBasicAuth(user, b.Password)
		if code != "" {
			req.Header.Set("X-Boxmail-TOTP", code)
		}
		return body((&http.Client{Timeout: 10 * time.Second, Transport: c.Transport}).Do(req))
	}
	if status, _ := do(""); status != http.StatusUnauthorized {
		t.Errorf("API without a code: %d", status)
	}
	next, _ := store.TOTPCode(secret, time.Now().Add(30*time.Second))
	status, page = do(next)
	if status != 200 {
		t.Fatalf("API with a code: %d\n%s", status, page)
	}
	var users []struct {
		Email     string `json:"email"`
		LastLogin string `json:"last_login"`
	}
	json.Unmarshal([]byte(page), &users)
	if len(users) == 0 || users[0].Email != user || !strings.Contains(users[0].LastLogin, "web from 127.0.0.1") {
		t.Errorf("users: %+v", users)
	}

	mustRun(t, "", "user", "totp", "--dir", b.Dir, user, "disable")
	if !imapLogin(b.Password) {
		t.Error("IMAP refused the main password after TOTP off")
	}
	if strings.Contains(b.stderr.String(), secret) || strings.Contains(b.stderr.String(), other) {
		t.Error("a secret reached the server log")
	}
}
