package webmail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// tinyPNG is the start of a PNG, enough for sniffing.
const tinyPNG = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"

// imageOrigin is a test server on loopback that records what it is
// asked and answers by path.
type imageOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newImageOrigin(t *testing.T) *imageOrigin {
	o := &imageOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.reqs = append(o.reqs, r)
		o.mu.Unlock()
		switch r.URL.Path {
		case "/a.png":
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Set-Cookie", "track=1")
			fmt.Fprint(w, tinyPNG)
		case "/html.png":
			w.Header().Set("Content-Type", "image/png")
			fmt.Fprint(w, "<html><script>alert(1)</script>")
		case "/svg":
			w.Header().Set("Content-Type", "image/svg+xml")
			fmt.Fprint(w, "<svg onload=alert(1)>")
		case "/big.png":
			w.Header().Set("Content-Type", "image/png")
			fmt.Fprint(w, tinyPNG+strings.Repeat("x", 2000))
		case "/slow.png":
			time.Sleep(2 * time.Second)
		default:
			if to, ok := strings.CutPrefix(r.URL.Path, "/redirect/"); ok {
				http.Redirect(w, r, "http://"+to, http.StatusFound)
				return
			}
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *imageOrigin) requests() []*http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*http.Request(nil), o.reqs...)
}

// testProxy is a proxy that resolves the names of hosts (else refuses)
// and allows only the given addresses beyond the public ones.
func testProxy(hosts map[string]string, allow ...netip.AddrPort) *imageProxy {
	return newImageProxy(ImageProxyOptions{
		AllowHTTP: true, MaxBytes: 1000, Timeout: time.Second,
		LookupNetIP: func(ctx context.Context, host string) ([]netip.Addr, error) {
			if ip, ok := hosts[host]; ok {
				return []netip.Addr{netip.MustParseAddr(ip)}, nil
			}
			return nil, errors.New("no such host")
		},
		Allow: func(ap netip.AddrPort) bool {
			for _, a := range allow {
				if a == ap {
					return true
				}
			}
			return false
		},
	})
}

func TestImageProxyFetchesAnAllowedImage(t *testing.T) {
	o := newImageOrigin(t)
	ap := netip.MustParseAddrPort(o.Listener.Addr().String())
	p := testProxy(map[string]string{"img.test": "127.0.0.1"}, ap)
	for _, u := range []string{o.URL + "/a.png", fmt.Sprintf("http://img.test:%d/a.png", ap.Port())} {
		typ, data, err := p.fetch(context.Background(), u)
		if err != nil || typ != "image/png" || string(data) != tinyPNG {
			t.Errorf("%s: %q %q %v", u, typ, data, err)
		}
	}
	for _, r := range o.requests() {
		if r.Header.Get("Cookie") != "" || r.Header.Get("Referer") != "" || r.Header.Get("Authorization") != "" {
			t.Errorf("the origin got %v", r.Header)
		}
	}
	// Not images, too big, too slow: refused.
	for _, path := range []string{"/html.png", "/svg", "/big.png", "/slow.png", "/missing.png"} {
		if _, _, err := p.fetch(context.Background(), o.URL+path); err == nil {
			t.Errorf("%s fetched", path)
		}
	}
}

// By default, nothing on loopback or a private network is reached, by
// address, by name or by redirect.
func TestImageProxyRefusesPrivateAddresses(t *testing.T) {
	o := newImageOrigin(t)
	ap := netip.MustParseAddrPort(o.Listener.Addr().String())
	port := ap.Port()
	hosts := map[string]string{"loop.test": "127.0.0.1", "ten.test": "10.0.0.1", "meta.test": "169.254.169.254",
		"cgnat.test": "100.64.0.1", "six.test": "::1", "mapped.test": "::ffff:127.0.0.1", "ula.test": "fd00::1", "ok.test": "127.0.0.1"}
	// Only the redirector itself is allowed, as ok.test; where it sends
	// the proxy is not.
	p := testProxy(hosts, ap)
	refused := []string{
		fmt.Sprintf("http://loop.test:%d/a.png", port+1), fmt.Sprintf("http://127.0.0.1:%d/a.png", port+1),
		"http://ten.test/a.png", "http://10.0.0.1/a.png", "http://meta.test/latest/meta-data", "http://169.254.169.254/",
		"http://cgnat.test/a.png", "http://100.64.0.1/", "http://six.test/a.png", "http://[::1]/a.png", "http://mapped.test/",
		"http://ula.test/", "http://[fd00::1]/", "http://0.0.0.0/", "http://unknown.test/a.png", "ftp://127.0.0.1/a.png",
		"javascript:alert(1)", "http://user:pw@ok.test/a.png",
		fmt.Sprintf("http://ok.test:%d/redirect/127.0.0.1:%d/a.png", port, port+1),
		fmt.Sprintf("http://ok.test:%d/redirect/[::1]:%d/a.png", port, port+1),
		fmt.Sprintf("http://ok.test:%d/redirect/loop.test:%d/a.png", port, port+1),
	}
	for _, u := range refused {
		if _, _, err := p.fetch(context.Background(), u); err == nil {
			t.Errorf("%s fetched", u)
		}
	}
	// The production setting: not even the test server's own address.
	def := newImageProxy(ImageProxyOptions{Timeout: time.Second})
	for _, u := range []string{o.URL + "/a.png", strings.Replace(o.URL, "http:", "https:", 1) + "/a.png", "https://localhost/a.png"} {
		if _, _, err := def.fetch(context.Background(), u); err == nil {
			t.Errorf("default proxy fetched %s", u)
		}
	}
	if n := len(o.requests()); n != 3 {
		t.Errorf("the origin got %d requests, want only the 3 redirects", n)
	}
	// Redirects: at most maxProxyRedirects.
	chain := "/a.png"
	for range maxProxyRedirects + 1 {
		chain = fmt.Sprintf("/redirect/ok.test:%d%s", port, chain)
	}
	if _, _, err := p.fetch(context.Background(), "http://ok.test:"+fmt.Sprint(port)+chain); err == nil {
		t.Error("a chain of too many redirects was followed")
	}
}

// The route: logged-in only; http upgraded to https by default.
func TestImageProxyRoute(t *testing.T) {
	o := newImageOrigin(t)
	ap := netip.MustParseAddrPort(o.Listener.Addr().String())
	f := newFixture(t)
	if res, _ := f.do("", "GET", "/mail/img?u="+url.QueryEscape(o.URL+"/a.png"), nil); res.StatusCode == 200 {
		t.Error("the proxy answers without a session")
	}
	if res, _ := f.do("a", "GET", "/mail/img?u="+url.QueryEscape(o.URL+"/a.png"), nil); res.StatusCode != http.StatusBadGateway {
		t.Errorf("the default proxy: %s", res.Status)
	}
	s := New(Options{Store: f.st, Session: func(r *http.Request) (Session, bool) { return Session{AccountID: f.a.ID, Email: f.a.Email}, true },
		ImageProxy: ImageProxyOptions{AllowHTTP: true, Allow: func(a netip.AddrPort) bool { return a == ap }}})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	res, err := http.Get(ts.URL + "/mail/img?u=" + url.QueryEscape(o.URL+"/a.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || res.Header.Get("Set-Cookie") != "" ||
		res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("proxied: %s %v", res.Status, res.Header)
	}
}
