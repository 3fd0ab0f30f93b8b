package webmail

// The read side's downloads (issue 19): one attachment (as a download,
// or inline when it is an image or a PDF whose bytes say so), all of
// them as a zip, the whole message as .eml, and a print view.
//
// Every download is Content-Disposition: attachment with nosniff, a
// Content-Type from a short allow-list (else application/octet-stream)
// and a CSP that sandboxes whatever a browser makes of it. Inline views
// are only the types of inlineTypes, and only when the bytes sniff as
// the declared type; they are served under BodyCSP like message bodies.
// An HTML attachment is never shown as HTML. File names come from the
// sender: safeFilename makes them harmless for the page, the header
// (RFC 6266 filename* plus an ASCII filename) and the zip.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// maxFilenameBytes caps a sanitised file name (most file systems allow
// 255 bytes).
const maxFilenameBytes = 150

// maxCIDBytes caps the inline (cid:) images of a body, decoded; they are
// put into the body as data: URIs, so BodyCSP (img-src data:) needs no
// route of its own for them.
const maxCIDBytes = 2 << 20

// maxZipBytes caps the decoded content put into one "all attachments"
// zip.
const maxZipBytes = 64 << 20

// downloadCSP is the policy of a download: should a browser render it
// anyway, it is sandboxed and fetches nothing.
const downloadCSP = "sandbox; default-src 'none'; frame-ancestors 'none'"

// inlineTypes are the attachment types viewable in the browser, with
// the file name extension given to an unnamed one.
var inlineTypes = map[string]string{
	"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp", "application/pdf": ".pdf",
}

// typeAliases are declared types that mean an inline type.
var typeAliases = map[string]string{"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}

// canonicalType is a declared media type, lower case, aliases resolved.
func canonicalType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if a, ok := typeAliases[t]; ok {
		return a
	}
	return t
}

// inlineType returns the type an attachment is shown inline as: its
// declared type when that is on the allow-list and its bytes sniff as
// the same type.
func inlineType(declared string, data []byte) (string, bool) {
	t := canonicalType(declared)
	if _, ok := inlineTypes[t]; !ok {
		return "", false
	}
	sniffed, _, _ := strings.Cut(http.DetectContentType(data), ";")
	if sniffed != t {
		return "", false
	}
	return t, true
}

// downloadType is the Content-Type of a download: an allow-listed type
// as declared, anything else application/octet-stream (an HTML or SVG
// attachment is never sent as what it is).
func downloadType(declared string) string {
	t := canonicalType(declared)
	if _, ok := inlineTypes[t]; ok {
		return t
	}
	return "application/octet-stream"
}

// Viewable reports whether the page offers an inline view.
func (a attachment) Viewable() bool {
	_, ok := inlineTypes[canonicalType(a.Type)]
	return ok
}

// FileName is the attachment's name as shown and saved.
func (a attachment) FileName() string {
	ext := inlineTypes[canonicalType(a.Type)]
	if ext == "" {
		ext = ".bin"
	}
	return safeFilename(a.Name, "attachment-"+strconv.Itoa(a.Index+1)+ext)
}

// isBidiControl reports the format characters that reorder text (an
// RTL override makes "gpj.exe" read as "exe.jpg").
func isBidiControl(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// winReserved are names Windows gives to devices.
var winReserved = map[string]bool{"con": true, "prn": true, "aux": true, "nul": true,
	"com1": true, "com2": true, "com3": true, "com4": true, "com5": true, "com6": true, "com7": true, "com8": true, "com9": true,
	"lpt1": true, "lpt2": true, "lpt3": true, "lpt4": true, "lpt5": true, "lpt6": true, "lpt7": true, "lpt8": true, "lpt9": true}

// safeFilename makes a sender's file name safe to show and to save: the
// last path element only, no control, format or bidi characters, none of
// \ / : * ? " < > |, no leading dots or spaces (no hidden file, no ".."),
// no trailing dots or spaces, not a Windows device name, valid UTF-8 of
// at most maxFilenameBytes (the extension kept when it is cut). An empty
// result is fallback.
func safeFilename(name, fallback string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, isBidiControl(r), unicode.Is(unicode.Cc, r), unicode.Is(unicode.Cf, r),
			unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
			return -1
		case strings.ContainsRune(`:*?"<>|`, r):
			return '_'
		case unicode.IsSpace(r):
			return ' '
		}
		return r
	}, name)
	name = strings.TrimLeft(name, ". ")
	name = strings.TrimRight(name, ". ")
	if base, _, _ := strings.Cut(name, "."); winReserved[strings.ToLower(base)] {
		name = "_" + name
	}
	name = capFilename(name)
	if name == "" {
		return fallback
	}
	return name
}

