package webmail

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"boxmail/internal/mailmsg"
)

// Caps of the MIME walk: a hostile message cannot make the view read
// more than these.
const (
	maxParts     = 100     // parts looked at
	maxDepth     = 10      // multipart nesting
	maxPartText  = 1 << 20 // decoded bytes of one text part
	maxTotalText = 2 << 20 // decoded text of a message
)

// attachment is a part that is not a body: listed by name, type and
// size, downloaded by its index (attach.go). An inline image part of an
// HTML body (Content-ID) is one too.
type attachment struct {
	Index     int    // position in content.Attachments, the download's {n}
	Name      string // as the message names it (decoded), for display only
	Type      string // the declared media type, lower case
	Size      int
	ContentID string // without <>; "" when none
	enc       string // Content-Transfer-Encoding
	raw       []byte // the part's body, still encoded
}

// content is what the view shows of a message: the chosen body, HTML
// (to be sanitised) or plain text, and the attachments.
type content struct {
	HTML        string // an HTML body, unsanitised; "" when none
	Text        string // the plain text body when there is no HTML
	Attachments []attachment
	Truncated   bool // a cap was reached
	// Cut says that a text part was longer than maxPartText (or the
	// message's text than maxTotalText): its start is shown, followed by
	// cutNote, and the page links the whole message's download.
	Cut bool
}

// cutNote ends a text part shown only in part.
const cutNote = "[The rest of this part is not shown here: download the message (.eml) to read all of it.]"

// partHeader is the little the walk needs of a part's header.
type partHeader struct {
	mediaType             string
	typeParams            map[string]string
	encoding, disposition string
	filename              string
	contentID             string
}

