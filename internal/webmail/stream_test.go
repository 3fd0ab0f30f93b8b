package webmail

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"boxmail/internal/store"
)

// A message streamed from the store shows what the same message read
// whole shows: the same body, the same attachments with the same sizes,
// the same inline images; only its attachments' bytes are not held.
func TestAStreamedMessageShowsWhatTheMessageReadWholeShows(t *testing.T) {
	msg, _, _ := attachMail()
	msgs := []string{msg,
		"Subject: plain\r\n\r\nJust text.\r\n",
		"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nsee below\r\n" +
			"--a\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@example.test\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n" +
			"--in\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n" +
			"--in\r\nContent-Type: application/pdf; name=in.pdf\r\n\r\n%PDF\r\n--in--\r\n--a--\r\n",
		"Subject: no boundary\r\nContent-Type: multipart/mixed\r\n\r\nwhat is this\r\n",
		"Subject: bad b64\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!! not base64\r\n",
	}
	for i, m := range msgs {
		want := parseContent([]byte(m))
		got := streamContent(strings.NewReader(m))
		if got.HTML != want.HTML || got.Text != want.Text || got.Truncated != want.Truncated || got.Cut || len(got.Attachments) != len(want.Attachments) {
			t.Errorf("message %d: streamed %+v\nwant %+v", i, got, want)
			continue
		}
		for n, a := range got.Attachments {
			w := want.Attachments[n]
			if a.Index != w.Index || a.Name != w.Name || a.Type != w.Type || a.Size != w.Size || a.ContentID != w.ContentID {
				t.Errorf("message %d attachment %d: streamed %+v, want %+v", i, n, a, w)
			}
			if keep := a.ContentID != "" && strings.HasPrefix(a.Type, "image/"); keep != (a.raw != nil) || keep && !bytes.Equal(a.raw, w.raw) {
				t.Errorf("message %d attachment %d: kept %d bytes (an inline image: %v)", i, n, len(a.raw), keep)
			}
		}
		if fmt.Sprint(cidImages(got)) != fmt.Sprint(cidImages(want)) {
			t.Errorf("message %d: inline images differ", i)
		}
	}
}

// bigMail is a message over the store's body file size: a text part of
// three MiB (base64) whose last line is "THE END", and a 600 KiB
// attachment, video.mp4.
func bigMail() (msg string, video []byte) {
	var text strings.Builder
	for i := 0; text.Len() < 3<<20; i++ {
		fmt.Fprintf(&text, "line %d of a long letter\n", i)
	}
	text.WriteString("THE END\n")
	video = make([]byte, 600<<10)
	for i := range video {
		video[i] = byte(i * 7)
	}
	return "From: t@school.example\nSubject: the trip\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\n" +
		"--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + wrap64(text.String()) +
		"--b1\nContent-Type: video/mp4\nContent-Disposition: attachment; filename=video.mp4\nContent-Transfer-Encoding: base64\n\n" + wrap64(string(video)) +
		"--b1--\n", video
}

func wrap64(s string) string {
	b := base64.StdEncoding.EncodeToString([]byte(s))
	var out strings.Builder
	for len(b) > 76 {
		out.WriteString(b[:76] + "\n")
		b = b[76:]
	}
	return out.String() + b + "\n"
}

