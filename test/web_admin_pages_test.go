package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// TestAdminPagesFitTheScreenInABrowser: the admin opens /admin/queue (a
// message to a long address waits in it), /admin/users and /account on a
// computer (1280 px) and a phone (390 px); no page scrolls sideways, and
// the queue's Retry and Remove buttons are on the screen.
func TestAdminPagesFitTheScreenInABrowser(t *testing.T) {
	far := testutil.FreePort(t) // nothing listens: the message waits in the queue
	b := newBoxWith(t, map[string]string{"transports": "farawayproviderwithaverylongname.example=127.0.0.1:" + strconv.Itoa(far)})
	long := "thefamilynewsletterarchiveofthewholeextendedfamilysince2026@farawayproviderwithaverylongname.example"
	b.Stop()
	st := b.OpenStore()
	msg := "From: me@example.test\r\nTo: " + long + "\r\nSubject: news\r\n\r\nHello.\r\n"
	if err := st.Deliver(context.Background(), store.Delivery{Data: []byte(msg), Sender: "me@example.test", Remote: []string{long}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	b.Start()
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
	testutil.WaitFor(t, "a delivery attempt", 30*time.Second, func() bool {
		q := b.Queue()
		return len(q) == 1 && q[0].Attempts > 0
	})
	for _, size := range []struct{ w, h int }{{1280, 800}, {390, 844}} {
		br.Resize(size.w, size.h)
		for _, p := range []string{"queue", "users", "account"} {
			name := fmt.Sprintf("%s-%d", p, size.w)
			path := "/admin/" + p
			if p == "account" {
				path = "/account"
			}
			br.Go(base + path)
			if p == "queue" {
				if got := br.WaitText("#queue", long); !strings.Contains(got, long) {
					t.Fatalf("%s: the queue does not show %s:\n%s", name, long, got)
				}
			}
			var v struct {
				InnerWidth, ScrollWidth float64
				Buttons                 []float64
				Wide                    []string
			}
			br.Exec(`return {InnerWidth: innerWidth, ScrollWidth: document.documentElement.scrollWidth,
  Buttons: Array.from(document.querySelectorAll("#queue .queue-retry, #queue .queue-remove")).map(function (e) { return e.getBoundingClientRect().right; }),
  Wide: Array.from(document.querySelectorAll("body *")).filter(function (e) { return e.getBoundingClientRect().right > innerWidth; }).slice(0, 8).map(function (e) { return e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right); })};`, &v)
			if size.w == 390 && v.InnerWidth > 400 {
				t.Fatalf("%s: the window is %.0f px wide, not a phone's", name, v.InnerWidth)
			}
			if v.ScrollWidth > v.InnerWidth {
				t.Errorf("%s: the page is %.0f px wide in a %.0f px window: it scrolls sideways", name, v.ScrollWidth, v.InnerWidth)
			}
			if p == "queue" && len(v.Buttons) != 2 {
				t.Errorf("%s: %d Retry/Remove buttons, want 2", name, len(v.Buttons))
			}
			for _, right := range v.Buttons {
				if right > v.InnerWidth {
					t.Errorf("%s: a queue button ends at %.0f px, off the %.0f px screen", name, right, v.InnerWidth)
				}
			}
			br.Screenshot(filepath.Join(shots, name+".png"))
			t.Logf("%s: %+v", name, v)
		}
	}
}
