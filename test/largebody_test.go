package test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/testutil"
)

// largeScript sends a large message with smtplib ("send"); or logs in
// over IMAPS and POP3S and only looks at the mailbox ("warm": what a
// session costs anyway); or reads the last message back with imaplib
// (whole, a partial fetch of 1,000 bytes from the 30,000,000th, the size
// of its body as BINARY.SIZE[]) and poplib, and prints what each gave,
// then deletes it over IMAP ("delete"); or searches its text for a
// phrase it has and one it has not ("search"); or fetches one item of it
// ("fetch ITEM") and prints the lines of the answer and the SHA-256 and
// length of each literal.
const largeScript = `
import hashlib, imaplib, poplib, re, smtplib, ssl, sys
smtp, imaps, pop3s, user, pw, path, phase = sys.argv[1:8]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if phase == "send":
    data = open(path, "rb").read()
    s = smtplib.SMTP("127.0.0.1", int(smtp), timeout=120)
    s.sendmail("friend@elsewhere.example", [user], data)
    s.quit()
    sys.exit(0)
m = imaplib.IMAP4_SSL("127.0.0.1", int(imaps), ssl_context=ctx, timeout=120)
m.login(user, pw)
m.select("INBOX")
p = poplib.POP3_SSL("127.0.0.1", int(pop3s), context=ctx, timeout=120)
p.user(user); p.pass_(pw)
def last(d):
    return [x[1] for x in d if isinstance(x, tuple)][-1]
if phase == "warm":
    m.fetch("1:*", "(UID RFC822.SIZE ENVELOPE)")
    p.stat()
elif phase.startswith("fetch "):
    typ, d = m.uid("FETCH", "1:*", "(" + phase[6:] + ")")
    for x in d:
        if isinstance(x, tuple):
            print("line", x[0].decode())
            print("literal", hashlib.sha256(x[1]).hexdigest(), len(x[1]))
        else:
            print("line", x.decode())
elif phase != "search":
    typ, d = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    imap_bytes = last(d)
    print("imap", hashlib.sha256(imap_bytes).hexdigest(), len(imap_bytes))
    del imap_bytes, d
    typ, d = m.uid("FETCH", "1:*", "(BODY.PEEK[]<30000000.1000>)")
    part = last(d)
    print("partial", hashlib.sha256(part).hexdigest(), len(part))
    typ, d = m.uid("FETCH", "1:*", "(BINARY.SIZE[])")
    print("binarysize", re.search(rb"BINARY.SIZE\[\] (\d+)", d[-1]).group(1).decode())
    n = len(p.list()[1])
    resp, lines, octets = p.retr(n)
    print("pop3", hashlib.sha256(b"\r\n".join(lines) + b"\r\n").hexdigest(), octets)
if phase == "search":
    for word in ("video of the DAY", "not-in-this-message"):
        typ, d = m.uid("SEARCH", None, "BODY", '"' + word + '"')
        print("search", word, d[0].decode().split())
p.quit()
if phase == "delete":
    m.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
m.logout()
`

// largeMessage writes to a file a message from `from` with a short text
// part and an attachment of type ctype (base64 lines) that make it at
// least size bytes, and returns its bytes and the file's path.
func largeMessage(t *testing.T, from, subject, text, ctype string, size int) ([]byte, string) {
	t.Helper()
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: me@example.test\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n%s\r\n--b1\r\n"+
		"Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\n\r\n", from, subject, text, ctype)
	for i := 0; msg.Len() < size; i++ {
		fmt.Fprintf(&msg, "%076d\r\n", i)
	}
	msg.WriteString("--b1--\r\n")
	path := filepath.Join(t.TempDir(), "large.eml")
	must(t, os.WriteFile(path, msg.Bytes(), 0o600))
	return msg.Bytes(), path
}

// largeClient runs largeScript against b with the message at path, one
// phase at a time, and returns what it printed.
func largeClient(t *testing.T, b *Box, path string) func(phase string) string {
	py := needTool(t, "python3")
	return func(phase string) string {
		t.Helper()
		out, err := exec.Command(py, "-c", largeScript, fmt.Sprint(b.SMTP), fmt.Sprint(b.IMAPS), fmt.Sprint(b.POP3S), b.Admin, b.Password, path, phase).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", phase, err, out)
		}
		return string(out)
	}
}

