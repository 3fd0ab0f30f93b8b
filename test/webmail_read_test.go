package test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// bodyCSP is the webmail's BodyCSP (internal/webmail), as issue 19 gives it.
const bodyCSP = "sandbox allow-same-origin allow-popups; default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"

// readMail is a message with attachments of every kind the read side
// treats differently, under hostile names.
func readMail(to string) (msg string, png, pdf []byte) {
	png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0dIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	pdf = []byte("%PDF-1.4\n1 0 obj<< /Type /Catalog >>endobj\ntrailer<< /Root 1 0 R >>\n%%EOF\n")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	long := strings.Repeat("very-long-name-", 30) + "pdf"
	part := func(ctype, disp, enc, body string) string {
		s := "--b1\nContent-Type: " + ctype + "\nContent-Disposition: " + disp + "\n"
		if enc != "" {
			s += "Content-Transfer-Encoding: " + enc + "\n"
		}
		return s + "\n" + body + "\n"
	}
	msg = "From: Friend <friend@elsewhere.example>\nTo: " + to + "\nSubject: Holiday / photos\nMessage-ID: <read1@elsewhere.example>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=b1\n\n" +
		"--b1\nContent-Type: text/plain; charset=utf-8\n\nThe photos.\n" +
		part("image/png", `attachment; filename="../../etc/passwd"`, "base64", b64(png)) +
		part("text/html", `attachment; filename="\"a.html"`, "", "<script>parent.document.body.dataset.pwned=1</script>") +
		part("application/pdf", "attachment; filename*=UTF-8''a%0D%0AX-Evil%3A%201.pdf", "base64", b64(pdf)) +
		part("application/pdf", `attachment; filename="`+long+`"`, "base64", b64(pdf)) +
		part("application/octet-stream", "attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe", "", "MZ not really") +
		"--b1--\n"
	return msg, png, pdf
}

// Attachments over HTTP: downloads carry attachment + nosniff and safe
// names, images and PDFs view inline under the body CSP, the HTML
// attachment never does, the zip holds every attachment under a safe
// unique name, and the .eml is the message as delivered over SMTP.
func TestWebmailAttachments(t *testing.T) {
	b := newBox(t)
	msg, png, pdf := readMail(b.Admin)
	webmailSend(t, b.SMTP, "friend@elsewhere.example", b.Admin, msg)
	w := newWebClient(t, b, "127.0.0.1")
	w.mustLogin(b.Admin, b.Password)
	var link []string
	for range 50 {
		_, page := w.get("/mail/")
		if link = regexp.MustCompile(`<a href="/mail/msg/(\d+)/(\d+)">Holiday / photos</a>`).FindStringSubmatch(page); link != nil {
			break
		}
	}
	if link == nil {
		t.Fatal("the message is not listed")
	}
	base := "/" + link[1] + "/" + link[2]
	res, page := w.get("/mail/msg" + base)
	for _, want := range []string{">passwd</a>", ">_a.html</span>", ">a  X-Evil_ 1.pdf</a>", ">invoice fdp.exe</span>", `href="/mail/zip` + base + `"`, `href="/mail/eml` + base + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("message page (%s) lacks %s", res.Status, want)
		}
	}
	if strings.Contains(page, "\u202e") || strings.Contains(page, `href="/mail/view`+base+`/1"`) {
		t.Error("an RTL override, or an inline view of the HTML attachment, on the page")
	}
	names := []string{"passwd", "_a.html", "a  X-Evil_ 1.pdf", "", "invoice fdp.exe"}
	for n := range 5 {
		res, _ := w.get(fmt.Sprintf("/mail/att%s/%d", base, n))
		h := res.Header
		cd := h.Get("Content-Disposition")
		if res.StatusCode != 200 || h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(cd, "attachment; filename=") ||
			strings.ContainsAny(cd, "\r\n/\\") || strings.Contains(cd, "..") || strings.Contains(strings.ToLower(cd), "%e2%80%ae") ||
			!strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox") || len(cd) > 600 {
			t.Errorf("attachment %d: %s %v", n, res.Status, h)
		}
		if names[n] != "" && !strings.Contains(cd, `filename="`+names[n]+`"`) {
			t.Errorf("attachment %d named %s", n, cd)
		}
	}
	if res, _ := w.get("/mail/att" + base + "/1"); res.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("HTML attachment as %q", res.Header.Get("Content-Type"))
	}
	// Inline: the image and the PDFs under the body CSP; the HTML one and
	// the program only as downloads.
	for n, want := range map[int][]byte{0: png, 2: pdf, 3: pdf} {
		res, body := w.get(fmt.Sprintf("/mail/view%s/%d", base, n))
		if res.Header.Get("Content-Security-Policy") != bodyCSP || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "inline;") || body != string(want) {
			t.Errorf("view %d: %v", n, res.Header)
		}
	}
	for _, n := range []int{1, 4} {
		res, _ := w.get(fmt.Sprintf("/mail/view%s/%d", base, n))
		if !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") || res.Header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("view %d: %v", n, res.Header)
		}
	}
	checkReadZip(t, w, base, png, pdf)
	// The .eml is the message as delivered: the box's trace fields, then
	// the bytes sent over SMTP.
	res, eml := w.get("/mail/eml" + base)
	stored := b.Mailbox(b.Admin, "INBOX")
	if res.Header.Get("Content-Type") != "message/rfc822" || !strings.HasPrefix(res.Header.Get("Content-Disposition"), `attachment; filename="Holiday _ photos.eml"`) ||
		len(stored) != 1 || eml != string(stored[0]) || !strings.HasSuffix(eml, strings.ReplaceAll(msg, "\n", "\r\n")) {
		t.Errorf(".eml: %v\n%q", res.Header, eml)
	}
	res, printed := w.get("/mail/print" + base)
	if res.Header.Get("Content-Security-Policy") != bodyCSP || !strings.Contains(printed, "The photos.") || strings.Contains(printed, "/mail/static/") {
		t.Errorf("print view: %v\n%s", res.Header, printed)
	}
}

// checkReadZip checks the "all attachments" zip of readMail.
func checkReadZip(t *testing.T, w *webClient, base string, png, pdf []byte) {
	t.Helper()
	res, body := w.get("/mail/zip" + base)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/zip" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("zip: %s %v", res.Status, res.Header)
	}
	zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var got []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if strings.ContainsAny(f.Name, "/\\\r\n\u202e") || strings.HasPrefix(f.Name, ".") || len(f.Name) > 150 || !utf8.ValidString(f.Name) || seen[f.Name] {
			t.Errorf("zip entry %q", f.Name)
		}
		seen[f.Name] = true
		got = append(got, fmt.Sprintf("%s:%d", f.Name, len(data)))
		if f.Name == "passwd" && !bytes.Equal(data, png) || f.Name == "a  X-Evil_ 1.pdf" && !bytes.Equal(data, pdf) {
			t.Errorf("zip entry %s has other bytes", f.Name)
		}
	}
	if len(got) != 5 {
		t.Errorf("zip holds %v", got)
	}
}
