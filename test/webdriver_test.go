package test

// A minimal W3C WebDriver client for chromedriver driving headless
// Chromium: just the commands the web tests use.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

type browser struct {
	t    *testing.T
	base string // http://127.0.0.1:PORT/session/ID
}

const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// newBrowser starts chromedriver and a headless Chromium session; both
// stop when the test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := needTool(t, "chromium")
	driver := needTool(t, "chromedriver")
	port := testutil.FreePort(t)
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	testutil.WaitFor(t, "chromedriver to start", 15*time.Second, func() bool {
		res, err := http.Get(root + "/status")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"acceptInsecureCerts": true, // the test box's certificate is self-signed
		"goog:chromeOptions": map[string]any{"binary": chromium, "args": []string{
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--window-size=1100,1500"}},
	}}}
	b := &browser{t: t}
	var v struct {
		SessionID string `json:"sessionId"`
	}
	b.call("POST", root+"/session", caps, &v)
	b.base = root + "/session/" + v.SessionID
	t.Cleanup(func() { b.call("DELETE", b.base, nil, nil) })
	return b
}

func (b *browser) call(method, url string, in, out any) {
	b.t.Helper()
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, url, &body)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 60 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("webdriver %s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	json.NewDecoder(res.Body).Decode(&env)
	if res.StatusCode != 200 {
		b.t.Fatalf("webdriver %s %s: %s %s", method, url, res.Status, env.Value)
	}
	if out != nil {
		if err := json.Unmarshal(env.Value, out); err != nil {
			b.t.Fatalf("webdriver answer %s: %v", env.Value, err)
		}
	}
}

func (b *browser) Go(url string) { b.call("POST", b.base+"/url", map[string]string{"url": url}, nil) }

func (b *browser) URL() string {
	var u string
	b.call("GET", b.base+"/url", nil, &u)
	return u
}

func (b *browser) find(css string) string {
	b.t.Helper()
	var v map[string]string
	b.call("POST", b.base+"/element", map[string]string{"using": "css selector", "value": css}, &v)
	return v[elementKey]
}

// Type replaces the text of the input css.
func (b *browser) Type(css, text string) {
	b.t.Helper()
	id := b.find(css)
	b.call("POST", b.base+"/element/"+id+"/clear", map[string]any{}, nil)
	b.call("POST", b.base+"/element/"+id+"/value", map[string]string{"text": text}, nil)
}

func (b *browser) Click(css string) {
	b.t.Helper()
	b.call("POST", b.base+"/element/"+b.find(css)+"/click", map[string]any{}, nil)
}

func (b *browser) Text(css string) string {
	b.t.Helper()
	var s string
	b.call("GET", b.base+"/element/"+b.find(css)+"/text", nil, &s)
	return s
}

type rect struct{ X, Y, Width, Height float64 }

func (b *browser) Rect(css string) rect {
	b.t.Helper()
	var r rect
	b.call("GET", b.base+"/element/"+b.find(css)+"/rect", nil, &r)
	return r
}

// Screenshot saves a PNG of the viewport to path and returns it.
func (b *browser) Screenshot(path string) []byte {
	b.t.Helper()
	var s string
	b.call("GET", b.base+"/screenshot", nil, &s)
	png, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return png
}

// try runs a command and reports whether WebDriver accepted it (no
// failure recorded), for polling.
func (b *browser) try(method, url string, in, out any) bool {
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, url, &body)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	json.NewDecoder(res.Body).Decode(&env)
	return res.StatusCode == 200 && (out == nil || json.Unmarshal(env.Value, out) == nil)
}

// WaitText waits (up to 10 s) until the element css exists and its text
// contains want, and returns the text last seen.
func (b *browser) WaitText(css, want string) string {
	b.t.Helper()
	var last string
	for i := 0; i < 100; i++ {
		var v map[string]string
		if b.try("POST", b.base+"/element", map[string]string{"using": "css selector", "value": css}, &v) {
			if b.try("GET", b.base+"/element/"+v[elementKey]+"/text", nil, &last) && strings.Contains(last, want) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// WaitURL waits (up to 10 s) until the address contains want.
func (b *browser) WaitURL(want string) string {
	var u string
	for i := 0; i < 100; i++ {
		if b.try("GET", b.base+"/url", nil, &u) && strings.Contains(u, want) {
			return u
		}
		time.Sleep(100 * time.Millisecond)
	}
	return u
}