// A grandmother's 3 MiB holiday photo arrives over SMTP; the box keeps it
// in a file of its own instead of the database, phones read it back byte
// for byte over IMAP and POP3, and when she deletes it the file goes.
func TestALargePhotoIsKeptInAFileAndReadBackByteForByte(t *testing.T) {
	b := newBox(t)
	msg, path := largeMessage(t, "grandma@elsewhere.example", "photos from the lake", "Look!", "image/jpeg", 3<<20)
	script := largeClient(t, b, path)
	script("send")

	stored := b.Mailbox(b.Admin, "INBOX")
	if len(stored) != 1 || !bytes.HasSuffix(stored[0], msg) {
		t.Fatalf("stored: %d messages", len(stored))
	}
	files, _ := os.ReadDir(filepath.Join(b.Dir, "bodies"))
	if len(files) != 1 {
		t.Fatalf("body files in the data dir: %d, want the photo's one", len(files))
	}
	fi, _ := files[0].Info()
	if fi.Size() != int64(len(stored[0])) {
		t.Errorf("body file holds %d bytes, the message is %d", fi.Size(), len(stored[0]))
	}

	out := script("delete")
	want := fmt.Sprintf("%x %d", sha256.Sum256(stored[0]), len(stored[0]))
	for _, proto := range []string{"imap", "pop3"} {
		if !strings.Contains(out, proto+" "+want) {
			t.Errorf("%s did not return the stored bytes (want %s):\n%s", proto, want, out)
		}
	}
	testutil.WaitFor(t, "the photo's file to go", 10*time.Second, func() bool {
		files, _ := os.ReadDir(filepath.Join(b.Dir, "bodies"))
		return len(files) == 0
	})
}

// TestA40MiBMessageIsStreamedToIMAPPOP3AndWebmailNotLoaded: a 40 MiB message
// (a video from a school trip) arrives on a box of each kind of body
// store: the SQLite default (a body file), PostgreSQL with its bodies in
// 1 MiB chunk rows, and PostgreSQL with its bodies in S3 (versitygw).
// After a restart (so no memory of the delivery is left to reuse),
// imaplib's FETCH BODY[] and poplib's RETR get it byte for byte, a
// partial FETCH gets the right 1,000 bytes from the 30,000,000th, the
// webmail's download of its attachment is the video, decoded, and the
// box's peak RSS grows by less than 16 MiB while it sends all of that:
// the message is streamed, never held whole.
func TestA40MiBMessageIsStreamedToIMAPPOP3AndWebmailNotLoaded(t *testing.T) {
	msg, path := largeMessage(t, "teacher@school.example", "the school trip", "The video of the day.", "video/mp4", 40<<20)
	for _, c := range []struct {
		name string
		box  func(t *testing.T) *Box
	}{
		{"sqlite-file", func(t *testing.T) *Box { return newBoxOn(t, "example.test", "", nil) }},
		{"pg-db", func(t *testing.T) *Box { return newPGBox(t, nil) }},
		{"pg-s3", func(t *testing.T) *Box {
			s3, _ := s3BodyStore(t)
			return newPGBox(t, map[string]string{"body_store": s3})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.box(t)
			script := largeClient(t, b, path)
			script("send")
			b.Stop()
			b.Start()
			script("warm")
			web := newWebClient(t, b, "127.0.0.1")
			web.mustLogin(b.Admin, b.Password)
			_, list := web.get("/mail/")
			link := regexp.MustCompile(`<a href="/mail/msg(/\d+/\d+)">the school trip</a>`).FindStringSubmatch(list)
			if link == nil {
				t.Fatalf("the webmail does not list the message:\n%s", list)
			}
			before := b.peakRSS()
			out := script("read")
			res, video := web.get("/mail/att" + link[1] + "/0")
			grew := b.peakRSS() - before
			stored := b.Mailbox(b.Admin, "INBOX")
			if len(stored) != 1 || !bytes.HasSuffix(stored[0], msg) {
				t.Fatalf("stored: %d messages", len(stored))
			}
			t.Logf("%s: peak RSS %.1f MiB before reading the %.1f MiB message, %.1f MiB after (+%.1f)",
				c.name, before, float64(len(stored[0]))/(1<<20), before+grew, grew)

			whole := fmt.Sprintf("%x %d", sha256.Sum256(stored[0]), len(stored[0]))
			part := fmt.Sprintf("%x 1000", sha256.Sum256(stored[0][30000000:30001000]))
			text := len(stored[0]) - bytes.Index(stored[0], []byte("\r\n\r\n")) - 4
			for _, want := range []string{"imap " + whole, "partial " + part, fmt.Sprintf("binarysize %d", text), "pop3 " + whole} {
				if !strings.Contains(out, want+"\n") {
					t.Errorf("want %q in what the clients got:\n%s", want, out)
				}
			}
			attachment := msg[bytes.Index(msg, []byte("base64\r\n\r\n"))+len("base64\r\n\r\n") : bytes.LastIndex(msg, []byte("--b1--"))]
			want, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(attachment), "\r\n", ""))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || video != string(want) {
				t.Errorf("the webmail's download of the video: %s, %d bytes, want the %d decoded", res.Status, len(video), len(want))
			}
			if grew >= 16 {
				t.Errorf("the box's peak RSS grew by %.1f MiB while sending a %.1f MiB message: it was not streamed", grew, float64(len(stored[0]))/(1<<20))
			}
			largeWebmailAndSearch(t, b, script, link[1], stored[0], want)
		})
	}
}

