// Package mailmsg finds the parts of an Internet message's header
// (RFC 5322): where the header ends and the body starts, its fields one by
// one as raw bytes, unfolding, and lookup of a field by name. Every
// package of boxmail that needs one of these asks here, so that SEARCH,
// FETCH, bounces, imports, DKIM and DMARC all cut a message at the same
// byte.
//
// It is not a MIME parser, does not decode encoded words or parse
// addresses (go-message and mailauth do), and never copies or changes the
// message: every result is a slice of the input. Beside that, it holds
// the one streaming decoder of a body's Content-Transfer-Encoding
// (transfer.go) that FETCH BINARY and webmail downloads read through,
// and ReadHeader (stream.go), which cuts the header off a message or a
// MIME part that is read as a stream by the same rules, so that the
// webmail walks a 40 MiB message without holding it.
//
// # Line ends
//
// RFC 5322 2.1 and 2.2 say a line ends with CRLF and the header ends at
// the first empty line (2.1, 3.5). The box keeps messages as received:
// the SMTP front-end and the mbox and maildir imports make line ends
// CRLF, but IMAP APPEND and the import from an IMAP server keep the bytes
// as they were, so stored mail may end its lines with a bare LF, or mix
// both. The one policy here:
//
//   - A line ends with LF, with or without a CR before it. A CR not
//     followed by LF is an ordinary byte of its line.
//   - The header ends at the first empty line, that is a line that is
//     only "\r\n" or only "\n" (a line of "\r\r\n" is not empty). The
//     body starts just after that line. A message that starts with an
//     empty line has an empty header.
//   - A message without an empty line is all header and has no body; so
//     is the empty message.
//   - A line that starts with a space or a tab continues the field above
//     it (folding, RFC 5322 2.2.3); one at the very start of the header
//     starts a field of its own, which names nothing.
//
// For a message whose lines all end in CRLF this is exactly "up to and
// including the first CRLF CRLF".
package mailmsg

import (
	"bytes"
	"iter"
)

// Bounds returns where msg's header fields end (the offset of the empty
// line that ends the header) and where its body starts (just past that
// line). Without an empty line both are len(msg).
func Bounds(msg []byte) (fieldsEnd, bodyStart int) {
	for pos := 0; pos < len(msg); {
		if msg[pos] == '\n' {
			return pos, pos + 1
		}
		if msg[pos] == '\r' && pos+1 < len(msg) && msg[pos+1] == '\n' {
			return pos, pos + 2
		}
		i := bytes.IndexByte(msg[pos:], '\n')
		if i < 0 {
			break
		}
		pos += i + 1
	}
	return len(msg), len(msg)
}

// HeaderEnd returns the offset at which msg's body starts: the length of
// its header section including the empty line that ends it.
func HeaderEnd(msg []byte) int {
	_, end := Bounds(msg)
	return end
}

// Split returns msg's header section (with the empty line that ends it)
// and its body.
func Split(msg []byte) (header, body []byte) {
	end := HeaderEnd(msg)
	return msg[:end], msg[end:]
}

// An EndFinder finds where the header ends in a message that arrives in
// pieces (one being received or copied), by the same rules as HeaderEnd,
// without holding the pieces. The zero value is ready for the first byte
// of a message.
type EndFinder struct {
	state uint8 // lineStart, crAtStart or midLine
	done  bool
}

const (
	lineStart = iota
	crAtStart
	midLine
)

// Feed looks at the next piece of the message. It returns the offset in
// p just past the empty line that ends the header, or -1 when the header
// goes on (or has ended in an earlier piece).
func (f *EndFinder) Feed(p []byte) int {
	if f.done {
		return -1
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch f.state {
		case lineStart, crAtStart:
			if c == '\n' {
				f.done = true
				return i + 1
			}
			if c == '\r' && f.state == lineStart {
				f.state = crAtStart
				continue
			}
			f.state = midLine
		}
		if c == '\n' {
			f.state = lineStart
			continue
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j - 1 // the LF is looked at next
	}
	return -1
}

// Field is one header field as it is in the message.
type Field struct {
	// Raw is the whole field: name, colon, value, continuation lines and
	// the line end of its last line. The Raw of a header's fields, one
	// after the other, are its bytes up to the empty line.
	Raw []byte
	// Name is the field name, without the spaces or tabs the obsolete
	// syntax allows before the colon (RFC 5322 4.5.3). It is nil when the
	// first line of the field has no colon, starts with one, or has
	// white space or a CR in the name: such lines are kept in Raw but
	// name no field.
	Name []byte
	// Value is what follows the colon, up to but not including the line
	// end of the last line; folding line ends are kept (see Unfold). Nil
	// when Name is.
	Value []byte
}

// Is reports whether f is named name, case-insensitively.
func (f Field) Is(name string) bool {
	return f.Name != nil && bytes.EqualFold(f.Name, []byte(name))
}

// Fields iterates over the fields of msg's header (msg may be a whole
// message or its header alone), in order, stopping at the empty line.
func Fields(msg []byte) iter.Seq[Field] {
	return func(yield func(Field) bool) {
		end, _ := Bounds(msg)
		h := msg[:end]
		for pos := 0; pos < len(h); {
			n := fieldLen(h[pos:])
			if !yield(parseField(h[pos : pos+n])) {
				return
			}
			pos += n
		}
	}
}

// fieldLen returns the length of the field at the start of h (a header
// without its empty line): its first line and the continuation lines
// after it.
func fieldLen(h []byte) int {
	n := 0
	for {
		i := bytes.IndexByte(h[n:], '\n')
		if i < 0 {
			return len(h)
		}
		n += i + 1
		if n == len(h) || (h[n] != ' ' && h[n] != '\t') {
			return n
		}
	}
}

// parseField cuts one field's raw bytes into name and value.
func parseField(raw []byte) Field {
	f := Field{Raw: raw}
	first := raw
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		first = raw[:i]
	}
	colon := bytes.IndexByte(first, ':')
	if colon <= 0 {
		return f
	}
	name := bytes.TrimRight(first[:colon], " \t")
	if len(name) == 0 || bytes.ContainsAny(name, " \t\r") {
		return f
	}
	v := raw[colon+1:]
	if bytes.HasSuffix(v, []byte("\r\n")) {
		v = v[:len(v)-2]
	} else if bytes.HasSuffix(v, []byte("\n")) {
		v = v[:len(v)-1]
	}
	f.Name, f.Value = name, v
	return f
}

// Lookup returns the first field of msg's header named name
// (case-insensitively).
func Lookup(msg []byte, name string) (Field, bool) {
	for f := range Fields(msg) {
		if f.Is(name) {
			return f, true
		}
	}
	return Field{}, false
}

// Unfold removes the line ends (CRLF or bare LF) that are followed by a
// space or a tab, which is how RFC 5322 2.2.3 unfolds a field body; the
// white space stays. Nothing else changes, and v itself is returned when
// it has no such line end.
func Unfold(v []byte) []byte {
	i := bytes.IndexByte(v, '\n')
	if i < 0 {
		return v
	}
	out := make([]byte, 0, len(v))
	for {
		j := i + 1 // past the LF
		if j < len(v) && (v[j] == ' ' || v[j] == '\t') {
			if i > 0 && v[i-1] == '\r' {
				i--
			}
		} else {
			i = j // keep this LF
		}
		out = append(out, v[:i]...)
		v = v[j:]
		if i = bytes.IndexByte(v, '\n'); i < 0 {
			return append(out, v...)
		}
	}
}
