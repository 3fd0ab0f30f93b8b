package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/testutil"
)

// "Remember me" (remember=1 on the login form, as the webmail's form
// posts it) keeps a session 30 days, idle or not and across a restart;
// without it the 2-hour idle rule holds. A password change still ends a
// remembered session.
func TestRememberMeKeepsASession30Days(t *testing.T) {
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	if _, err := st.AddAccount(ctx, "kid@example.net", userPW, false); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	start := func() *httptest.Server {
		s := New(Options{Store: st, Admin: admin.New(admin.Options{Store: st}), Hostname: "box.example.net", Now: clock})
		ts := httptest.NewTLSServer(s.Handler())
		t.Cleanup(ts.Close)
		return ts
	}
	ts := start()
	logIn := func(remember bool) (*http.Client, *http.Cookie) {
		c := client(ts)
		_, body := get(t, c, ts.URL+"/login")
		m := csrfRe.FindStringSubmatch(body)
		v := url.Values{"csrf": {m[1]}, "email": {"kid@example.net"}, "password": {userPW}, "next": {"/account"}}
		if remember {
			v.Set("remember", "1")
		}
		res, err := c.PostForm(ts.URL+"/login", v)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for _, ck := range res.Cookies() {
			if ck.Name == sessionCookie {
				return c, ck
			}
		}
		t.Fatalf("login: %s, no session cookie", res.Status)
		return nil, nil
	}
	short, shortCk := logIn(false)
	long, longCk := logIn(true)
	if shortCk.MaxAge != int(maxLifetime/time.Second) || strings.HasPrefix(shortCk.Value, rememberPrefix) {
		t.Errorf("plain cookie: max-age %d, %q", shortCk.MaxAge, shortCk.Value[:2])
	}
	if longCk.MaxAge != 30*24*3600 || !strings.HasPrefix(longCk.Value, rememberPrefix) {
		t.Errorf("remembered cookie: max-age %d", longCk.MaxAge)
	}
	advance(3 * time.Hour)
	if code, _ := get(t, short, ts.URL+"/account"); code == 200 {
		t.Error("a plain session outlived 3 idle hours")
	}
	if code, _ := get(t, long, ts.URL+"/account"); code != 200 {
		t.Fatalf("a remembered session ended after 3 hours: %d", code)
	}
	advance(20 * 24 * time.Hour)
	ts = start() // a restart reads it back from the store
	c2 := client(ts)
	u, _ := url.Parse(ts.URL)
	c2.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: longCk.Value, Path: "/"}})
	if code, _ := get(t, c2, ts.URL+"/account"); code != 200 {
		t.Fatalf("a remembered session ended after 20 days and a restart: %d", code)
	}
	advance(11 * 24 * time.Hour)
	if code, _ := get(t, c2, ts.URL+"/account"); code == 200 {
		t.Error("a remembered session outlived 31 days")
	}

	// A password change ends the other remembered sessions.
	_, ck := logIn(true)
	c3 := client(ts)
	csrf := login(t, ts, c3, "kid@example.net", userPW)
	if code, body := postForm(t, c3, ts.URL+"/account", url.Values{"csrf": {csrf}, "op": {"passwd"}, "current": {userPW},
		"password": {"another-long-pass-9"}, "password2": {"another-long-pass-9"}}); code != http.StatusSeeOther {
		t.Fatalf("password change: %d %s", code, body)
	}
	c4 := client(ts)
	c4.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: ck.Value, Path: "/"}})
	if code, _ := get(t, c4, ts.URL+"/account"); code == 200 {
		t.Error("a remembered session outlived a password change")
	}
}