// largeWebmailAndSearch is the rest of the 40 MiB story: the teacher's
// message page, its body frame and print view (the text and the video's
// name and size), the zip of its attachments, a SEARCH BODY of its text,
// and what a mail app fetches of a new message (BODYSTRUCTURE, then the
// video's part as it is and decoded, and the text part's MIME header)
// each add less than 16 MiB to the box's peak RSS, measured after a
// restart each (so that no memory left by the one before hides a cost),
// and each fetch gives what the same fetch gives of the message read
// whole; and curl resumes downloads of the .eml and of the video with a
// range.
func largeWebmailAndSearch(t *testing.T, b *Box, script func(string) string, msgPath string, stored, video []byte) {
	for _, step := range []struct {
		name string
		run  func(web *webClient) error
	}{
		{"page", func(web *webClient) error {
			return expect(web.get("/mail/msg"+msgPath))("attachment-1.bin", "video/mp4", "/mail/att"+msgPath+"/0")
		}},
		{"body", func(web *webClient) error { return expect(web.get("/mail/body" + msgPath))("The video of the day.") }},
		{"print", func(web *webClient) error {
			return expect(web.get("/mail/print"+msgPath))("The video of the day.", "attachment-1.bin")
		}},
		{"zip", func(web *webClient) error {
			res, body := web.get("/mail/zip" + msgPath)
			zr, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
			if err != nil || len(zr.File) != 1 {
				return fmt.Errorf("zip: %s, %v", res.Status, err)
			}
			rc, err := zr.File[0].Open()
			if err != nil {
				return err
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, video) {
				return fmt.Errorf("the zip's video: %d bytes (%v), want %d", len(got), err, len(video))
			}
			return nil
		}},
		{"BODYSTRUCTURE", func(*webClient) error {
			var want bytes.Buffer
			e := wire.NewEncoder(wire.NewBufWriter(&want))
			e.BodyStructure(wire.ExtractBodyStructure(stored), true)
			must(t, e.Flush())
			if out := script("fetch BODYSTRUCTURE"); !strings.Contains(out, " BODYSTRUCTURE "+want.String()+")\n") {
				return fmt.Errorf("got\n%s\nwant the BODYSTRUCTURE %s", out, want.String())
			}
			return nil
		}},
		{"BODY.PEEK[2]", func(*webClient) error {
			part, _ := wire.ExtractSection(stored, &wire.Section{Part: []uint32{2}})
			return largeLiteral(script("fetch BODY.PEEK[2]"), "BODY[2]", part)
		}},
		{"BINARY.PEEK[2]", func(*webClient) error {
			return largeLiteral(script("fetch BINARY.PEEK[2]"), "BINARY[2]", video)
		}},
		{"BODY.PEEK[1.MIME]", func(*webClient) error {
			mimeHdr, _ := wire.ExtractSection(stored, &wire.Section{Part: []uint32{1}, Specifier: "MIME"})
			if string(mimeHdr) != "Content-Type: text/plain\r\n\r\n" {
				return fmt.Errorf("the whole parse's part 1 header: %q", mimeHdr)
			}
			return largeLiteral(script("fetch BODY.PEEK[1.MIME]"), "BODY[1.MIME]", mimeHdr)
		}},
		{"search", func(*webClient) error {
			out := script("search")
			if !strings.Contains(out, "search video of the DAY ['1']") || !strings.Contains(out, "search not-in-this-message []") {
				return fmt.Errorf("SEARCH BODY:\n%s", out)
			}
			return nil
		}},
	} {
		b.Stop()
		b.Start()
		script("warm")
		web := newWebClient(t, b, "127.0.0.1")
		web.mustLogin(b.Admin, b.Password)
		web.get("/mail/")
		before := b.peakRSS()
		if err := step.run(web); err != nil {
			t.Errorf("%s: %v", step.name, err)
		}
		grew := b.peakRSS() - before
		t.Logf("%s of the %.1f MiB message: peak RSS %.1f MiB, +%.1f", step.name, float64(len(stored))/(1<<20), before+grew, grew)
		if grew >= 16 {
			t.Errorf("the box's peak RSS grew by %.1f MiB for the %s: the message was not streamed", grew, step.name)
		}
	}

	// Resumed downloads: curl asks for a range of the .eml and of the
	// video, with the session's cookie.
	curl := needTool(t, "curl")
	web := newWebClient(t, b, "127.0.0.1")
	web.mustLogin(b.Admin, b.Password)
	u, _ := url.Parse(web.base)
	var cookies []string
	for _, c := range web.c.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	for _, d := range []struct {
		path, rng string
		want      []byte
	}{
		{"/mail/eml" + msgPath, "0-99", stored[:100]},
		{"/mail/eml" + msgPath, "30000000-30000999", stored[30000000:30001000]},
		{"/mail/att" + msgPath + "/0", "20000000-20000999", video[20000000:20001000]},
		{"/mail/att" + msgPath + "/0", "-100", video[len(video)-100:]},
	} {
		out, err := exec.Command(curl, "-sS", "-k", "-r", d.rng, "-b", strings.Join(cookies, "; "), "-w", "\n%{http_code} %{size_download}", web.base+d.path).Output()
		if err != nil {
			t.Fatalf("curl -r %s %s: %v", d.rng, d.path, err)
		}
		end := bytes.LastIndexByte(out, '\n')
		got, code := out[:max(end, 0)], string(out[end+1:])
		if !bytes.Equal(got, d.want) || !strings.HasPrefix(code, "206 ") {
			t.Errorf("curl -r %s %s: %s, %d bytes; want 206 and %d bytes", d.rng, d.path, code, len(got), len(d.want))
		}
	}
}

// expect checks that a page was served and holds each of wants.
// largeLiteral checks that the script's fetch answered item with a
// literal of want's bytes.
func largeLiteral(out, item string, want []byte) error {
	if !strings.Contains(out, " "+item+" ") || !strings.Contains(out, fmt.Sprintf("literal %x %d\n", sha256.Sum256(want), len(want))) {
		return fmt.Errorf("%s: got\n%s\nwant a literal of %d bytes, SHA-256 %x", item, out, len(want), sha256.Sum256(want))
	}
	return nil
}

func expect(res *http.Response, body string) func(wants ...string) error {
	return func(wants ...string) error {
		if res.StatusCode != 200 {
			return fmt.Errorf("%s", res.Status)
		}
		for _, w := range wants {
			if !strings.Contains(body, w) {
				return fmt.Errorf("no %q in %d bytes", w, len(body))
			}
		}
		return nil
	}
}
