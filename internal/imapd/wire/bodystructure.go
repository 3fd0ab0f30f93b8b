package wire

import (
	"bytes"
	"errors"
	"mime"
	"sort"
	"strings"

	"boxmail/internal/mailmsg"
)

// Caps of ExtractBodyStructure, the same as imapd's today: a message of
// two million empty parts must not cost two million structs.
const (
	MaxMIMEParts = 10000
	MaxMIMEDepth = 100
)

// BodyPart is one node of a BODYSTRUCTURE (RFC 3501 7.4.2, RFC 9051
// 7.5.2). Type and Subtype are lower case.
type BodyPart struct {
	Type, Subtype string
	Params        []Param
	ID            string
	Description   string
	Encoding      string // upper case; 7BIT when absent
	Size          uint32 // body octets
	Lines         uint32 // text/* and message/rfc822 only

	Envelope *Envelope // message/rfc822 only
	Child    *BodyPart // message/rfc822 only
	Parts    []*BodyPart

	// Extension data (BODYSTRUCTURE only).
	MD5               string
	Disposition       string
	DispositionParams []Param
	Language          []string
	Location          string
}

// Param is a Content-Type or Content-Disposition parameter.
type Param struct{ Name, Value string }

// Multipart reports whether p is a multipart.
func (p *BodyPart) Multipart() bool { return p.Type == "multipart" }

// ExtractBodyStructure parses a message's MIME structure from its raw
// bytes, within MaxMIMEParts parts, MaxMIMEDepth levels and
// MaxParsedHeader bytes of header per part. Past the part cap the rest
// of a multipart is the body of its last part.
func ExtractBodyStructure(msg []byte) *BodyPart {
	budget := MaxMIMEParts
	return parsePart(msg, 0, "text/plain", &budget)
}

func parsePart(data []byte, depth int, defType string, budget *int) *BodyPart {
	body := data[mailmsg.HeaderEnd(data):]
	p, params := partHeader(cappedHeader(data), defType)
	p.Size = uint32(min(uint64(len(body)), 1<<32-1))
	switch {
	case p.Type == "multipart" && depth < MaxMIMEDepth && params["boundary"] != "":
		childType := childDefault(p)
		for _, part := range splitMultipart(body, params["boundary"], budget) {
			p.Parts = append(p.Parts, parsePart(part, depth+1, childType, budget))
		}
		if len(p.Parts) == 0 { // RFC 3501 needs one part at least
			p.Parts = append(p.Parts, parsePart(nil, depth+1, childType, budget))
		}
	case opaque(p, depth):
		p.Type, p.Subtype, p.Params = "application", "octet-stream", nil
	case isRFC822(p):
		p.Envelope = ExtractEnvelope(body)
		p.Child = parsePart(body, depth+1, "text/plain", budget)
		p.Lines = countLines(body)
	case p.Type == "text":
		p.Lines = countLines(body)
	}
	return p
}