func readPartHeader(get func(string) string) partHeader {
	h := partHeader{encoding: strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding")))}
	mt, params, err := mime.ParseMediaType(get("Content-Type"))
	if err != nil || mt == "" {
		mt, params = "text/plain", map[string]string{}
	}
	h.mediaType, h.typeParams = mt, params
	disp, dparams, err := mime.ParseMediaType(get("Content-Disposition"))
	if err == nil {
		h.disposition = disp
		h.filename = dparams["filename"]
	}
	if h.filename == "" {
		h.filename = params["name"]
	}
	if d, err := wordDecoder.DecodeHeader(h.filename); err == nil {
		h.filename = d
	}
	h.filename = fieldText([]byte(h.filename))
	h.contentID = strings.Trim(strings.TrimSpace(get("Content-ID")), "<>")
	return h
}

// walker collects a message's content within the caps, reading each
// part's body as a stream. It is the one MIME walk of the webmail, in
// three ways:
//
//   - over a message held in memory (parseContent: a small message,
//     whose body is kept in its row): the parts are read whole, within
//     the caps, and an attachment keeps its bytes;
//   - streamed from the store (streamContent: a large message, a body
//     file or a shared blob): nothing is held past the caps; a text part
//     is decoded as it is read up to maxPartText and the rest skipped, an
//     attachment is counted, not kept (but a small inline image), an
//     attached message is walked as it is read;
//   - with a sink (streamAttachment, streamed too): it only counts its
//     way through the attachments and hands the one numbered want (or,
//     with allAttachments, each) to the sink, still encoded, as it reads
//     past it (a download, or the zip); the text parts are skipped then.
type walker struct {
	c     content
	parts int
	text  int
	html  []string
	plain []string
	// failed says that a part's body could not be read (a broken
	// multipart): the multipart around it stops there.
	failed bool

	// streamed: the message is read from the store, not held.
	streamed bool
	// held counts the bytes of the inline images a streamed walk keeps
	// (at most maxCIDRaw).
	held int

	want    int
	sink    func(a attachment, raw io.Reader) error
	found   bool
	sinkErr error
}

// allAttachments is the want of a sink that takes every attachment.
const allAttachments = -1

// maxCIDRaw bounds the encoded bytes of the inline (cid:) images that a
// streamed walk keeps for the page: base64 of maxCIDBytes with its line
// ends.
const maxCIDRaw = maxCIDBytes * 3 / 2

// done says that the walk has nothing more to do: its sink has had the
// attachment it wants, or failed.
func (w *walker) done() bool {
	return w.sinkErr != nil || w.found && w.want != allAttachments
}

// parseContent decodes a whole message (header and body).
func parseContent(msg []byte) content {
	hdr, body := mailmsg.Split(msg)
	w := &walker{}
	w.walk(headerGetter(hdr), bytes.NewReader(body), 0)
	return w.content()
}

// streamContent is parseContent for a message read from r (a large one,
// streamed from the store), holding only a buffer of it and what the
// page shows: the text parts up to their caps, and the attachments'
// names and sizes.
func streamContent(r io.Reader) content {
	w := &walker{streamed: true}
	w.walkStream(r)
	return w.content()
}

// content is the walk's result: the chosen body and the attachments.
func (w *walker) content() content {
	if len(w.html) > 0 {
		w.c.HTML = strings.Join(w.html, "<hr>")
	} else {
		w.c.Text = strings.Join(w.plain, "\n\n")
	}
	return w.c
}

// walkStream walks the message read from r, cutting its header off the
// stream (mailmsg.ReadHeader).
func (w *walker) walkStream(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	hdr, err := mailmsg.ReadHeader(br, maxStreamedHeader)
	if err != nil && err != io.EOF {
		w.c.Truncated = true
		return
	}
	w.walk(headerGetter(hdr), br, 0)
}

// headerGetter looks fields up in a header section.
func headerGetter(hdr []byte) func(string) string {
	return func(name string) string {
		if f, ok := mailmsg.Lookup(hdr, name); ok {
			return string(mailmsg.Unfold(f.Value))
		}
		return ""
	}
}

// streamAttachment walks the message read from r as streamContent does
// and, when its attachment n (content.Attachments[n]) is there, calls
// sink with it and its body, still encoded, as a stream; with n
// allAttachments it calls sink with each. It reports whether it found
// one, and the sink's error, which ends the walk. Only a buffer of the
// message is held.
func streamAttachment(r io.Reader, n int, sink func(a attachment, raw io.Reader) error) (bool, error) {
	w := &walker{want: n, sink: sink, streamed: true}
	w.walkStream(r)
	return w.found, w.sinkErr
}

// maxStreamedHeader bounds the header streamAttachment reads.
const maxStreamedHeader = 1 << 20

// walk visits a part.
func (w *walker) walk(get func(string) string, body io.Reader, depth int) {
	if w.done() {
		return
	}
	if w.parts >= maxParts || depth > maxDepth {
		w.c.Truncated = true
		return
	}
	w.parts++
	h := readPartHeader(get)
	counting := w.sink != nil
	switch {
	case strings.HasPrefix(h.mediaType, "multipart/"):
		w.multipart(h, body, depth)
	case h.disposition == "attachment" || (h.filename != "" && !strings.HasPrefix(h.mediaType, "text/")):
		w.attach(h, body)
	case counting && (h.mediaType == "text/html" || h.mediaType == "text/plain" || h.mediaType == "text/enriched"):
		// No attachment in it: the multipart reader skips its bytes.
	case h.mediaType == "text/html":
		if t, ok := w.readText(h, body, true); ok {
			w.html = append(w.html, t)
		}
	case h.mediaType == "text/plain" || h.mediaType == "text/enriched":
		if t, ok := w.readText(h, body, false); ok {
			w.plain = append(w.plain, t)
		}
	case h.mediaType == "message/rfc822" && depth < maxDepth && w.streamed:
		w.inner(h, body, depth)
	case h.mediaType == "message/rfc822" && depth < maxDepth:
		b, ok := w.read(body)
		if !ok {
			return
		}
		inner := w.decodeBytes(h.encoding, b)
		ih, ib := mailmsg.Split(inner)
		if !counting {
			e := parseEnvelope(ih)
			w.plain = append(w.plain, "---------- Forwarded message ----------\nFrom: "+e.From+"\nSubject: "+e.Subject)
		}
		w.walk(headerGetter(ih), bytes.NewReader(ib), depth+1)
	default:
		w.attach(h, body)
	}
}

// inner walks an attached message as it is read (a streamed walk).
func (w *walker) inner(h partHeader, body io.Reader, depth int) {
	br := bufio.NewReaderSize(decoder(h.encoding, body), 16<<10)
	ih, err := mailmsg.ReadHeader(br, maxStreamedHeader)
	if err != nil && err != io.EOF {
		w.failed = true
		return
	}
	if w.sink == nil {
		e := parseEnvelope(ih)
		w.plain = append(w.plain, "---------- Forwarded message ----------\nFrom: "+e.From+"\nSubject: "+e.Subject)
	}
	w.walk(headerGetter(ih), br, depth+1)
}

// readText returns a text part's body as UTF-8, within the caps; html says
// how a cut is marked.
func (w *walker) readText(h partHeader, body io.Reader, html bool) (string, bool) {
	if !w.streamed {
		b, ok := w.read(body)
		if !ok {
			return "", false
		}
		t, cut := w.decode(h, b)
		return mark(t, cut, html), true
	}
	limit := min(maxPartText, maxTotalText-w.text)
	if limit <= 0 {
		w.c.Truncated = true
		return "", w.skip(body)
	}
	// The bytes as they are, kept up to the cap: a part whose transfer
	// encoding does not decode is shown as it is (decodeBytes).
	src := &mailmsg.Source{R: body}
	raw := &capBuffer{max: limit + 1}
	var in io.Reader = src
	if h.encoding == "base64" || h.encoding == "quoted-printable" {
		in = decoder(h.encoding, io.TeeReader(src, raw))
	}
	b, err := io.ReadAll(io.LimitReader(in, int64(limit)+1))
	if err != nil && len(b) == 0 && src.Err == nil {
		_, _ = io.Copy(raw, io.LimitReader(src, int64(limit)+1)) // a read error shows in src.Err
		b = raw.b
	}
	if src.Err != nil {
		w.failed = true
		return "", false
	}
	cut := len(b) > limit
	if cut {
		b = b[:limit]
		w.c.Truncated, w.c.Cut = true, true
	}
	if !w.skip(src) {
		return "", false
	}
	w.text += len(b)
	return mark(decodeText(b, h.typeParams["charset"]), cut, html), true
}

// mark ends a text part that a cap cut with cutNote.
func mark(t string, cut, html bool) string {
	if !cut {
		return t
	}
	if html {
		return t + "<hr><p><em>" + cutNote + "</em></p>"
	}
	return t + "\n\n" + cutNote
}

// skip reads past the rest of a part's body; a failure marks the walk
// failed.
func (w *walker) skip(body io.Reader) bool {
	if _, err := io.Copy(io.Discard, body); err != nil {
		w.failed = true
		return false
	}
	return true
}

// capBuffer keeps the first max bytes written to it.
type capBuffer struct {
	b   []byte
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// read reads a part's body, at most maxViewBytes of it; a failure marks
// the walk failed.
func (w *walker) read(body io.Reader) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(body, maxViewBytes))
	if err != nil {
		w.failed = true
		return nil, false
	}
	return b, true
}

