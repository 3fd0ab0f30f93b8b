package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// In a real browser: the webmail's login with "remember me" gets a
// 30-day cookie; a list message shows the trust panel (Reply-To in
// another domain, a look-alike name) and an unsubscribe link opening in
// a new tab without a referrer; a filter is added on the settings page
// without JavaScript help; the settings and the message with its panel
// are kept as screenshots at 1280 and 390 px, light and dark
// (WEB_SCREENSHOTS=DIR).
func TestWebmailSettingsInABrowser(t *testing.T) {
	b := newBox(t)
	br := newBrowser(t)
	webmailSend(t, b.SMTP, "news@shop.example", b.Admin, "From: \"support@bank.example\" <news@shop.example>\nTo: "+b.Admin+
		"\nReply-To: claims@elsewhere.example\nSubject: Weekly deals\nList-Id: <deals.shop.example>\n"+
		"List-Unsubscribe: <https://shop.example/unsub/1>\n\nDeals of the week.\n")
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	br.Go(base + "/mail/")
	br.Type("#email", b.Admin)
	br.Type("#password", b.Password)
	br.Click("#remember")
	br.Click("#login-button")
	if got := br.WaitText("#list", "Weekly deals"); !strings.Contains(got, "Weekly deals") {
		t.Fatalf("list after login (%s):\n%s", br.URL(), got)
	}
	var ck struct {
		Value  string `json:"value"`
		Expiry int64  `json:"expiry"`
	}
	br.call("GET", br.base+"/cookie/boxmail_session", nil, &ck)
	if left := time.Until(time.Unix(ck.Expiry, 0)); left < 29*24*time.Hour || !strings.HasPrefix(ck.Value, "r.") {
		t.Errorf("the remembered session's cookie expires in %s", left)
	}

	br.execJS(`location.href = document.querySelector("td.subject a").href`)
	tx := br.WaitText("#trust", "Replies go to")
	for _, want := range []string{"Replies go to claims@elsewhere.example", "shows the address support@bank.example", "trusted network"} {
		if !strings.Contains(tx, want) {
			t.Errorf("trust panel lacks %q:\n%s", want, tx)
		}
	}
	if rel := br.execJS(`var a = document.getElementById("unsubscribe"); return a ? a.rel + " " + a.target + " " + a.href : null`); rel != "noopener noreferrer _blank https://shop.example/unsub/1" {
		t.Errorf("unsubscribe link: %v", rel)
	}
	msgURL := br.URL()

	br.Go(base + "/mail/settings")
	br.Type("#filter-contains", "deals.shop.example")
	br.execJS(`document.getElementById("filter-field").value = "list-id"; document.getElementById("filter-folder").value = "Archive"`)
	br.Click("#filter-add")
	if got := br.WaitText("#filters", "deals.shop.example"); !strings.Contains(got, "List-Id contains “deals.shop.example” then move to folder Archive") {
		t.Errorf("filter list:\n%s", got)
	}

	shots := t.TempDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	shot := func(name, css string) {
		t.Helper()
		data := br.Screenshot(filepath.Join(shots, name+".png"))
		checkNotBlank(t, name, data, br.Rect(css))
	}
	for _, scheme := range []string{"light", "dark"} {
		// Chromium's DevTools emulation of prefers-color-scheme.
		if !br.try("POST", br.base+"/goog/cdp/execute", map[string]any{"cmd": "Emulation.setEmulatedMedia",
			"params": map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": scheme}}}}, nil) {
			t.Logf("no color-scheme emulation: %s screenshots skipped", scheme)
			continue
		}
		suffix := ""
		if scheme == "dark" {
			suffix = "-dark"
		}
		for _, width := range []int{1280, 390} {
			br.Resize(width, 900)
			br.Go(base + "/mail/settings")
			br.WaitText("#settings", "Filters")
			if w := br.execJS(`return document.documentElement.scrollWidth`); w.(float64) > float64(width)+1 {
				t.Errorf("settings at %d px scroll sideways (%v px wide)", width, w)
			}
			shot(fmt.Sprintf("mail-settings-%d%s", width, suffix), "#settings")
			br.Go(msgURL)
			br.WaitText("#trust", "Replies go to")
			shot(fmt.Sprintf("mail-trust-%d%s", width, suffix), "#message")
			if scheme == "dark" {
				bg := br.execJS(`return getComputedStyle(document.body).backgroundColor`)
				if bg != "rgb(24, 26, 27)" {
					t.Errorf("dark mode background %v", bg)
				}
			}
		}
	}
}
