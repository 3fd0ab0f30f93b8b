package test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// webmailLogin logs the browser in on the webmail's login form and waits
// for the list to show want.
func webmailLogin(t *testing.T, br *browser, b *Box, email, pw, want string) string {
	t.Helper()
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	br.Go(base + "/mail/")
	br.Type("#email", email)
	br.Type("#password", pw)
	br.Click("#login-button")
	if got := br.WaitText("#list", want); !strings.Contains(got, want) {
		t.Fatalf("list after login (%s):\n%s", br.URL(), got)
	}
	return base
}

// spamCounts reads an account's model's trained spam and ham from
// `boxmail spam stats EMAIL` (-1 when unreadable).
func spamCounts(b *Box, email string) (spam, ham int) {
	out, _, _ := b.Cmd("", "spam", "stats", email)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return -1, -1
	}
	f := strings.Fields(lines[1])
	if len(f) != 4 || f[0] != email {
		return -1, -1
	}
	s, err1 := strconv.Atoi(f[1])
	h, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return -1, -1
	}
	return s, h
}

// Acceptance of issue 19 in a real browser: a message delivered over
// SMTP is ticked in the list and sent to Junk with the toolbar's Junk
// button, then from the Junk folder back with "Not junk". The store
// shows it moved each time and the account's spam model trained it as
// spam, then (untrained as spam) as ham.
func TestWebmailBrowserJunkAndBack(t *testing.T) {
	b := newBox(t)
	br := newBrowser(t)
	webmailSend(t, b.SMTP, "deals@elsewhere.example", b.Admin, "From: Deals <deals@elsewhere.example>\nTo: "+b.Admin+
		"\nSubject: Cheap watches today\nMessage-ID: <w1@elsewhere.example>\n\nBuy cheap watches now, limited offer, click here.\n")
	webmailLogin(t, br, b, b.Admin, b.Password, "Cheap watches")
	if s, h := spamCounts(b, b.Admin); s != 0 || h != 0 {
		t.Fatalf("before: spam %d, ham %d trained", s, h)
	}
	tick := `var r = [...document.querySelectorAll("#list tr.msg")].find(r => r.textContent.includes("Cheap watches"));
		r.querySelector("input[name=uid]").click();`
	br.execJS(tick)
	br.Click("#junk")
	br.waitJS("the toast after Junk", `var t = document.getElementById("toast"); return !!t && !t.hidden && t.textContent.includes("Moved to Junk")`)
	testutil.WaitFor(t, "the message in Junk", 10*time.Second, func() bool {
		return len(b.Mailbox(b.Admin, "Junk")) == 1 && len(b.Mailbox(b.Admin, "INBOX")) == 0
	})
	testutil.WaitFor(t, "the move trained as spam", 30*time.Second, func() bool { s, h := spamCounts(b, b.Admin); return s == 1 && h == 0 })
	br.waitJS("the list without the message", `return !document.getElementById("list").textContent.includes("Cheap watches")`)

	// To the Junk folder by its link, then back with "Not junk".
	br.execJS(`location.href = [...document.querySelectorAll("#folders a.folder")].find(a => a.querySelector(".name").textContent === "Junk").href`)
	br.WaitText("#list", "Cheap watches")
	if n := br.execJS(`return document.querySelectorAll("#junk").length`); n != float64(0) {
		t.Errorf("Junk's list offers Junk")
	}
	br.execJS(tick)
	br.Click("#not-junk")
	br.waitJS("the toast after Not junk", `var t = document.getElementById("toast"); return !!t && !t.hidden && t.textContent.includes("not junk")`)
	testutil.WaitFor(t, "the message back in INBOX", 10*time.Second, func() bool {
		in := b.Mailbox(b.Admin, "INBOX")
		return len(b.Mailbox(b.Admin, "Junk")) == 0 && len(in) == 1 && strings.Contains(string(in[0]), "Cheap watches")
	})
	testutil.WaitFor(t, "the move back trained as ham", 30*time.Second, func() bool { s, h := spamCounts(b, b.Admin); return s == 0 && h == 1 })
	// IMAP sees it in the INBOX too.
	if n, hdr := imapFetch(t, b, b.Admin, b.Password, "HEADER"); n != 1 || !strings.Contains(string(hdr), "Subject: Cheap watches today") {
		t.Errorf("IMAP INBOX: %d messages, newest header:\n%s", n, hdr)
	}
}