// subjectFilename is a file name made of a subject: its slashes are
// not paths.
func subjectFilename(subject, fallback string) string {
	return safeFilename(strings.NewReplacer("/", "_", `\`, "_").Replace(subject), fallback)
}

// capFilename cuts a name to maxFilenameBytes on a rune boundary,
// keeping a short extension.
func capFilename(name string) string {
	if len(name) <= maxFilenameBytes {
		return name
	}
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
		ext = name[i:]
		name = name[:i]
	}
	keep := maxFilenameBytes - len(ext)
	for keep > 0 && !utf8.RuneStart(name[keep]) {
		keep--
	}
	return strings.TrimRight(name[:keep], ". ") + ext
}

// contentDisposition is a Content-Disposition header for a name made
// safe by safeFilename (RFC 6266): an ASCII filename for old clients and
// the UTF-8 name as filename*.
func contentDisposition(kind, name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	return kind + `; filename="` + ascii + `"; filename*=UTF-8''` + rfc5987(name)
}

// rfc5987 percent-encodes all but attr-char (RFC 5987 section 3.2.1).
func rfc5987(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// downloadHeaders sets what every download carries.
func downloadHeaders(w http.ResponseWriter, ctype, disposition string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", downloadCSP)
	h.Set("Cache-Control", "private, no-store")
	h.Set("Referrer-Policy", "no-referrer")
}

// openBody opens the stored bytes of the request's message m, to be
// streamed; when it cannot, it answers the request (404 for a message
// expunged meanwhile).
func (s *Server) openBody(w http.ResponseWriter, r *http.Request, sess Session, m store.LoadedMessage) (store.BodyReader, bool) {
	body, _, err := s.o.Store.OpenBody(r.Context(), m.BodyID)
	if err != nil {
		s.fail(w, r, sess, err)
		return nil, false
	}
	return body, true
}

// attachmentDownload serves an attachment as a download.
func (s *Server) attachmentDownload(w http.ResponseWriter, r *http.Request, sess Session) {
	s.serveAttachment(w, r, sess, false)
}

// attachmentView shows an image or PDF attachment inline under BodyCSP;
// any other (or one whose bytes are not what it claims) is a download.
func (s *Server) attachmentView(w http.ResponseWriter, r *http.Request, sess Session) {
	s.serveAttachment(w, r, sess, true)
}

// serveAttachment sends attachment {n} of the request's message, its
// transfer encoding undone, as a download or (inline) shown in the
// browser. The message is streamed from the store (streamAttachment):
// a 40 MiB video is sent a buffer at a time, never held whole. A first
// pass through the decoder counts its size, so the download has a
// Content-Length and answers a Range request of one range (http.ServeContent
// over a forwardSeeker: the second pass skips to the range's start, decoding
// as it goes; a request for several ranges gets the whole attachment, as a
// stream can only be read on). A part whose transfer encoding breaks is
// sent as before, decoded up to the break, without a length. A message too
// large for the page (maxViewBytes) lists no attachments, so it has none
// to send.
func (s *Server) serveAttachment(w http.ResponseWriter, r *http.Request, sess Session, inline bool) {
	mb, m, err := s.message(r, sess, store.BodyNone)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || m.Size > maxViewBytes {
		s.fail(w, r, sess, errNotYours)
		return
	}
	body, ok := s.openBody(w, r, sess, m)
	if !ok {
		return
	}
	defer func() { _ = body.Close() }() // only read: a failed read has cut the download already
	size := int64(-1)
	found, err := streamAttachment(body, n, func(a attachment, raw io.Reader) error {
		c, err := io.Copy(io.Discard, decoder(a.enc, raw))
		if err == nil {
			size = c
		}
		return nil // a part that does not decode is sent as before
	})
	if err == nil && found {
		_, err = body.Seek(0, io.SeekStart)
	}
	if err != nil || !found {
		s.fail(w, r, sess, cmp.Or(err, errNotYours))
		return
	}
	if strings.Contains(r.Header.Get("Range"), ",") {
		r.Header.Del("Range") // several ranges: the whole attachment
	}
	found, err = streamAttachment(body, n, func(a attachment, raw io.Reader) error {
		data := bufio.NewReaderSize(decoder(a.enc, raw), 32<<10)
		head, _ := data.Peek(512) // what http.DetectContentType looks at; an error shows in the copy
		if t, ok := inlineType(a.Type, head); inline && ok {
			downloadHeaders(w, t, contentDisposition("inline", a.FileName()))
			w.Header().Set("Content-Security-Policy", BodyCSP)
			w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		} else {
			downloadHeaders(w, downloadType(a.Type), contentDisposition("attachment", a.FileName()))
		}
		if size < 0 {
			_, err := io.Copy(w, data)
			return err
		}
		w.Header().Set("ETag", etag(mb, m, "a"+strconv.Itoa(a.Index)))
		fs := &forwardSeeker{r: data, size: size}
		http.ServeContent(w, r, "", time.Time{}, fs)
		return fs.err
	})
	switch {
	case !found:
		s.fail(w, r, sess, errNotYours)
	case err != nil:
		// The response has started: it ends short. Mostly the browser
		// left; else a store read or a transfer encoding that broke.
		s.log.Info("webmail attachment download ended early", "user", sess.Email, "err", err)
	}
}

// etag is the strong ETag of a download of message m of mailbox mb
// (what names the download: "eml", "a0"): a message's bytes never change
// (IMAP's UIDs are not reused within a UIDVALIDITY), so its mailbox, UID
// validity and UID name them, and a resumed download's If-Range holds.
func etag(mb store.Mailbox, m store.LoadedMessage, what string) string {
	return fmt.Sprintf(`"%d.%d.%d.%s"`, mb.ID, mb.UIDValidity, m.UID, what)
}

// forwardSeeker is the io.ReadSeeker that http.ServeContent reads a
// decoded attachment through: its size is known (a counting pass), a
// seek only notes the position, and a read skips on to it, decoding as
// it goes. It cannot go back before what it has read: ServeContent asks
// for that only for several ranges, which serveAttachment does not pass
// on. err is the first read error (the response is cut by then).
type forwardSeeker struct {
	r               io.Reader
	size, pos, read int64
	err             error
}

// errSeekBack is a read before what a forwardSeeker has read.
var errSeekBack = errors.New("webmail: a decoded attachment is read forward only")

func (f *forwardSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.size
	}
	if offset < 0 {
		return f.pos, errors.New("webmail: seek before the start")
	}
	f.pos = offset
	return offset, nil
}

func (f *forwardSeeker) Read(p []byte) (int, error) {
	switch {
	case f.pos < f.read:
		f.err = cmp.Or(f.err, errSeekBack)
		return 0, errSeekBack
	case f.pos >= f.size:
		return 0, io.EOF
	case f.pos > f.read:
		n, err := io.CopyN(io.Discard, f.r, f.pos-f.read)
		f.read += n
		if err != nil {
			f.err = cmp.Or(f.err, err)
			return 0, err
		}
	}
	n, err := f.r.Read(p[:min(int64(len(p)), f.size-f.pos)])
	f.pos += int64(n)
	f.read += int64(n)
	if err != nil && err != io.EOF {
		f.err = cmp.Or(f.err, err)
	}
	return n, err
}

// zipName returns a unique name for the zip (name, "name (2).ext", ...).
func zipName(seen map[string]bool, name string) string {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i:]
	}
	for n := 2; seen[strings.ToLower(name)]; n++ {
		name = capFilename(base + " (" + strconv.Itoa(n) + ")" + ext)
	}
	seen[strings.ToLower(name)] = true
	return name
}

// attachmentsZip streams all attachments as one zip: names made safe and
// unique, at most maxZipBytes of content. The message is read from the
// store twice, never held: a first pass counts each attachment's decoded
// size, to leave out those past the cap (a file cut short in a zip would
// look whole), then each is decoded into the zip writer as it is read.
func (s *Server) attachmentsZip(w http.ResponseWriter, r *http.Request, sess Session) {
	_, m, err := s.message(r, sess, store.BodyHeader)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if m.Size > maxViewBytes {
		s.fail(w, r, sess, errNotYours) // the page lists no attachments
		return
	}
	body, ok := s.openBody(w, r, sess, m)
	if !ok {
		return
	}
	defer func() { _ = body.Close() }() // only read: a failed read has cut the download already
	// sizes[n] is attachment n's decoded size; -1 for a part that cannot
	// be read whole, which the page does not list.
	var sizes []int64
	found, err := streamAttachment(body, allAttachments, func(a attachment, raw io.Reader) error {
		src := &mailmsg.Source{R: raw}
		n, _ := io.Copy(io.Discard, decoder(a.enc, src)) // what decodes goes in the zip (attachment.data)
		if src.Err != nil {
			n = -1
		}
		sizes = append(sizes, n)
		return nil
	})
	if err == nil && found {
		_, err = body.Seek(0, io.SeekStart)
	}
	if err != nil || !found {
		s.fail(w, r, sess, cmp.Or(err, errNotYours))
		return
	}
	fit, total := 0, int64(0)
	for _, n := range sizes {
		if total += max(n, 0); total > maxZipBytes {
			s.log.Warn("webmail zip cut at its cap", "user", sess.Email, "bytes", total)
			break
		}
		fit++
	}
	env := parseEnvelope(m.Data)
	date := env.Date
	if date.IsZero() {
		date = m.InternalDate
	}
	downloadHeaders(w, "application/zip", contentDisposition("attachment", subjectFilename(env.Subject, "attachments")+".zip"))
	zw := zip.NewWriter(w)
	seen := map[string]bool{}
	_, err = streamAttachment(body, allAttachments, func(a attachment, raw io.Reader) error {
		if a.Index >= fit {
			return errZipFull
		}
		if sizes[a.Index] < 0 {
			return nil
		}
		method := zip.Deflate
		if _, ok := inlineTypes[canonicalType(a.Type)]; ok {
			method = zip.Store // already compressed
		}
		f, err := zw.CreateHeader(&zip.FileHeader{Name: zipName(seen, a.FileName()), Method: method, Modified: date})
		if err != nil {
			return err
		}
		_, err = io.CopyN(f, decoder(a.enc, raw), sizes[a.Index])
		return err
	})
	if err != nil && err != errZipFull {
		return // the client left, or the store failed: the zip is cut
	}
	if err := zw.Close(); err != nil {
		return // the client left
	}
}

// errZipFull ends the zip's walk at the first attachment past the cap.
var errZipFull = errors.New("webmail: zip full")

// messageEML serves the message as stored, as a .eml download, streamed
// from the store (a 40 MiB message is not loaded to be sent; a Range
// request reads only its stretch).
func (s *Server) messageEML(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, m, err := s.message(r, sess, store.BodyHeader)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	body, ok := s.openBody(w, r, sess, m)
	if !ok {
		return
	}
	defer func() { _ = body.Close() }() // only read: a failed read has cut the download already
	env := parseEnvelope(m.Data)
	downloadHeaders(w, "message/rfc822", contentDisposition("attachment", subjectFilename(env.Subject, "message")+".eml"))
	// ServeContent sizes the body by seeking (Content-Length), answers
	// Range (one range or several) and If-Range against the ETag.
	w.Header().Set("ETag", etag(mb, m, "eml"))
	http.ServeContent(w, r, "", time.Time{}, body)
}

var printTemplate = template.Must(template.ParseFS(templateFS, "templates/print.html"))

// printPage is the message without the app around it, for printing:
// header (escaped) and sanitised body, under the body's CSP (no script
// runs; the browser's own Print prints it).
func (s *Server) printPage(w http.ResponseWriter, r *http.Request, sess Session) {
	_, m, err := s.message(r, sess, store.BodyStream)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	c, err := s.content(r.Context(), m)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	env := parseEnvelope(m.Data)
	d := struct {
		Env         envelope
		Date        string
		Body        template.HTML
		Attachments []attachment
	}{Env: env}
	date := env.Date
	if date.IsZero() {
		date = m.InternalDate
	}
	d.Date = date.In(s.o.Now().Location()).Format("Mon, 2 Jan 2006 15:04")
	body, csp := s.bodyHTML(r, sess, m, env, c)
	d.Body = template.HTML(body) // sanitised or escaped by bodyHTML
	d.Attachments = c.Attachments
	var b bytes.Buffer
	if err := printTemplate.Execute(&b, d); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes()) // a write error means the client left
}

// imagesChoice records or forgets "always show images from this
// sender" (the From address of the message the form was on).
func (s *Server) imagesChoice(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, m, err := s.message(r, sess, store.BodyHeader)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	from := parseEnvelope(m.Data).FromAddr
	next := "/mail/msg/" + strconv.FormatInt(mb.ID, 10) + "/" + strconv.FormatUint(uint64(m.UID), 10)
	switch {
	case from == "":
		http.Error(w, "This message has no sender address to remember.", http.StatusBadRequest)
		return
	case r.PostFormValue("op") == "always":
		err = s.o.Store.AllowImagesFrom(r.Context(), sess.AccountID, from)
	case r.PostFormValue("op") == "never":
		err = s.o.Store.ForgetImagesFrom(r.Context(), sess.AccountID, from)
	default:
		http.Error(w, "Unknown choice.", http.StatusBadRequest)
		return
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, next+"?note=changed", http.StatusSeeOther)
}

// cidImages returns the data: URIs of a message's inline images by
// Content-ID: allow-listed image types whose bytes agree, at most
// maxCIDBytes in all.
func cidImages(c content) map[string]string {
	out := map[string]string{}
	total := 0
	for _, a := range c.Attachments {
		if a.ContentID == "" || !strings.HasPrefix(canonicalType(a.Type), "image/") {
			continue
		}
		data := a.data()
		t, ok := inlineType(a.Type, data)
		if !ok || total+len(data) > maxCIDBytes {
			continue
		}
		total += len(data)
		out[a.ContentID] = "data:" + t + ";base64," + base64.StdEncoding.EncodeToString(data)
	}
	return out
}

// proxyPath is the path an image is fetched through.
func proxyPath(u string) string { return imageProxyPath + "?u=" + url.QueryEscape(u) }
