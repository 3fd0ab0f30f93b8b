package webmail

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSafeFilename(t *testing.T) {
	long := strings.Repeat("é", 200) + ".pdf"
	for _, tc := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system32\cmd.exe`, "cmd.exe"},
		{`"a.html`, "_a.html"},
		{"a\r\nContent-Type: text/html.txt", "html.txt"},
		{"a\r\nContent-Type_ text.txt", "aContent-Type_ text.txt"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"\u2066x\u2069.png", "x.png"},
		{"..", "fallback"},
		{"...hidden", "hidden"},
		{" . ", "fallback"},
		{"", "fallback"},
		{"name. . .", "name"},
		{"con.txt", "_con.txt"},
		{"NUL", "_NUL"},
		{"a<b>c|d?e*f:g.txt", "a_b_c_d_e_f_g.txt"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
		{"tab\there.txt", "tabhere.txt"},
		{"no\u00a0break.txt", "no break.txt"},
		{"zero\u200bwidth.txt", "zerowidth.txt"},
		{"Grüße 日本.doc", "Grüße 日本.doc"},
		{"dir/", "fallback"},
		{long, strings.Repeat("é", (maxFilenameBytes-4)/2) + ".pdf"},
	} {
		if got := safeFilename(tc.in, "fallback"); got != tc.want {
			t.Errorf("safeFilename(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// checkSafeFilename states what every sanitised name is.
func checkSafeFilename(t *testing.T, in, got string) {
	t.Helper()
	if got == "" || got == "." || got == ".." || len(got) > maxFilenameBytes || !utf8.ValidString(got) {
		t.Fatalf("safeFilename(%q) = %q", in, got)
	}
	if strings.ContainsAny(got, "/\\\"<>:|?*\x00\r\n") || strings.HasPrefix(got, ".") || strings.HasPrefix(got, " ") ||
		strings.HasSuffix(got, ".") || strings.HasSuffix(got, " ") {
		t.Fatalf("safeFilename(%q) = %q", in, got)
	}
	for _, r := range got {
		if isBidiControl(r) || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			t.Fatalf("safeFilename(%q) = %q keeps %U", in, got, r)
		}
	}
	if again := safeFilename(got, "fallback"); again != got {
		t.Fatalf("not idempotent: %q then %q", got, again)
	}
	cd := contentDisposition("attachment", got)
	if strings.ContainsAny(cd, "\r\n\x00") || strings.Count(cd, `"`) != 2 {
		t.Fatalf("Content-Disposition %q", cd)
	}
	for _, r := range cd {
		if r > 0x7e {
			t.Fatalf("Content-Disposition %q is not ASCII", cd)
		}
	}
}

func FuzzSafeFilename(f *testing.F) {
	for _, s := range []string{"a.pdf", "../../etc/passwd", `"a.html`, "a\r\nb", "x\u202Efdp.exe", strings.Repeat("ж", 300) + ".docx", "...", "con", "a.b.c. "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkSafeFilename(t, in, safeFilename(in, "fallback"))
	})
}

func TestContentDisposition(t *testing.T) {
	got := contentDisposition("attachment", "Grüße 100%.pdf")
	want := `attachment; filename="Gr__e 100_.pdf"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20100%25.pdf`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestInlineTypeNeedsBytesThatAgree(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	pdf := []byte("%PDF-1.4\n")
	for _, tc := range []struct {
		declared string
		data     []byte
		want     string
	}{
		{"image/png", png, "image/png"},
		{"IMAGE/PNG", png, "image/png"},
		{"application/pdf", pdf, "application/pdf"},
		{"image/png", []byte("<html><script>alert(1)</script>"), ""},
		{"image/jpeg", png, ""},
		{"text/html", []byte("<html>"), ""},
		{"image/svg+xml", []byte("<svg onload=alert(1)>"), ""},
		{"application/octet-stream", png, ""},
	} {
		got, ok := inlineType(tc.declared, tc.data)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("inlineType(%q) = %q %v, want %q", tc.declared, got, ok, tc.want)
		}
	}
	if downloadType("text/html") != "application/octet-stream" || downloadType("image/jpg") != "image/jpeg" {
		t.Error("downloadType")
	}
}

// attachMail is a message with hostile attachment names, an HTML
// attachment, an image, a PDF, an inline (cid:) image, a remote image
// and two parts of the same name.
func attachMail() (string, []byte, []byte) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	msg := "From: Shop <news@shop.example>\nTo: a@example.net\nSubject: Your ../order\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=outer\n\n" +
		"--outer\nContent-Type: multipart/related; boundary=rel\n\n" +
		"--rel\nContent-Type: text/html; charset=utf-8\n\n<p>Hi</p><img src=\"cid:logo@shop\" alt=logo><img src=\"https://tracker.example/p.gif\" alt=pixel>\n" +
		"--rel\nContent-Type: image/png\nContent-ID: <logo@shop>\nContent-Transfer-Encoding: base64\n\n" + b64(png) + "\n" +
		"--rel--\n" +
		"--outer\nContent-Type: text/html; name=\"page.html\"\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\n\n<script>alert(1)</script>\n" +
		"--outer\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"photo.png\"\nContent-Transfer-Encoding: base64\n\n" + b64(png) + "\n" +
		"--outer\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''%E2%80%AEfdp.exe\nContent-Transfer-Encoding: base64\n\n" + b64(pdf) + "\n" +
		"--outer\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"photo.png\"\n\n<html>not a png</html>\n" +
		"--outer--\n"
	return msg, png, pdf
}

func TestAttachmentDownloads(t *testing.T) {
	f := newFixture(t)
	msg, png, pdf := attachMail()
	uid := f.deliver(f.a, "INBOX", msg)
	box := f.box(f.a, "INBOX").ID
	base := fmt.Sprintf("/%d/%d", box, uid)
	res, page := f.do("a", "GET", "/mail/msg"+base, nil)
	for _, want := range []string{`href="/mail/att` + base + `/1" download>`, `href="/mail/view` + base + `/2"`, `>passwd</span>`,
		`>fdp.exe</a>`, `href="/mail/zip` + base + `"`, `href="/mail/eml` + base + `"`, `href="/mail/print` + base + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("message page (%s) lacks %s:\n%s", res.Status, want, page)
		}
	}
	if strings.Contains(page, "\u202e") || strings.Contains(page, `href="/mail/view`+base+`/1"`) {
		t.Error("an RTL override or an inline view of the HTML attachment on the page")
	}
	// The HTML attachment: a download, never HTML.
	for _, p := range []string{"/mail/att" + base + "/1", "/mail/view" + base + "/1"} {
		res, body := f.do("a", "GET", p, nil)
		h := res.Header
		if res.StatusCode != 200 || h.Get("Content-Type") != "application/octet-stream" || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Content-Disposition") != `attachment; filename="passwd"; filename*=UTF-8''passwd` || !strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox") ||
			!strings.Contains(body, "<script>") {
			t.Errorf("%s: %s %v\n%s", p, res.Status, h, body)
		}
	}
	// The image and the PDF are viewable inline under BodyCSP.
	for n, want := range map[int][]byte{2: png, 3: pdf} {
		res, body := f.do("a", "GET", fmt.Sprintf("/mail/view%s/%d", base, n), nil)
		if res.Header.Get("Content-Security-Policy") != BodyCSP || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "inline;") ||
			body != string(want) || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("view %d: %v %q", n, res.Header, body)
		}
	}
	// A "PNG" that is not one is only a download.
	res, _ = f.do("a", "GET", "/mail/view"+base+"/4", nil)
	if !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") || res.Header.Get("Content-Security-Policy") == BodyCSP {
		t.Errorf("a fake PNG viewed inline: %v", res.Header)
	}
	// Another account cannot.
	if res, _ := f.do("b", "GET", "/mail/att"+base+"/2", nil); res.StatusCode != 404 {
		t.Errorf("b downloads a's attachment: %s", res.Status)
	}
	if res, _ := f.do("a", "GET", "/mail/att"+base+"/9", nil); res.StatusCode != 404 {
		t.Errorf("attachment 9: %s", res.Status)
	}
}

