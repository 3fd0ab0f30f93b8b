package test

import (
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hostileMails are the XSS corpus of issue 19 as whole messages; TRACK
// is replaced by an address on loopback that counts requests. Scripts,
// if any ran, would mark the app's page (parent is same-origin).
var hostileMails = []struct{ subject, ctype, body string }{
	{`<img src=TRACK/subject onerror="parent.document.body.dataset.pwned='subject'">`, "text/plain", "plain <script>parent.document.body.dataset.pwned='text'</script> TRACK/link"},
	{"script tags", "text/html", `<p>hi</p><script>parent.document.body.dataset.pwned='script'</script><script src="TRACK/script.js"></script>`},
	{"event handlers", "text/html", `<img src="TRACK/img.png" onerror="parent.document.body.dataset.pwned='onerror'"><body onload="parent.document.body.dataset.pwned='onload'"><div onmouseover="parent.document.body.dataset.pwned='hover'">x</div>`},
	{"svg", "text/html", `<svg><animate onbegin="parent.document.body.dataset.pwned='animate'" attributeName=x dur=1s /><use href="TRACK/u.svg#x"/><image href="TRACK/i.png"/></svg>`},
	{"links and css", "text/html", `<a id=js href="javascript:parent.document.body.dataset.pwned='link'">click</a><div style="background:url(TRACK/bg.png);position:fixed">x</div><style>@import url(TRACK/x.css); p{background:url(TRACK/p.png)}</style><p>p</p>`},
	{"base meta form", "text/html", `<base href="TRACK/"><meta http-equiv="refresh" content="0;url=TRACK/refresh"><form action="TRACK/form"><input name=pw></form><link rel=stylesheet href="TRACK/l.css"><iframe src="TRACK/frame"></iframe><object data="TRACK/o"></object>`},
	{"remote image", "text/html", `<p>photo:</p><img src="TRACK/photo.jpg" width=100 height=100><table background="TRACK/t.png"><tr><td>x</td></tr></table>`},
}

// webmailSend sends a message over port 25 without TLS (net/smtp, as an
// outside server would, from the box's trusted loopback).
func webmailSend(t *testing.T, port int, from, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// execJS runs a script in the browser's current page.
func (b *browser) execJS(script string) any {
	b.t.Helper()
	var v any
	b.call("POST", b.base+"/execute/sync", map[string]any{"script": script, "args": []any{}}, &v)
	return v
}

// In a real browser: the hostile corpus runs no script and fetches
// nothing from the tracker, and new mail appears in the open list
// without a reload.
func TestWebmailInABrowser(t *testing.T) {
	b := newBox(t)
	br := newBrowser(t)
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	track := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		t.Logf("tracker got %s", r.URL)
	})}
	go track.Serve(ln)
	t.Cleanup(func() { track.Close() })
	trackURL := "http://" + ln.Addr().String()
	for i, m := range hostileMails {
		msg := fmt.Sprintf("From: Evil <evil@elsewhere.example>\nTo: %s\nSubject: %s\nMessage-ID: <h%d@elsewhere.example>\nMIME-Version: 1.0\n"+
			"Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: %s; charset=utf-8\n\n%s\n--zz\n"+
			"Content-Type: text/html; name=\"<img src=x onerror=parent.document.body.dataset.pwned=1>.html\"\nContent-Disposition: attachment; filename=\"<script>x</script>.html\"\n\n<script>alert(1)</script>\n--zz--\n",
			b.Admin, strings.ReplaceAll(m.subject, "TRACK", trackURL), i, m.ctype, strings.ReplaceAll(m.body, "TRACK", trackURL))
		webmailSend(t, b.SMTP, "evil@elsewhere.example", b.Admin, msg)
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	br.Go(base + "/mail/")
	br.Type("#email", b.Admin)
	br.Type("#password", b.Password)
	br.Click("#login-button")
	if got := br.WaitText("#list", "script tags"); !strings.Contains(got, "script tags") {
		t.Fatalf("list after login (%s):\n%s", br.URL(), got)
	}
	if tx := br.Text("#list"); !strings.Contains(tx, "<img src="+trackURL+"/subject") {
		t.Errorf("the hostile subject is not shown as text:\n%s", tx)
	}
	// Open every message (the body frames load), then look for marks.
	n := int(br.execJS(`return document.querySelectorAll("td.subject a").length`).(float64))
	if n != len(hostileMails) {
		t.Fatalf("%d messages listed", n)
	}
	for i := range n {
		br.execJS(fmt.Sprintf(`location.href = document.querySelectorAll("td.subject a")[%d].href`, i))
		br.WaitText("#message", "From")
		time.Sleep(300 * time.Millisecond) // the frame loads, any handler would fire
		if links := br.execJS(`var d = document.getElementById("body").contentDocument; var a = d && d.getElementById("js"); return a ? a.getAttribute("href") : null`); links != nil {
			t.Errorf("message %d: a javascript: link kept: %v", i, links)
		}
		if p := br.execJS(`return document.body.dataset.pwned || null`); p != nil {
			t.Errorf("message %d: a script ran (%v)", i, p)
		}
		br.Go(base + "/mail/")
		br.WaitText("#list", "script tags")
	}
	if h := hits.Load(); h != 0 {
		t.Errorf("the tracker was asked %d times (remote content must be off)", h)
	}
	// New mail appears in the open list without a reload, and the tab
	// title counts it.
	br.execJS(`document.body.dataset.before = "1"`)
	webmailSend(t, b.SMTP, "friend@elsewhere.example", b.Admin, "From: friend@elsewhere.example\nTo: "+b.Admin+"\nSubject: live news\n\nhello\n")
	if got := br.WaitText("#list", "live news"); !strings.Contains(got, "live news") {
		t.Errorf("new mail did not appear without a reload:\n%s", got)
	}
	if br.execJS(`return document.body.dataset.before || null`) == nil {
		t.Error("the page was reloaded")
	}
	var title string
	for range 50 {
		title, _ = br.execJS(`return document.title`).(string)
		if strings.HasPrefix(title, "(") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every hostile message was opened, so marked read by mail.js: one unread.
	if !strings.HasPrefix(title, "(1) ") {
		t.Errorf("tab title %q has no unread count", title)
	}
	webmailScreenshots(t, br, base)
}

// webmailScreenshots keeps the list, message and compose views at 1280
// and 390 pixels wide (WEB_SCREENSHOTS=DIR keeps them), each checked not
// to be blank.
func webmailScreenshots(t *testing.T, br *browser, base string) {
	shots := t.TempDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	t.Logf("screenshots of the list, message and compose views in %s", shots)
	shot := func(name, css string) {
		t.Helper()
		data := br.Screenshot(filepath.Join(shots, name+".png"))
		checkNotBlank(t, name, data, br.Rect(css))
	}
	for _, width := range []int{1280, 390} {
		br.call("POST", br.base+"/window/rect", map[string]int{"width": width, "height": 900}, nil)
		br.Go(base + "/mail/")
		br.WaitText("#list", "live news")
		shot(fmt.Sprintf("mail-list-%d", width), "#list")
		br.execJS(`location.href = document.querySelector("td.subject a").href`)
		br.WaitText("#message", "From")
		time.Sleep(300 * time.Millisecond)
		shot(fmt.Sprintf("mail-message-%d", width), "#message")
		br.Go(base + "/mail/compose")
		br.WaitText("#compose-form", "Subject")
		shot(fmt.Sprintf("mail-compose-%d", width), "#compose-form")
	}
}
