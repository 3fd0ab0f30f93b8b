package wire

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"

	"boxmail/internal/mailmsg"
)

// entity is a message or a MIME part: its header (with the empty line
// that ends it) and its body.
type entity struct{ hdr, body []byte }

func newEntity(b []byte) entity {
	end := mailmsg.HeaderEnd(b)
	return entity{hdr: b[:end], body: b[end:]}
}

// mediaType returns the entity's media type (lower case) and params,
// text/plain when absent or unreadable.
func (e entity) mediaType() (string, map[string]string) {
	f, ok := mailmsg.Lookup(cappedHeader(e.hdr), "Content-Type")
	if !ok {
		return "text/plain", nil
	}
	mt, params, err := mime.ParseMediaType(headerValue(f))
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) || !strings.Contains(mt, "/") {
		return "text/plain", nil
	}
	return mt, params
}

func (e entity) isMessage() bool {
	mt, _ := e.mediaType()
	return mt == "message/rfc822" || mt == "message/global"
}

// part finds the entity a part path names (RFC 9051 6.4.5): in a
// multipart the n-th part, in anything else part 1 is the entity
// itself; past a message/rfc822 part the path goes on inside it.
func part(msg []byte, path []uint32) (entity, bool) {
	ent := newEntity(msg)
	budget := MaxMIMEParts
	for i, n := range path {
		if i > 0 && ent.isMessage() {
			ent = newEntity(ent.body)
		}
		mt, params := ent.mediaType()
		if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
			parts := splitMultipart(ent.body, params["boundary"], &budget)
			if int(n) > len(parts) {
				return entity{}, false
			}
			ent = newEntity(parts[n-1])
			continue
		}
		if n != 1 {
			return entity{}, false
		}
	}
	return ent, true
}

// ExtractSection returns the bytes of a BODY[section] fetch (without
// the partial range: see Partial.Apply), or ok false when the message
// has no such part. Part bodies, TEXT and HEADER are slices of msg.
func ExtractSection(msg []byte, s *Section) (data []byte, ok bool) {
	ent := newEntity(msg)
	if len(s.Part) > 0 {
		if ent, ok = part(msg, s.Part); !ok {
			return nil, false
		}
		switch s.Specifier {
		case "":
			return ent.body, true
		case "MIME":
			return ent.hdr, true
		}
		if !ent.isMessage() {
			return nil, false
		}
		ent = newEntity(ent.body)
	}
	switch s.Specifier {
	case "":
		return msg, true
	case "TEXT":
		return ent.body, true
	case "HEADER":
		return ent.hdr, true
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		return headerFields(cappedHeader(ent.hdr), s.Fields, s.Specifier == "HEADER.FIELDS.NOT"), true
	}
	return nil, false
}

// headerFields keeps (or, with not, drops) the named fields, and ends
// the result with an empty line.
func headerFields(hdr []byte, names []string, not bool) []byte {
	var out []byte
	for f := range mailmsg.Fields(hdr) {
		named := false
		for _, n := range names {
			if f.Is(n) {
				named = true
				break
			}
		}
		if named != not && f.Name != nil {
			out = append(out, f.Raw...)
		}
	}
	return append(out, '\r', '\n')
}

// Apply cuts data to the partial range (RFC 9051 6.4.5 <origin.count>).
func (p *Partial) Apply(data []byte) []byte {
	if p == nil {
		return data
	}
	if uint64(p.Offset) >= uint64(len(data)) {
		return nil
	}
	data = data[p.Offset:]
	if uint64(p.Count) < uint64(len(data)) {
		data = data[:p.Count]
	}
	return data
}

// ErrUnknownCTE is returned by ExtractBinary for a transfer encoding it
// cannot decode; answer NO [UNKNOWN-CTE] (RFC 3516 4.3).
var ErrUnknownCTE = errors.New("wire: unknown content-transfer-encoding")

// ExtractBinary returns the decoded content of a BINARY[part] fetch
// (RFC 3516): base64 and quoted-printable are decoded, 7bit, 8bit and
// binary are as they are. An empty path is the message's body.
func ExtractBinary(msg []byte, path []uint32) (data []byte, ok bool, err error) {
	ent := newEntity(msg)
	if len(path) > 0 {
		if ent, ok = part(msg, path); !ok {
			return nil, false, nil
		}
	}
	if identityCTE(ent.hdr) {
		return ent.body, true, nil
	}
	r, err := BinaryDecoder(ent.hdr, bytes.NewReader(ent.body))
	if err != nil {
		return nil, true, err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, true, DecodeError(err)
	}
	return out, true, nil
}

// DecodeError is the NO [UNKNOWN-CTE] answer to a part whose content
// does not decode.
func DecodeError(err error) *Error {
	return &Error{Kind: NO, Code: CodeUnknownCTE, Text: "cannot decode the part: " + err.Error()}
}

// cte is the Content-Transfer-Encoding an entity's header names, lower
// case; "" for none.
func cte(hdr []byte) string {
	if f, found := mailmsg.Lookup(cappedHeader(hdr), "Content-Transfer-Encoding"); found {
		return strings.ToLower(headerValue(f))
	}
	return ""
}

func identityCTE(hdr []byte) bool {
	switch cte(hdr) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// BinaryDecoder returns body, the content of an entity whose header is
// hdr, decoded by its Content-Transfer-Encoding as BINARY gives it (see
// ExtractBinary), streamed: a large message's body is decoded as it is
// read. An encoding it cannot decode is ErrUnknownCTE; a read error of
// the decoder is the answer DecodeError gives.
func BinaryDecoder(hdr []byte, body io.Reader) (io.Reader, error) {
	switch cte(hdr) {
	case "", "7bit", "8bit", "binary":
		return body, nil
	}
	if d, ok := mailmsg.Decoder(cte(hdr), body); ok {
		return d, nil
	}
	return nil, ErrUnknownCTE
}