// The page, body frame and print view of a large message read it as a
// stream: the first MiB of its long text part, then a line saying where
// the rest is, and a link to the .eml; its attachment listed with its
// size. Its zip holds the attachment, decoded, and a search finds the
// words of its text (as far as the page shows it).
func TestALargeMessageIsShownInPartWithALinkToTheRest(t *testing.T) {
	f := newFixture(t)
	msg, video := bigMail()
	uid := f.deliver(f.a, "INBOX", msg)
	box := f.box(f.a, "INBOX")
	ms, err := f.st.LoadMessages(context.Background(), box.ID, []uint32{uid}, store.BodyStream)
	if err != nil || len(ms) != 1 || !ms[0].Streamed {
		t.Fatalf("the message is not kept as a stream: %v", err)
	}
	base := fmt.Sprintf("/%d/%d", box.ID, uid)
	res, page := f.do("a", "GET", "/mail/msg"+base, nil)
	for _, want := range []string{`id="cut"`, `href="/mail/eml` + base + `" download>Download the message`, `video.mp4`, `href="/mail/att` + base + `/0"`,
		fmt.Sprintf("%d bytes", parseContent([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))).Attachments[0].Size)} {
		if !strings.Contains(page, want) {
			t.Errorf("page (%s) lacks %s", res.Status, want)
		}
	}
	for _, p := range []string{"/mail/body", "/mail/print"} {
		res, body := f.do("a", "GET", p+base, nil)
		if res.StatusCode != 200 || !strings.Contains(body, "line 0 of a long letter") || !strings.Contains(body, cutNote) || strings.Contains(body, "THE END") {
			t.Errorf("%s: %s, %d bytes, cut note %v", p, res.Status, len(body), strings.Contains(body, cutNote))
		}
	}
	res, body := f.do("a", "GET", "/mail/zip"+base, nil)
	zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "video.mp4" {
		t.Fatalf("zip: %s, %v", res.Status, err)
	}
	rc, _ := zr.File[0].Open()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, video) {
		t.Errorf("the zip's video: %d bytes, want %d", len(got), len(video))
	}
	// Its search reads it as a stream too, within the page's caps.
	for q, want := range map[string][]string{"line+7+of+a+long": {"the trip"}, "the+end": nil} {
		res, page := f.do("a", "GET", fmt.Sprintf("/mail/search?box=%d&q=%s&in=body", box.ID, q), nil)
		if res.StatusCode != 200 || fmt.Sprint(subjects(page)) != fmt.Sprint(want) {
			t.Errorf("search %s: %s %q, want %q", q, res.Status, subjects(page), want)
		}
	}
}

// The .eml and a decoded attachment have a Content-Length and answer a
// Range of one range (the first 100 bytes, the last 100), 416 for a
// range past the end, the whole for several ranges (the attachment), and
// If-Range with their ETag: a download resumed.
func TestDownloadsHaveALengthAndAnswerRanges(t *testing.T) {
	f := newFixture(t)
	msg, video := bigMail()
	uid := f.deliver(f.a, "INBOX", msg)
	base := fmt.Sprintf("/%d/%d", f.box(f.a, "INBOX").ID, uid)
	eml := strings.ReplaceAll(msg, "\n", "\r\n")
	for _, d := range []struct {
		path string
		want string
	}{{"/mail/eml" + base, eml}, {"/mail/att" + base + "/0", string(video)}} {
		res, body := f.do("a", "GET", d.path, nil)
		if res.StatusCode != 200 || body != d.want || res.Header.Get("Content-Length") != strconv.Itoa(len(d.want)) || res.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("%s: %s, %d bytes, Content-Length %q", d.path, res.Status, len(body), res.Header.Get("Content-Length"))
		}
		etag := res.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) {
			t.Errorf("%s: ETag %q", d.path, etag)
		}
		n := len(d.want)
		for _, r := range []struct {
			rng, ifRange string
			code         int
			want, span   string
		}{
			{"bytes=0-99", "", 206, d.want[:100], fmt.Sprintf("bytes 0-99/%d", n)},
			{"bytes=-100", "", 206, d.want[n-100:], fmt.Sprintf("bytes %d-%d/%d", n-100, n-1, n)},
			{"bytes=300000-300009", etag, 206, d.want[300000:300010], fmt.Sprintf("bytes 300000-300009/%d", n)},
			{"bytes=300000-300009", `"other"`, 200, d.want, ""},
			{fmt.Sprintf("bytes=%d-", n+10), "", 416, "", fmt.Sprintf("bytes */%d", n)},
		} {
			hdr := []string{"Range", r.rng}
			if r.ifRange != "" {
				hdr = append(hdr, "If-Range", r.ifRange)
			}
			res, body := f.do("a", "GET", d.path, nil, hdr...)
			if res.StatusCode != r.code || (r.code != 416 && body != r.want) || res.Header.Get("Content-Range") != r.span {
				t.Errorf("%s %s: %s, %d bytes, Content-Range %q; want %d, %d bytes, %q", d.path, r.rng, res.Status, len(body), res.Header.Get("Content-Range"), r.code, len(r.want), r.span)
			}
		}
	}
	res, body := f.do("a", "GET", "/mail/att"+base+"/0", nil, "Range", "bytes=0-9,20-29")
	if res.StatusCode != 200 || body != string(video) {
		t.Errorf("several ranges of the attachment: %s, %d bytes", res.Status, len(body))
	}
}

