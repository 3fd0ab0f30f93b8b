package webmail

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
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

// walker collects a message's content within the caps.
type walker struct {
	c     content
	parts int
	text  int
	html  []string
	plain []string
}

// parseContent decodes a whole message (header and body).
func parseContent(msg []byte) content {
	hdr, body := mailmsg.Split(msg)
	w := &walker{}
	w.walk(headerGetter(hdr), body, 0)
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

// walk visits a part.
func (w *walker) walk(get func(string) string, body []byte, depth int) {
	if w.parts >= maxParts || depth > maxDepth {
		w.c.Truncated = true
		return
	}
	w.parts++
	h := readPartHeader(get)
	switch {
	case strings.HasPrefix(h.mediaType, "multipart/"):
		w.multipart(h, body, depth)
	case h.disposition == "attachment" || (h.filename != "" && !strings.HasPrefix(h.mediaType, "text/")):
		w.attach(h, body)
	case h.mediaType == "text/html":
		w.html = append(w.html, w.decode(h, body))
	case h.mediaType == "text/plain" || h.mediaType == "text/enriched":
		w.plain = append(w.plain, w.decode(h, body))
	case h.mediaType == "message/rfc822" && depth < maxDepth:
		inner := w.decodeBytes(h.encoding, body)
		ih, ib := mailmsg.Split(inner)
		e := parseEnvelope(ih)
		w.plain = append(w.plain, "---------- Forwarded message ----------\nFrom: "+e.From+"\nSubject: "+e.Subject)
		w.walk(headerGetter(ih), ib, depth+1)
	default:
		w.attach(h, body)
	}
}

// attach lists a part as an attachment.
func (w *walker) attach(h partHeader, body []byte) {
	w.c.Attachments = append(w.c.Attachments, attachment{Index: len(w.c.Attachments), Name: h.filename, Type: h.mediaType,
		Size: decodedSize(h.encoding, body), ContentID: h.contentID, enc: h.encoding, raw: body})
}

// multipart walks the parts of a multipart body; of an alternative it
// keeps the last HTML or, without one, the last plain text.
func (w *walker) multipart(h partHeader, body []byte, depth int) {
	boundary := h.typeParams["boundary"]
	if boundary == "" {
		w.plain = append(w.plain, w.decode(h, body))
		return
	}
	alt := h.mediaType == "multipart/alternative"
	html, plain := len(w.html), len(w.plain)
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			if err != io.EOF {
				w.c.Truncated = true
			}
			break
		}
		b, err := io.ReadAll(io.LimitReader(p, maxViewBytes))
		if err != nil {
			w.c.Truncated = true
			break
		}
		w.walk(p.Header.Get, b, depth+1)
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
	var r io.Reader
	switch enc {
	case "quoted-printable":
		r = quotedprintable.NewReader(bytes.NewReader(body))
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &stripSpace{b: body})
	default:
		return body
	}
	out, err := io.ReadAll(io.LimitReader(r, maxTotalText*4))
	if err != nil && len(out) == 0 {
		return body
	}
	return out
}

// data returns an attachment's content, its transfer encoding undone
// (at most maxViewBytes; bytes that do not decode are kept as they are).
func (a attachment) data() []byte {
	var r io.Reader
	switch a.enc {
	case "quoted-printable":
		r = quotedprintable.NewReader(bytes.NewReader(a.raw))
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &stripSpace{b: a.raw})
	default:
		return a.raw
	}
	out, err := io.ReadAll(io.LimitReader(r, maxViewBytes))
	if err != nil && len(out) == 0 {
		return a.raw
	}
	return out
}

// decodedSize estimates a part's size after its transfer encoding.
func decodedSize(enc string, body []byte) int {
	if enc == "base64" {
		return len(body) * 3 / 4
	}
	return len(body)
}

// stripSpace reads b without white space (base64 bodies are folded).
type stripSpace struct{ b []byte }

func (s *stripSpace) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(s.b) > 0 {
		c := s.b[0]
		s.b = s.b[1:]
		if c == '\r' || c == '\n' || c == ' ' || c == '\t' {
			continue
		}
		p[n] = c
		n++
	}
	if n == 0 && len(s.b) == 0 {
		return 0, io.EOF
	}
	return n, nil
}
