package sieve

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"

	"boxmail/internal/mailmsg"
)

// Limits of the message parts a script looks at. The body is not parsed
// until a body test asks for it, its parts are sub-slices of the bytes
// given to ParseMessage (no copy per MIME level), and what a body test
// compares is cut at RunOptions.MaxBodyBytes.
const (
	maxParts = 100
	maxDepth = 10
	// maxHeaderBytes bounds the header fields header, address and exists
	// tests see: fields past it are not looked at.
	maxHeaderBytes = 1 << 20
	// maxPartHeader bounds a MIME part's header; a longer one is taken as
	// the part's content.
	maxPartHeader = 64 << 10
	// DefaultMaxBodyBytes is how much decoded text (and raw body) a body
	// test compares by default.
	DefaultMaxBodyBytes = 1 << 20
)

// Message is what a script looks at. The interpreter does no I/O: the
// caller fills it with ParseMessage. Copies of a Message share the parsed
// body, which is built once, on the first body test.
type Message struct {
	// Envelope sender ("" for a bounce) and the recipient being delivered.
	From, To string
	Header   mail.Header // raw field values; RFC 2047 words are decoded on use
	Size     int64
	body     []byte // the body as received: a sub-slice of ParseMessage's data
	parsed   *bodyCache
}

// bodyCache is the body as body tests see it, built on first use.
type bodyCache struct {
	done  bool
	left  int // bytes of decoded text still allowed
	raw   string
	text  string // the text/* parts joined by "\n"
	parts []part
}

// part is a leaf MIME part: its lower-case type, transfer encoding and
// content as a sub-slice of the message; text is decoded on first use.
type part struct {
	typ, cte string
	data     []byte
	text     string
	decoded  bool
}

// ParseMessage builds a Message from the raw bytes of a message and its
// envelope. It parses the header only (up to 1 MiB of it) and keeps data
// for body tests; data must not change while the Message is used. A
// header that does not parse is taken as empty, so the script still runs.
func ParseMessage(data []byte, from, to string) *Message {
	m := &Message{From: from, To: to, Size: int64(len(data)), Header: mail.Header{}, parsed: &bodyCache{}}
	hdr, body := mailmsg.Split(data)
	m.body = body
	if len(hdr) > maxHeaderBytes {
		hdr = hdr[:bytes.LastIndexByte(hdr[:maxHeaderBytes], '\n')+1]
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(hdr))).ReadMIMEHeader()
	if err == nil || len(h) > 0 {
		m.Header = mail.Header(h)
	}
	return m
}

// bodyOf returns the parsed body, building it on first use with limit
// bytes of decoded text allowed.
func (m *Message) bodyOf(limit int) *bodyCache {
	if m.parsed == nil {
		m.parsed = &bodyCache{}
	}
	c := m.parsed
	if c.done {
		return c
	}
	c.done, c.left = true, limit
	n := 0
	c.parts = leaves(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.body, 0, &n, c.parts)
	var b strings.Builder
	for i := range c.parts {
		if strings.HasPrefix(c.parts[i].typ, "text/") {
			t := c.decode(&c.parts[i])
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(t)
		}
	}
	c.text = b.String()
	return c
}

// rawBody is body :raw: the undecoded body, cut at limit.
func (m *Message) rawBody(limit int) string {
	c := m.bodyOf(limit)
	if c.raw == "" && len(m.body) > 0 {
		c.raw = string(m.body[:min(len(m.body), limit)])
	}
	return c.raw
}

// decode returns p's decoded content, within the text budget.
func (c *bodyCache) decode(p *part) string {
	if p.decoded {
		return p.text
	}
	p.decoded = true
	if c.left <= 0 {
		return ""
	}
	var r io.Reader
	switch p.cte {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &skipSpace{b: p.data})
	case "quoted-printable":
		r = quotedprintable.NewReader(bytes.NewReader(p.data))
	default:
		p.text = string(p.data[:min(len(p.data), c.left)])
		c.left -= len(p.text)
		return p.text
	}
	var b strings.Builder
	b.Grow(min(len(p.data), c.left))
	n, _ := io.Copy(&b, io.LimitReader(r, int64(c.left)))
	c.left -= int(n)
	p.text = b.String()
	return p.text
}

// skipSpace reads b without CR, LF, spaces and tabs (base64 lines).
type skipSpace struct{ b []byte }

func (s *skipSpace) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(s.b) > 0 {
		c := s.b[0]
		s.b = s.b[1:]
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			p[n] = c
			n++
		}
	}
	if n == 0 && len(s.b) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// leaves appends the leaf parts of a body with the given header fields
// to out, walking at most maxDepth multipart levels and maxParts parts.
func leaves(ctype, cte string, body []byte, depth int, n *int, out []part) []part {
	*n++
	if *n > maxParts {
		return out
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || ctype == "" {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		if depth >= maxDepth {
			return out
		}
		delim := []byte("--" + params["boundary"])
		i := delimiterAt(body, delim, 0)
		for i >= 0 && *n <= maxParts {
			j := i + len(delim)
			if bytes.HasPrefix(body[j:], []byte("--")) {
				break // the close delimiter
			}
			nl := bytes.IndexByte(body[j:], '\n')
			if nl < 0 {
				break
			}
			start := j + nl + 1
			next := delimiterAt(body, delim, start)
			end := len(body)
			if next >= 0 {
				end = next
				if end > start && body[end-1] == '\n' {
					end--
					if end > start && body[end-1] == '\r' {
						end--
					}
				}
			}
			ph, pb := partHeader(body[start:end])
			out = leaves(ph.Get("Content-Type"), ph.Get("Content-Transfer-Encoding"), pb, depth+1, n, out)
			i = next
		}
		return out
	}
	return append(out, part{typ: mt, cte: strings.ToLower(strings.TrimSpace(cte)), data: body})
}

// delimiterAt finds the next boundary delimiter line (RFC 2046 5.1.1) at
// or after from: delim at the start of a line, followed by "--" or by
// optional white space and the end of the line.
func delimiterAt(b, delim []byte, from int) int {
	for from <= len(b) {
		k := bytes.Index(b[from:], delim)
		if k < 0 {
			return -1
		}
		p := from + k
		if p == 0 || b[p-1] == '\n' {
			rest := b[p+len(delim):]
			if bytes.HasPrefix(rest, []byte("--")) {
				return p
			}
			rest = bytes.TrimLeft(rest, " \t")
			if len(rest) == 0 || rest[0] == '\r' || rest[0] == '\n' {
				return p
			}
		}
		from = p + 1
	}
	return -1
}

// partHeader splits a MIME part into its header fields and content; a
// part without a header, or with one longer than maxPartHeader, is all
// content.
func partHeader(p []byte) (textproto.MIMEHeader, []byte) {
	if bytes.HasPrefix(p, []byte("\r\n")) {
		return nil, p[2:]
	}
	if bytes.HasPrefix(p, []byte("\n")) {
		return nil, p[1:]
	}
	look := p[:min(len(p), maxPartHeader)]
	fieldsEnd, end := mailmsg.Bounds(look)
	if fieldsEnd == len(look) {
		return nil, p // no empty line within the cap: no header
	}
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(p[:end]))).ReadMIMEHeader()
	return h, p[end:]
}