// attach lists a part as an attachment; a sink gets the one it wants.
func (w *walker) attach(h partHeader, body io.Reader) {
	a := attachment{Index: len(w.c.Attachments), Name: h.filename, Type: h.mediaType, ContentID: h.contentID, enc: h.encoding}
	switch {
	case w.sink == nil && !w.streamed:
		b, ok := w.read(body)
		if !ok {
			return
		}
		a.raw, a.Size = b, decodedSize(h.encoding, int64(len(b)))
	case w.sink != nil && (a.Index == w.want || w.want == allAttachments):
		w.found = true
		w.sinkErr = w.sink(a, io.LimitReader(body, maxViewBytes))
	default:
		// Counted, not kept; but a streamed page keeps its small inline
		// images, which it shows in the body (cidImages).
		var kept []byte
		if w.sink == nil && a.ContentID != "" && strings.HasPrefix(canonicalType(a.Type), "image/") && w.held < maxCIDRaw {
			b, err := io.ReadAll(io.LimitReader(body, int64(maxCIDRaw-w.held)+1))
			if err != nil {
				w.failed = true
				return
			}
			if w.held+len(b) <= maxCIDRaw {
				a.raw, w.held = b, w.held+len(b)
			}
			kept = b
		}
		n, err := io.Copy(io.Discard, io.LimitReader(body, maxViewBytes-int64(len(kept))))
		if err != nil {
			w.failed = true
			return
		}
		a.Size = decodedSize(h.encoding, n+int64(len(kept)))
	}
	w.c.Attachments = append(w.c.Attachments, a)
}

