package test

// Issue 14, items 4 and 11: the trailing-slash addresses people type
// (the seed says to log in at https://box.example.net/admin/), and /setup
// opened from a shared link on a phone.

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// TestWebTrailingSlashRedirectsToThePage: /admin/, /account/ and /setup/
// redirect permanently to the page, query kept; anonymous, /admin and
// /account then go on to the login page.
func TestWebTrailingSlashRedirectsToThePage(t *testing.T) {
	b := newBox(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	for _, tc := range []struct{ path, next, page, mark string }{
		{"/admin/?tab=users", "/admin?tab=users", "/login", `id="login-button"`},
		{"/account/?x=1", "/account?x=1", "/login", `id="login-button"`},
		{"/setup/?domain=example.test&email=grandma%40example.test", "/setup?domain=example.test&email=grandma%40example.test", "/setup", `id="in-server"`},
	} {
		jar, _ := cookiejar.New(nil)
		var hops []*http.Response
		c := &http.Client{Timeout: 10 * time.Second, Jar: jar,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				hops = append(hops, req.Response)
				return nil
			}}
		res, err := c.Get(base + tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if len(hops) == 0 {
			t.Errorf("%s: %s, not redirected", tc.path, res.Status)
			continue
		}
		if first := hops[0]; first.StatusCode != http.StatusMovedPermanently && first.StatusCode != http.StatusPermanentRedirect || first.Header.Get("Location") != tc.next {
			t.Errorf("%s: first answer %s to %q, want a permanent redirect to %q", tc.path, first.Status, first.Header.Get("Location"), tc.next)
		}
		if res.StatusCode != 200 || res.Request.URL.Path != tc.page || !strings.Contains(string(body), tc.mark) {
			t.Errorf("%s: ended at %s with %s, want the page %s", tc.path, res.Request.URL, res.Status, tc.page)
		}
		if tc.page == "/setup" && res.Request.URL.RawQuery != "domain=example.test&email=grandma%40example.test" {
			t.Errorf("%s: query lost on the way: %s", tc.path, res.Request.URL)
		}
	}
}
