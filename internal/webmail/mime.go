package webmail

import (
	"bufio"
	"bytes"
	"errors"
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
}

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
// part's body as a stream. With a sink it only counts its way through
// the attachments and hands the one numbered want to the sink, still
// encoded, as it reads past it (a download, streamed from the store:
// streamAttachment); the text parts are skipped then.
type walker struct {
	c     content
	parts int
	text  int
	html  []string
	plain []string
	// failed says that a part's body could not be read (a broken
	// multipart): the multipart around it stops there.
	failed bool

	want    int
	sink    func(a attachment, raw io.Reader) error
	found   bool
	sinkErr error
}

// parseContent decodes a whole message (header and body).
func parseContent(msg []byte) content {
	hdr, body := mailmsg.Split(msg)
	w := &walker{}
	w.walk(headerGetter(hdr), bytes.NewReader(body), 0)
	if len(w.html) > 0 {
		w.c.HTML = strings.Join(w.html, "<hr>")
	} else {
		w.c.Text = strings.Join(w.plain, "\n\n")
	}
	return w.c
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

// streamAttachment walks the message read from r as parseContent does
// and, when its attachment n (content.Attachments[n]) is there, calls
// sink with it and its body, still encoded, as a stream; it reports
// whether it found it, and the sink's error. Only a buffer of the message
// is held.
func streamAttachment(r io.Reader, n int, sink func(a attachment, raw io.Reader) error) (bool, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr []byte
	for len(hdr) < maxStreamedHeader {
		line, err := br.ReadSlice('\n')
		lineStart := len(hdr) == 0 || hdr[len(hdr)-1] == '\n'
		hdr = append(hdr, line...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil || lineStart && (string(line) == "\n" || string(line) == "\r\n") {
			break // the end, or the blank line that ends the header (mailmsg.HeaderEnd)
		}
	}
	w := &walker{want: n, sink: sink}
	w.walk(headerGetter(hdr), br, 0)
	return w.found, w.sinkErr
}

// maxStreamedHeader bounds the header streamAttachment reads.
const maxStreamedHeader = 1 << 20

// walk visits a part.
func (w *walker) walk(get func(string) string, body io.Reader, depth int) {
	if w.found {
		return // the sink has had its attachment
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
		if b, ok := w.read(body); ok {
			w.html = append(w.html, w.decode(h, b))
		}
	case h.mediaType == "text/plain" || h.mediaType == "text/enriched":
		if b, ok := w.read(body); ok {
			w.plain = append(w.plain, w.decode(h, b))
		}
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
	case w.sink == nil:
		b, ok := w.read(body)
		if !ok {
			return
		}
		a.raw, a.Size = b, decodedSize(h.encoding, int64(len(b)))
	case a.Index == w.want:
		w.found = true
		w.sinkErr = w.sink(a, io.LimitReader(body, maxViewBytes))
	default:
		n, err := io.Copy(io.Discard, io.LimitReader(body, maxViewBytes))
		if err != nil {
			w.failed = true
			return
		}
		a.Size = decodedSize(h.encoding, n)
	}
	w.c.Attachments = append(w.c.Attachments, a)
}

// multipart walks the parts of a multipart body; of an alternative it
// keeps the last HTML or, without one, the last plain text.
func (w *walker) multipart(h partHeader, body io.Reader, depth int) {
	boundary := h.typeParams["boundary"]
	if boundary == "" {
		if w.sink == nil {
			if b, ok := w.read(body); ok {
				w.plain = append(w.plain, w.decode(h, b))
			}
		}
		return
	}
	alt := h.mediaType == "multipart/alternative"
	html, plain := len(w.html), len(w.plain)
	mr := multipart.NewReader(body, boundary)
	for !w.found {
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

// decode returns a text part's body as UTF-8, capped.
func (w *walker) decode(h partHeader, body []byte) string {
	b := w.decodeBytes(h.encoding, body)
	limit := min(maxPartText, maxTotalText-w.text)
	if limit <= 0 {
		w.c.Truncated = true
		return ""
	}
	if len(b) > limit {
		b = b[:limit]
		w.c.Truncated = true
	}
	w.text += len(b)
	return decodeText(b, h.typeParams["charset"])
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