// Acceptance of issue 19 in a real browser: the settings page's forms
// turn on a vacation reply (with dates) and a filter that forwards
// invoices to kid@ and keeps them; a message then submitted by pal@ (a
// local account, so every result is a mailbox IMAP can read) is kept in
// the INBOX, forwarded to kid@, and answered by the vacation reply in
// pal@'s INBOX.
func TestWebmailBrowserVacationAndForwardAndKeep(t *testing.T) {
	b := newBox(t)
	addUser(t, b, "kid@example.test", "kid-secret-42")
	addUser(t, b, "pal@example.test", "pal-secret-42")
	br := newBrowser(t)
	webmailSend(t, b.SMTP, "friend@elsewhere.example", b.Admin, "From: friend@elsewhere.example\nTo: "+b.Admin+"\nSubject: hello first\n\nx\n")
	base := webmailLogin(t, br, b, b.Admin, b.Password, "hello first")
	br.Go(base + "/mail/settings")
	br.WaitText("#settings", "Vacation reply")
	today := time.Now()
	br.execJS(fmt.Sprintf(`document.getElementById("vacation-from").value = %q; document.getElementById("vacation-until").value = %q;`,
		today.AddDate(0, 0, -1).Format("2006-01-02"), today.AddDate(0, 0, 7).Format("2006-01-02")))
	br.Type("#vacation-days", "3")
	br.Type("#vacation-subject", "Away until Monday")
	br.Type("#vacation-body", "I am away. Back on Monday.")
	br.Click("#vacation-save")
	if got := br.WaitText("#vacation", "is on"); !strings.Contains(got, "Your vacation reply is on") {
		t.Fatalf("vacation after saving (%s):\n%s", br.URL(), got)
	}
	br.Type("#filter-contains", "invoice")
	// The selects as a person picks in them (mail.js shows the address
	// field for "forward" on the change).
	br.execJS(`for (const [id, v] of [["filter-field", "subject"], ["filter-action", "forward"]]) {
		const s = document.getElementById(id); s.value = v; s.dispatchEvent(new Event("change", {bubbles: true}));
	}`)
	br.Type("#filter-arg", "kid@example.test")
	br.Type("#filter-name", "Invoices to kid")
	br.Click("#filter-add")
	if got := br.WaitText("#filters", "Invoices to kid"); !strings.Contains(got, "kid@example.test") {
		t.Fatalf("filters after adding (%s):\n%s", br.URL(), got)
	}
	if got := br.Text("#filters"); strings.Contains(got, "Other rules") {
		t.Errorf("the vacation reply is listed again among the filters:\n%s", got)
	}

	out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submission), "-tls", "--auth", "PLAIN", "--auth-user", "pal@example.test",
		"--auth-password", "pal-secret-42", "--from", "pal@example.test", "--to", b.Admin, "--h-Subject", "Your invoice 42",
		"--body", "Please find it attached.")
	if code != 0 {
		t.Fatalf("submission failed:\n%s", out)
	}
	testutil.WaitFor(t, "the forwarded copy at kid@", 20*time.Second, func() bool { return len(b.Mailbox("kid@example.test", "INBOX")) == 1 })
	testutil.WaitFor(t, "the vacation reply at pal@", 20*time.Second, func() bool { return len(b.Mailbox("pal@example.test", "INBOX")) == 1 })
	if n, hdr := imapFetch(t, b, "kid@example.test", "kid-secret-42", "HEADER"); n != 1 || !strings.Contains(string(hdr), "Subject: Your invoice 42") {
		t.Errorf("kid@'s INBOX over IMAP: %d messages, newest:\n%s", n, hdr)
	}
	n, hdr := imapFetch(t, b, "pal@example.test", "pal-secret-42", "HEADER")
	if h := string(hdr); n != 1 || !strings.Contains(h, "Subject: Away until Monday") || !strings.Contains(strings.ToLower(h), "auto-submitted: auto-replied") {
		t.Errorf("pal@'s INBOX over IMAP: %d messages, newest:\n%s", n, hdr)
	}
	if n, hdr := imapFetch(t, b, b.Admin, b.Password, "HEADER"); n != 2 || !strings.Contains(string(hdr), "Subject: Your invoice 42") {
		t.Errorf("the copy kept in me@'s INBOX over IMAP: %d messages, newest:\n%s", n, hdr)
	}
	// The list shows it.
	br.Go(base + "/mail/")
	if got := br.WaitText("#list", "Your invoice 42"); !strings.Contains(got, "Your invoice 42") {
		t.Errorf("list:\n%s", got)
	}
}