func TestAttachmentsZipAndEML(t *testing.T) {
	f := newFixture(t)
	msg, png, pdf := attachMail()
	uid := f.deliver(f.a, "INBOX", msg)
	base := fmt.Sprintf("/%d/%d", f.box(f.a, "INBOX").ID, uid)
	res, body := f.do("a", "GET", "/mail/zip"+base, nil)
	if res.Header.Get("Content-Type") != "application/zip" || res.Header.Get("Content-Disposition") != `attachment; filename="Your .._order.zip"; filename*=UTF-8''Your%20.._order.zip` {
		t.Errorf("zip headers %v", res.Header)
	}
	zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[zf.Name] = string(b)
	}
	want := map[string]string{"attachment-1.png": string(png), "passwd": "<script>alert(1)</script>", "photo.png": string(png),
		"fdp.exe": string(pdf), "photo (2).png": "<html>not a png</html>"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("zip holds %q\nwant %q", got, want)
	}
	res, body = f.do("a", "GET", "/mail/eml"+base, nil)
	if res.Header.Get("Content-Type") != "message/rfc822" || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") ||
		body != strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n") {
		t.Errorf("eml: %v\n%q", res.Header, body)
	}
}

func TestPrintAndInlineImages(t *testing.T) {
	f := newFixture(t)
	msg, png, _ := attachMail()
	uid := f.deliver(f.a, "INBOX", msg)
	base := fmt.Sprintf("/%d/%d", f.box(f.a, "INBOX").ID, uid)
	res, body := f.do("a", "GET", "/mail/body"+base, nil)
	dataURI := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	if res.Header.Get("Content-Security-Policy") != BodyCSP || !strings.Contains(body, `src="`+dataURI+`"`) || strings.Contains(body, "tracker.example") {
		t.Errorf("body: %v\n%s", res.Header, body)
	}
	res, body = f.do("a", "GET", "/mail/print"+base, nil)
	if res.Header.Get("Content-Security-Policy") != BodyCSP || !strings.Contains(body, "Your ../order") || !strings.Contains(body, dataURI) ||
		strings.Contains(body, "<script") || strings.Contains(body, "/mail/static/") || strings.Contains(body, `id="folders"`) {
		t.Errorf("print: %v\n%s", res.Header, body)
	}
}