// multipart walks the parts of a multipart body; of an alternative it
// keeps the last HTML or, without one, the last plain text.
func (w *walker) multipart(h partHeader, body io.Reader, depth int) {
	boundary := h.typeParams["boundary"]
	if boundary == "" {
		if w.sink == nil {
			if t, ok := w.readText(h, body, false); ok {
				w.plain = append(w.plain, t)
			}
		}
		return
	}
	alt := h.mediaType == "multipart/alternative"
	html, plain := len(w.html), len(w.plain)
	mr := multipart.NewReader(body, boundary)
	for !w.done() {
		p, err := mr.NextRawPart()
		if err != nil {
			if err != io.EOF {
				w.c.Truncated = true
			}
			break
		}
		w.walk(p.Header.Get, io.LimitReader(p, maxViewBytes), depth+1)
		if w.failed {
			w.failed = false // this multipart ends here; the one around it goes on
			w.c.Truncated = true
			break
		}
		if w.parts >= maxParts {
			w.c.Truncated = true
			break
		}
	}
	if alt {
		// Keep only the best alternative: the last HTML, else the last text.
		if len(w.html) > html {
			w.html = append(w.html[:html], w.html[len(w.html)-1])
			w.plain = w.plain[:plain]
		} else if len(w.plain) > plain+1 {
			w.plain = append(w.plain[:plain], w.plain[len(w.plain)-1])
		}
	}
}

// decode returns a text part's body as UTF-8, capped, and whether the
// cap cut it.
func (w *walker) decode(h partHeader, body []byte) (string, bool) {
	b := w.decodeBytes(h.encoding, body)
	limit := min(maxPartText, maxTotalText-w.text)
	if limit <= 0 {
		w.c.Truncated = true
		return "", false
	}
	cut := len(b) > limit
	if cut {
		b = b[:limit]
		w.c.Truncated, w.c.Cut = true, true
	}
	w.text += len(b)
	return decodeText(b, h.typeParams["charset"]), cut
}

// decodeBytes undoes a transfer encoding; bytes that do not decode are
// kept as they are.
func (w *walker) decodeBytes(enc string, body []byte) []byte {
	if enc != "quoted-printable" && enc != "base64" {
		return body
	}
	out, err := io.ReadAll(io.LimitReader(decoder(enc, bytes.NewReader(body)), maxTotalText*4))
	if err != nil && len(out) == 0 {
		return body
	}
	return out
}

// data returns an attachment's content, its transfer encoding undone
// (at most maxViewBytes; bytes that do not decode are kept as they are).
func (a attachment) data() []byte {
	if a.enc != "quoted-printable" && a.enc != "base64" {
		return a.raw
	}
	out, err := io.ReadAll(io.LimitReader(decoder(a.enc, bytes.NewReader(a.raw)), maxViewBytes))
	if err != nil && len(out) == 0 {
		return a.raw
	}
	return out
}

// decoder undoes the transfer encoding enc (quoted-printable, base64;
// any other is left as it is) of raw as it is read.
func decoder(enc string, raw io.Reader) io.Reader {
	d, _ := mailmsg.Decoder(enc, raw)
	return d
}

// decodedSize estimates the size of a part of n bytes after its transfer
// encoding.
func decodedSize(enc string, n int64) int {
	if enc == "base64" {
		return int(n * 3 / 4)
	}
	return int(n)
}