// onePagePDF is a valid one-page PDF (with its xref table) that shows
// text in Helvetica.
func onePagePDF(text string) []byte {
	content := "BT /F1 36 Tf 72 700 Td (" + text + ") Tj ET"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b strings.Builder
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return []byte(b.String())
}

// The inline view of a PDF attachment (the allow-list view, under the
// body's sandbox CSP, which allows no script) in headless Chromium:
// Chromium's PDF viewer shows the page. The viewer is not part of the
// document's DOM, so the screenshot is checked: a white page with black
// text on the viewer's grey (WEB_SCREENSHOTS=DIR keeps mail-pdf-view.png).
func TestWebmailBrowserPDFInline(t *testing.T) {
	b := newBox(t)
	br := newBrowser(t)
	pdf := onePagePDF("Invoice 42 from the garage")
	webmailSend(t, b.SMTP, "garage@elsewhere.example", b.Admin, "From: garage@elsewhere.example\nTo: "+b.Admin+
		"\nSubject: the invoice as PDF\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nAttached.\n"+
		"--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=invoice.pdf\nContent-Transfer-Encoding: base64\n\n"+
		base64.StdEncoding.EncodeToString(pdf)+"\n--b--\n")
	webmailLogin(t, br, b, b.Admin, b.Password, "the invoice as PDF")
	br.execJS(`location.href = document.querySelector("td.subject a").href`)
	br.WaitText("#attachments", "invoice.pdf")
	br.execJS(`location.href = document.querySelector("#attachments a.att-name").href`)
	if u := br.WaitURL("/mail/view/"); !strings.Contains(u, "/mail/view/") {
		t.Fatalf("the attachment's link went to %s", u)
	}
	shots := t.TempDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	var white, black int
	for range 30 {
		time.Sleep(300 * time.Millisecond) // the viewer loads and draws
		if ct := br.execJS(`return document.contentType`); ct != "application/pdf" {
			continue
		}
		white, black = pdfPixels(t, br.Screenshot(filepath.Join(shots, "mail-pdf-view.png")))
		if white > 0 && black > 0 {
			break
		}
	}
	if white < 50000 || black < 50 {
		t.Errorf("the PDF is not shown: %d white and %d black pixels in %s", white, black, filepath.Join(shots, "mail-pdf-view.png"))
	}
	t.Logf("PDF view: %d white, %d black pixels (%s)", white, black, filepath.Join(shots, "mail-pdf-view.png"))
}

// pdfPixels counts the white (a page) and black (its text) pixels of a
// screenshot; the viewer's own colours are greys between.
func pdfPixels(t *testing.T, data []byte) (white, black int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			switch {
			case cr > 0xf800 && cg > 0xf800 && cb > 0xf800:
				white++
			case cr < 0x1000 && cg < 0x1000 && cb < 0x1000:
				black++
			}
		}
	}
	return white, black
}