func TestRemoteImagesOnRequest(t *testing.T) {
	f := newFixture(t)
	msg, _, _ := attachMail()
	uid := f.deliver(f.a, "INBOX", msg)
	box := f.box(f.a, "INBOX").ID
	base := fmt.Sprintf("/%d/%d", box, uid)
	_, page := f.do("a", "GET", "/mail/msg"+base, nil)
	if !strings.Contains(page, `id="show-images" href="/mail/msg`+base+`?images=1"`) || !strings.Contains(page, "Remote images are hidden (1)") {
		t.Fatalf("no show images:\n%s", page)
	}
	if _, page := f.do("a", "GET", "/mail/msg"+base+"?images=1", nil); !strings.Contains(page, `src="/mail/body`+base+`?images=1"`) ||
		!strings.Contains(page, `id="always-images"`) || strings.Contains(page, `id="show-images"`) {
		t.Errorf("images shown once:\n%s", page)
	}
	res, body := f.do("a", "GET", "/mail/body"+base+"?images=1", nil)
	proxied := `src="/mail/img?u=` + url.QueryEscape("https://tracker.example/p.gif") + `"`
	host := strings.TrimPrefix(f.ts.URL, "http://")
	if !strings.Contains(body, proxied) || res.Header.Get("Content-Security-Policy") !=
		"sandbox allow-same-origin allow-popups; default-src 'none'; img-src data: http://"+host+"/mail/img; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'" {
		t.Errorf("images shown: %v\n%s", res.Header.Get("Content-Security-Policy"), body)
	}
	// A strange Host: no remote source in the CSP at all.
	for _, h := range []string{"x;script-src *", "a b", "", "évil"} {
		r := httptest.NewRequest("GET", "/mail/body/1/1", nil)
		r.Host = h
		if csp, ok := imagesCSP(r); ok {
			t.Errorf("CSP with Host %q: %q", h, csp)
		}
	}
	// Always for this sender: a POST with the token.
	if res, _ := f.do("a", "POST", "/mail/images"+base, url.Values{"op": {"always"}}); res.StatusCode != 403 {
		t.Errorf("without csrf: %s", res.Status)
	}
	if res, _ := f.do("a", "POST", "/mail/images"+base, url.Values{"op": {"always"}, "csrf": {csrfOf + "a"}}); res.StatusCode != 303 {
		t.Errorf("always: %s", res.Status)
	}
	_, page = f.do("a", "GET", "/mail/msg"+base, nil)
	if !strings.Contains(page, `src="/mail/body`+base+`?images=1"`) || !strings.Contains(page, `id="never-images"`) {
		t.Errorf("after always:\n%s", page)
	}
	if _, body := f.do("a", "GET", "/mail/body"+base, nil); !strings.Contains(body, proxied) {
		t.Errorf("the sender's images are not shown:\n%s", body)
	}
	if _, body := f.do("b", "GET", "/mail/msg"+base, nil); regexp.MustCompile(`images=1`).MatchString(body) {
		t.Error("b sees a's message")
	}
	f.do("a", "POST", "/mail/images"+base, url.Values{"op": {"never"}, "csrf": {csrfOf + "a"}})
	if _, body := f.do("a", "GET", "/mail/body"+base, nil); strings.Contains(body, proxied) {
		t.Errorf("images still shown after never:\n%s", body)
	}
}