// forwardSeeker reads forward only, as http.ServeContent uses it.
func TestForwardSeeker(t *testing.T) {
	fs := &forwardSeeker{r: strings.NewReader("0123456789"), size: 10}
	if n, _ := fs.Seek(0, io.SeekEnd); n != 10 {
		t.Fatalf("size %d", n)
	}
	fs.Seek(3, io.SeekStart)
	b := make([]byte, 4)
	if n, err := io.ReadFull(fs, b); n != 4 || err != nil || string(b) != "3456" {
		t.Fatalf("read %q, %v", b[:n], err)
	}
	fs.Seek(1, io.SeekCurrent)
	if rest, err := io.ReadAll(fs); string(rest) != "89" || err != nil {
		t.Fatalf("rest %q, %v", rest, err)
	}
	fs.Seek(0, io.SeekStart)
	if _, err := fs.Read(b); err != errSeekBack || fs.err != errSeekBack {
		t.Fatalf("a read back: %v", err)
	}
}

// A reply to a large message quotes the start of its text, read as a
// stream, and a forward as an attachment copies its bytes from the store
// into the upload area as a stream.
func TestReplyAndForwardAsAttachmentOfALargeMessage(t *testing.T) {
	var uploads string
	f := newFixtureWith(t, func(o *Options) { o.UndoHold, uploads = -1, o.UploadDir })
	msg, _ := bigMail()
	uid := f.deliver(f.a, "INBOX", msg)
	inbox := f.box(f.a, "INBOX").ID
	_, page := f.do("a", "GET", fmt.Sprintf("/mail/compose?box=%d&uid=%d", inbox, uid), nil)
	if !strings.Contains(page, `value="Re: the trip"`) || !strings.Contains(page, "&gt; line 0 of a long letter") {
		t.Errorf("reply:\n%.2000s", page)
	}
	_, page = f.do("a", "GET", fmt.Sprintf("/mail/compose?mode=attach&box=%d&uid=%d", inbox, uid), nil)
	if !strings.Contains(page, "the trip.eml") {
		t.Errorf("forward as attachment:\n%.2000s", page)
	}
	eml := strings.ReplaceAll(msg, "\n", "\r\n")
	found := false
	_ = filepath.WalkDir(uploads, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			found = found || string(b) == eml
		}
		return nil
	})
	if !found {
		t.Error("no upload holds the message's bytes")
	}
}

// The zip holds what the page lists: not a last part whose end is
// missing (the page cannot read it whole, so it does not list it).
func TestTheZipLeavesOutAPartThePageDoesNotList(t *testing.T) {
	f := newFixture(t)
	msg, video := bigMail()
	msg = strings.TrimSuffix(msg, "--b1--\n") + "--b1\nContent-Type: application/pdf; name=cut.pdf\n\n%PDF never ends\n"
	uid := f.deliver(f.a, "INBOX", msg)
	base := fmt.Sprintf("/%d/%d", f.box(f.a, "INBOX").ID, uid)
	_, page := f.do("a", "GET", "/mail/msg"+base, nil)
	if !strings.Contains(page, "video.mp4") || strings.Contains(page, "cut.pdf") {
		t.Errorf("the page lists video.mp4 %v, cut.pdf %v", strings.Contains(page, "video.mp4"), strings.Contains(page, "cut.pdf"))
	}
	res, body := f.do("a", "GET", "/mail/zip"+base, nil)
	zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "video.mp4" || zr.File[0].UncompressedSize64 != uint64(len(video)) {
		t.Fatalf("zip: %s, %v, %d files", res.Status, err, len(zr.File))
	}
}
