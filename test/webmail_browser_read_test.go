package test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// In a real browser: an HTML message with a remote image makes no
// request to the image's server until "show images"; then exactly one
// request arrives, from the box's image proxy (allowed to reach this
// loopback listener by BOXMAIL_TEST_IMAGE_PROXY_ALLOW), without cookie or
// referrer, and the browser shows the image.
func TestWebmailRemoteImagesInABrowser(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var pic bytes.Buffer
	if err := png.Encode(&pic, image.NewRGBA(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Set-Cookie", "tracked=yes")
		_, _ = w.Write(pic.Bytes())
	})}
	go origin.Serve(ln)
	t.Cleanup(func() { origin.Close() })
	requests := func() []*http.Request {
		mu.Lock()
		defer mu.Unlock()
		return append([]*http.Request(nil), got...)
	}
	t.Setenv("BOXMAIL_TEST_IMAGE_PROXY_ALLOW", ln.Addr().String())
	b := newBox(t)
	br := newBrowser(t)
	webmailSend(t, b.SMTP, "shop@elsewhere.example", b.Admin, "From: Shop <shop@elsewhere.example>\nTo: "+b.Admin+
		"\nSubject: picture news\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html; charset=utf-8\n\n"+
		"<p>Look:</p><img id=pic src=http://"+ln.Addr().String()+"/photo.png?u=me width=3 height=2>\n"+
		"--b\nContent-Type: image/png\nContent-Disposition: attachment; filename=pic.png\nContent-Transfer-Encoding: base64\n\n"+
		base64.StdEncoding.EncodeToString(pic.Bytes())+"\n--b--\n")
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	br.Go(base + "/mail/")
	br.Type("#email", b.Admin)
	br.Type("#password", b.Password)
	br.Click("#login-button")
	br.WaitText("#list", "picture news")
	br.execJS(`location.href = document.querySelector("td.subject a").href`)
	br.WaitText("#message", "Remote images are hidden")
	time.Sleep(time.Second) // the body frame loads; a fetch would arrive
	if n := len(requests()); n != 0 {
		t.Fatalf("%d requests reached the image's server before \"show images\"", n)
	}
	br.Click("#show-images")
	var rs []*http.Request
	for range 100 {
		if rs = requests(); len(rs) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a second request would arrive
	rs = requests()
	if len(rs) != 1 {
		t.Fatalf("%d requests after \"show images\", want 1", len(rs))
	}
	r := rs[0]
	if r.URL.String() != "/photo.png?u=me" || r.Header.Get("Cookie") != "" || r.Header.Get("Referer") != "" || strings.Contains(r.UserAgent(), "Chrome") {
		t.Errorf("the image's server got %s %v", r.URL, r.Header)
	}
	var w float64
	for range 50 {
		w, _ = br.execJS(`var d = document.getElementById("body").contentDocument; var i = d && d.querySelector("img"); return i && i.complete ? i.naturalWidth : 0`).(float64)
		if w > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if w != 3 {
		t.Errorf("the proxied image is not shown (natural width %v)", w)
	}
	if p := br.execJS(`return document.body.dataset.pwned || null`); p != nil {
		t.Errorf("a script ran (%v)", p)
	}
	// The image attachment opens inline (under the body's sandbox CSP)
	// and the browser shows it.
	br.execJS(`location.href = document.querySelector("#attachments a.att-name").href`)
	for range 50 {
		w, _ = br.execJS(`var i = document.images[0]; return i && i.complete ? i.naturalWidth : 0`).(float64)
		if w > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if w != 3 {
		t.Errorf("the inline image attachment is not shown (natural width %v) at %s", w, br.URL())
	}
}
