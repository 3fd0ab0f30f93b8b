package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTheDashboardInABrowser: two messages come in over SMTP; the admin
// opens the Dashboard on a computer (1280 px) and a phone (390 px) for
// each range: the mail chart counts them, every chart is on the page,
// nothing scrolls sideways. Screenshots go to a temp dir, or to
// WEB_SCREENSHOTS=DIR.
func TestTheDashboardInABrowser(t *testing.T) {
	b := newBox(t)
	c := b.Dial(b.SMTP)
	c.Expect("^220")
	c.Send("EHLO client.example")
	c.Expect("^250")
	sendOne(c, b.Admin)
	sendOne(c, b.Admin)
	c.Send("QUIT")

	br := newBrowser(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	shots := t.TempDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	br.Go(base + "/account")
	br.Type("#email", b.Admin)
	br.Type("#password", b.Password)
	br.Click("#login-button")
	br.WaitURL("/admin/users")
	for _, size := range []struct{ w, h int }{{1280, 900}, {390, 844}} {
		br.Resize(size.w, size.h)
		for _, rg := range []string{"24h", "7d", "90d"} {
			name := fmt.Sprintf("dashboard-%s-%d", rg, size.w)
			br.Go(base + "/admin/dashboard?range=" + rg)
			if got := br.WaitText("#chart-mail", "2 in"); !strings.Contains(got, "2 in, 0 out") {
				t.Fatalf("%s: the mail chart says %q", name, got)
			}
			var v struct {
				InnerWidth, ScrollWidth float64
				Charts                  int
				ChartWidths             []float64
			}
			br.Exec(`return {InnerWidth: innerWidth, ScrollWidth: document.documentElement.scrollWidth,
  Charts: document.querySelectorAll("figure.chart svg").length,
  ChartWidths: Array.from(document.querySelectorAll("figure.chart svg")).map(function (e) { return e.getBoundingClientRect().width; })};`, &v)
			if size.w == 390 && v.InnerWidth > 400 {
				t.Fatalf("%s: the window is %.0f px wide, not a phone's", name, v.InnerWidth)
			}
			if v.ScrollWidth > v.InnerWidth {
				t.Errorf("%s: the page is %.0f px wide in a %.0f px window: it scrolls sideways", name, v.ScrollWidth, v.InnerWidth)
			}
			if v.Charts != 5 {
				t.Errorf("%s: %d charts, want 5", name, v.Charts)
			}
			for _, w := range v.ChartWidths {
				if w < 250 {
					t.Errorf("%s: a chart is only %.0f px wide", name, w)
				}
			}
			br.Screenshot(filepath.Join(shots, name+".png"))
			t.Logf("%s: %+v", name, v)
		}
	}
	t.Logf("screenshots in %s", shots)
}
