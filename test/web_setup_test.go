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
	"os"
	"path/filepath"
	"strconv"
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

// Exec runs script in the page (WebDriver execute/sync) and decodes its
// return value into out.
func (b *browser) Exec(script string, out any) {
	b.t.Helper()
	b.call("POST", b.base+"/execute/sync", map[string]any{"script": script, "args": []any{}}, out)
}

// Resize sets the browser window's size in CSS pixels.
func (b *browser) Resize(width, height int) {
	b.t.Helper()
	b.call("POST", b.base+"/window/rect", map[string]int{"width": width, "height": height}, nil)
}

// TestSetupFromASharedLinkInABrowser: a family member opens the link the
// admin sent, on a phone (390 px) and a computer (1280 px). The server
// name and the IMAP and SMTP ports are on the first screen, and the page
// does not scroll sideways.
func TestSetupFromASharedLinkInABrowser(t *testing.T) {
	b := newBox(t)
	br := newBrowser(t)
	shots := t.TempDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	link := fmt.Sprintf("https://127.0.0.1:%d/setup?domain=example.test&server=mail.example.test&email=grandma%%40example.test", b.HTTPS)
	for _, size := range []struct{ w, h int }{{390, 844}, {1280, 800}} {
		name := fmt.Sprintf("setup-shared-%d", size.w)
		br.Resize(size.w, size.h)
		br.Go(link)
		if got := br.WaitText("#in-server", "mail.example.test"); got != "mail.example.test" {
			t.Errorf("%s: server %q", name, got)
		}
		if got := br.Text("#in-port"); got != strconv.Itoa(b.IMAPS) {
			t.Errorf("%s: IMAP port %q, want %d", name, got, b.IMAPS)
		}
		if got := br.Text("#out-port"); got != strconv.Itoa(b.Submission) {
			t.Errorf("%s: SMTP port %q, want %d", name, got, b.Submission)
		}
		var v struct {
			InnerWidth, InnerHeight, ScrollWidth float64
			Tops                                 map[string]float64
			FormOpen                             bool
		}
		br.Exec(`var tops = {};
["#device-picker", "#in-server", "#in-port", "#out-port"].forEach(function (s) { tops[s] = document.querySelector(s).getBoundingClientRect().top; });
return {InnerWidth: innerWidth, InnerHeight: innerHeight, ScrollWidth: document.documentElement.scrollWidth, Tops: tops,
  FormOpen: document.getElementById("setup-admin").open};`, &v)
		if size.w == 390 && v.InnerWidth > 400 {
			t.Fatalf("%s: the window is %.0f px wide, not a phone's", name, v.InnerWidth)
		}
		for css, top := range v.Tops {
			if top < 0 || top >= v.InnerHeight {
				t.Errorf("%s: %s at %.0f px, not on the first screen (%.0f px high)", name, css, top, v.InnerHeight)
			}
		}
		if v.ScrollWidth > v.InnerWidth {
			t.Errorf("%s: the page is %.0f px wide in a %.0f px window: it scrolls sideways", name, v.ScrollWidth, v.InnerWidth)
		}
		if v.FormOpen {
			t.Errorf("%s: the admin's form is open", name)
		}
		data := br.Screenshot(filepath.Join(shots, name+".png"))
		checkNotBlank(t, name, data, br.Rect("#settings"))
		t.Logf("%s: %+v", name, v)
	}
}