func TestImagePolicy(t *testing.T) {
	pol := &imagePolicy{cid: func(id string) (string, bool) {
		if id == "logo@x" {
			return "data:image/png;base64,AAAA", true
		}
		return "", false
	}}
	for _, tc := range []struct{ in, want string }{
		{`<img src="cid:logo@x">`, `<img src="data:image/png;base64,AAAA"/>`},
		{`<img src="CID:%3Clogo@x%3E">`, `<img src="data:image/png;base64,AAAA"/>`},
		{`<img src="cid:other">`, `<img/>`},
		{`<img src="https://t.example/p.gif">`, `<img/>`},
		{`<img src=" http://t.example/p.gif">`, `<img/>`},
		{`<img src="javascript:alert(1)">`, `<img/>`},
		{`<a href="cid:logo@x">x</a>`, `<a target="_blank" rel="noopener noreferrer">x</a>`},
	} {
		if got := sanitizeWith(tc.in, pol); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
	if pol.blocked != 2 {
		t.Errorf("%d remote images counted, want 2", pol.blocked)
	}
	pol.remote = func(u string) (string, bool) { return proxyPath(u), true }
	got := sanitizeWith(`<img src="https://t.example/p.gif?a=1&b=2"><img src="ftp://t.example/x">`, pol)
	if want := `<img src="/mail/img?u=https%3A%2F%2Ft.example%2Fp.gif%3Fa%3D1%26b%3D2"/><img/>`; got != want {
		t.Errorf("proxied: %s, want %s", got, want)
	}
}

// A download walks the message as a stream (streamAttachment) and must
// find the attachment the page listed under the same number, with the
// same bytes: in a nested multipart, inside a forwarded message, an
// inline image of an HTML body, in quoted-printable and base64, in a
// multipart whose last boundary is missing, and none past the last (or
// one whose read fails, the broken last part the page leaves out).
func TestAStreamedDownloadFindsTheAttachmentThePageListed(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	inner := "From: a@example.test\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n" +
		"--in\r\nContent-Type: text/plain\r\n\r\ninner text\r\n" +
		"--in\r\nContent-Type: application/pdf; name=inner.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("%PDF-inner") + "\r\n--in--\r\n"
	msgs := []string{
		"Subject: one\r\nContent-Type: application/octet-stream; name=whole.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(strings.Repeat("whole body ", 1000)) + "\r\n",
		"Subject: nested\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" +
			"--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n" +
			"--b\r\nContent-Type: multipart/related; boundary=c\r\n\r\n" +
			"--c\r\nContent-Type: text/html\r\n\r\n<img src=cid:img1>\r\n" +
			"--c\r\nContent-Type: image/png\r\nContent-ID: <img1>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("\x89PNG\r\n\x1a\nfake") + "\r\n--c--\r\n" +
			"--b--\r\n" +
			"--a\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nau lait\r\n" +
			"--a\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "\r\n" +
			"--a\r\nContent-Type: application/zip; name=\"last.zip\"\r\n\r\nPK raw bytes\r\n--a--\r\n",
		"Subject: broken\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: image/gif; name=a.gif\r\n\r\nGIF89a\r\n" +
			"--x\r\nContent-Type: application/pdf; name=cut.pdf\r\n\r\n%PDF never ends",
	}
	for i, msg := range msgs {
		c := parseContent([]byte(msg))
		if len(c.Attachments) == 0 {
			t.Fatalf("message %d: the page lists no attachments", i)
		}
		for n := 0; n <= len(c.Attachments); n++ {
			var got attachment
			var data []byte
			found, err := streamAttachment(strings.NewReader(msg), n, func(a attachment, raw io.Reader) error {
				got = a
				var err error
				data, err = io.ReadAll(decoder(a.enc, raw))
				return err
			})
			if n == len(c.Attachments) {
				// A part the page could not read whole (it is not listed)
				// is not sent whole either: its read fails.
				if found && err == nil {
					t.Errorf("message %d: attachment %d of %d found: %+v", i, n, len(c.Attachments), got)
				}
				continue
			}
			want := c.Attachments[n]
			if !found || err != nil || got.Index != n || got.Name != want.Name || got.Type != want.Type || got.ContentID != want.ContentID || !bytes.Equal(data, want.data()) {
				t.Errorf("message %d, attachment %d: streamed %+v %q (%v, found %v); listed %+v %q", i, n, got, data, err, found, want, want.data())
			}
		}
	}
}