// partHeader reads what a part's header (capped) says of it: its type,
// with defType when it names none or one that cannot be read, and its
// fields; the content parameters come back as a map too.
func partHeader(hdr []byte, defType string) (*BodyPart, map[string]string) {
	p := &BodyPart{Encoding: "7BIT"}
	ctype := ""
	for f := range mailmsg.Fields(hdr) {
		switch {
		case f.Name == nil:
		case f.Is("Content-Type"):
			ctype = headerValue(f)
		case f.Is("Content-Transfer-Encoding"):
			p.Encoding = strings.ToUpper(headerValue(f))
		case f.Is("Content-ID"):
			p.ID = headerValue(f)
		case f.Is("Content-Description"):
			p.Description = headerValue(f)
		case f.Is("Content-MD5"):
			p.MD5 = headerValue(f)
		case f.Is("Content-Location"):
			p.Location = headerValue(f)
		case f.Is("Content-Language"):
			p.Language = splitLanguages(headerValue(f))
		case f.Is("Content-Disposition"):
			if d, params, err := mime.ParseMediaType(headerValue(f)); err == nil {
				p.Disposition, p.DispositionParams = d, sortedParams(params)
			}
		}
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if errors.Is(err, mime.ErrInvalidMediaParameter) {
		err = nil // the type is good, a parameter is not: keep the type
	}
	if err != nil || !strings.Contains(mt, "/") {
		mt, params = defType, nil
		if defType == "text/plain" {
			params = map[string]string{"charset": "us-ascii"}
		}
	}
	p.Type, p.Subtype, _ = strings.Cut(mt, "/")
	p.Params = sortedParams(params)
	return p, params
}

// childDefault is the type of a multipart's parts that name none.
func childDefault(p *BodyPart) string {
	if p.Subtype == "digest" {
		return "message/rfc822"
	}
	return "text/plain"
}

// opaque says that a part is shown as application/octet-stream: a
// multipart that is not split (past the depth cap, or without a
// boundary) or a message past the depth cap, so the structure stays
// well-formed. Call it after the split case.
func opaque(p *BodyPart, depth int) bool {
	return p.Type == "multipart" || isRFC822(p) && depth >= MaxMIMEDepth
}

func isRFC822(p *BodyPart) bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

// countLines counts the lines of a body: its LFs, and a last line
// without one.
func countLines(b []byte) uint32 {
	n := bytes.Count(b, []byte("\n"))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return uint32(min(uint64(n), 1<<32-1))
}

func sortedParams(m map[string]string) []Param {
	if len(m) == 0 {
		return nil
	}
	out := make([]Param, 0, len(m))
	for k, v := range m {
		out = append(out, Param{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func splitLanguages(v string) []string {
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// splitMultipart cuts a multipart body into its parts (RFC 2046 5.1.1):
// the CRLF before a delimiter line belongs to the delimiter (but for an
// empty part, whose line end before the next delimiter is the line end
// of its own delimiter line). Each part
// found takes one from budget; with none left, what follows is part of
// the last part.
func splitMultipart(body []byte, boundary string, budget *int) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1 // start of the current part, -1 before the first delimiter
	for pos := 0; pos < len(body); {
		end := len(body)
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		line := body[pos:end]
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			closing := bytes.Equal(rest, []byte("--"))
			switch {
			case closing:
				if start >= 0 {
					parts = append(parts, body[start:max(start, trimLineEnd(body, pos))])
				}
				return parts
			case len(rest) > 0:
			case start >= 0 && *budget <= 0:
				// past the cap: the line is content of the last part
			default:
				if start >= 0 {
					parts = append(parts, body[start:max(start, trimLineEnd(body, pos))])
				}
				if *budget > 0 {
					*budget--
				}
				start = end
			}
		}
		pos = end
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts
}

// trimLineEnd returns the offset of the line end that precedes pos.
func trimLineEnd(b []byte, pos int) int {
	if pos > 0 && b[pos-1] == '\n' {
		pos--
		if pos > 0 && b[pos-1] == '\r' {
			pos--
		}
	}
	return pos
}

// BodyStructure writes a body's structure: with extension data for
// BODYSTRUCTURE, without for BODY.
func (e *Encoder) BodyStructure(p *BodyPart, extended bool) *Encoder {
	e.Open()
	if p.Multipart() {
		for _, c := range p.Parts {
			e.BodyStructure(c, extended)
		}
		e.SP().String(p.Subtype)
		if extended {
			e.SP().params(p.Params).SP().disposition(p).SP().language(p.Language).SP().NString(p.Location)
		}
		return e.Close()
	}
	// Type and subtype in lower case, as Dovecot writes them (the case
	// does not matter to IMAP, but clients compare strings).
	e.String(p.Type).SP().String(p.Subtype).SP().params(p.Params)
	e.SP().NString(p.ID).SP().NString(p.Description).SP().String(p.Encoding).SP().Number(p.Size)
	if p.Child != nil {
		e.SP().Envelope(p.Envelope).SP().BodyStructure(p.Child, extended).SP().Number(p.Lines)
	} else if p.Type == "text" {
		e.SP().Number(p.Lines)
	}
	if extended {
		e.SP().NString(p.MD5).SP().disposition(p).SP().language(p.Language).SP().NString(p.Location)
	}
	return e.Close()
}

func (e *Encoder) params(ps []Param) *Encoder {
	if len(ps) == 0 {
		return e.NIL()
	}
	e.Open()
	for i, p := range ps {
		if i > 0 {
			e.SP()
		}
		e.String(p.Name).SP().String(p.Value)
	}
	return e.Close()
}

func (e *Encoder) disposition(p *BodyPart) *Encoder {
	if p.Disposition == "" {
		return e.NIL()
	}
	return e.Open().String(p.Disposition).SP().params(p.DispositionParams).Close()
}

func (e *Encoder) language(l []string) *Encoder {
	switch len(l) {
	case 0:
		return e.NIL()
	case 1:
		return e.String(l[0])
	}
	e.Open()
	for i, s := range l {
		if i > 0 {
			e.SP()
		}
		e.String(s)
	}
	return e.Close()
}
