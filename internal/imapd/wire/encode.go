package wire

import (
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Encoder writes IMAP responses. Its methods chain; the first write
// error sticks and is returned by CRLF, Flush and Err.
type Encoder struct {
	w *BufWriter
	// UTF8 is set once the client enabled UTF8=ACCEPT: strings with
	// UTF-8 are then quoted rather than sent as literals, and mailbox
	// names are not modified-UTF-7 encoded (RFC 6855 3).
	UTF8 bool
	// IMAP4rev2 is set once the client enabled IMAP4rev2; it does not
	// change encoding today and is here for the server's convenience.
	IMAP4rev2 bool

	err   error
	num   [32]byte
	first bool     // the next FETCH item is the first of its list
	line  [96]byte // scratch space for Line
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w *BufWriter) *Encoder { return &Encoder{w: w} }

// Err is the first write error.
func (e *Encoder) Err() error { return e.err }

// Flush flushes the underlying writer.
func (e *Encoder) Flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// Raw writes s as it is.
func (e *Encoder) Raw(s string) *Encoder {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
	return e
}

func (e *Encoder) byte(c byte) *Encoder {
	if e.err == nil {
		e.err = e.w.WriteByte(c)
	}
	return e
}

func (e *Encoder) bytes(b []byte) *Encoder {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
	return e
}

// Line returns an empty slice over the encoder's own scratch space, for a
// caller that builds a whole response line with append and writes it
// with Bytes: one copy per line rather than one call per token (FETCH
// 1:* (FLAGS) of 100,000 messages). The slice is valid until the next
// call of Line.
func (e *Encoder) Line() []byte { return e.line[:0] }

// Bytes writes b unchanged.
func (e *Encoder) Bytes(b []byte) *Encoder { return e.bytes(b) }

// SP writes a space.
func (e *Encoder) SP() *Encoder { return e.byte(' ') }

// Open writes "(", Close ")".
func (e *Encoder) Open() *Encoder  { return e.byte('(') }
func (e *Encoder) Close() *Encoder { return e.byte(')') }

// Atom writes s unchanged; the caller knows it is an atom (or a flag,
// or a response keyword).
func (e *Encoder) Atom(s string) *Encoder { return e.Raw(s) }

// NIL writes NIL.
func (e *Encoder) NIL() *Encoder { return e.Raw("NIL") }

// Number writes n.
func (e *Encoder) Number(n uint32) *Encoder {
	if e.err == nil {
		e.err = e.w.WriteUint(uint64(n))
	}
	return e
}

// Number64 writes n.
func (e *Encoder) Number64(n uint64) *Encoder {
	if e.err == nil {
		e.err = e.w.WriteUint(n)
	}
	return e
}

// CRLF ends a response line.
func (e *Encoder) CRLF() error {
	e.Raw("\r\n")
	return e.err
}

// stringForm is how a string can be written.
type stringForm int

const (
	formAtom stringForm = iota
	formQuoted
	formLiteral
)

func (e *Encoder) form(s string) stringForm {
	if s == "" {
		return formQuoted
	}
	f := formAtom
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n' || c == 0:
			return formLiteral
		case c >= 0x80:
			if !e.UTF8 {
				return formLiteral
			}
			f = formQuoted
		case c == '"' || c == '\\':
			f = formQuoted
		case !isAStringChar(c):
			f = formQuoted
		}
	}
	if f == formQuoted && e.UTF8 && !utf8.ValidString(s) {
		return formLiteral // a quoted string must be UTF-8 (RFC 6855 3)
	}
	if f == formAtom && strings.EqualFold(s, "NIL") {
		return formQuoted
	}
	return f
}

// String writes s as a quoted string, or a literal when it holds a CR,
// LF, NUL or (without UTF8=ACCEPT) an 8-bit byte.
func (e *Encoder) String(s string) *Encoder {
	if e.form(s) == formLiteral {
		return e.literalString(s)
	}
	return e.quoted(s)
}

// AString writes s as an atom when it is one, else as String does.
func (e *Encoder) AString(s string) *Encoder {
	switch e.form(s) {
	case formAtom:
		return e.Raw(s)
	case formLiteral:
		return e.literalString(s)
	}
	return e.quoted(s)
}

// NString writes NIL for an empty s, else String(s).
func (e *Encoder) NString(s string) *Encoder {
	if s == "" {
		return e.NIL()
	}
	return e.String(s)
}

func (e *Encoder) quoted(s string) *Encoder {
	e.byte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			e.Raw(s[start:i]).byte('\\')
			start = i
		}
	}
	return e.Raw(s[start:]).byte('"')
}

func (e *Encoder) literalString(s string) *Encoder {
	e.byte('{').Number64(uint64(len(s))).Raw("}\r\n")
	return e.Raw(s)
}

// Literal writes a literal of size bytes read from r (streamed, never
// held whole); it fails if r has fewer bytes. Literal8 writes ~{n}.
func (e *Encoder) Literal(size int64, r io.Reader) *Encoder {
	return e.literal(false, size, r)
}

// Literal8 writes a literal8 (RFC 3516) of size bytes from r.
func (e *Encoder) Literal8(size int64, r io.Reader) *Encoder {
	return e.literal(true, size, r)
}

func (e *Encoder) literal(binary bool, size int64, r io.Reader) *Encoder {
	if binary {
		e.byte('~')
	}
	e.byte('{').Number64(uint64(size)).Raw("}\r\n")
	if e.err != nil {
		return e
	}
	n, err := io.CopyN(e.w, r, size)
	if err != nil && n < size {
		e.err = err
	}
	return e
}

// Mailbox writes a mailbox name: modified UTF-7 unless UTF8, as an
// astring.
func (e *Encoder) Mailbox(name string) *Encoder {
	return e.AString(EncodeMailbox(name, e.UTF8))
}

// Flags writes a parenthesised flag list; flags are atoms.
func (e *Encoder) Flags(flags []string) *Encoder {
	e.byte('(')
	for i, f := range flags {
		if i > 0 {
			e.byte(' ')
		}
		e.Raw(f)
	}
	return e.byte(')')
}

// SeqSet writes a sequence set.
func (e *Encoder) SeqSet(s SeqSet) *Encoder {
	if e.err != nil {
		return e
	}
	if len(s.Ranges) == 1 && !s.Saved {
		r := s.Ranges[0]
		e.seqNum(r.Start)
		if r.Stop != r.Start {
			e.byte(':').seqNum(r.Stop)
		}
		return e
	}
	return e.bytes(s.AppendTo(nil))
}

func (e *Encoder) seqNum(n uint32) *Encoder {
	if n == 0 {
		return e.byte('*')
	}
	return e.Number(n)
}

// DateTime writes a quoted date-time (INTERNALDATE).
func (e *Encoder) DateTime(t time.Time) *Encoder {
	e.byte('"')
	e.bytes(t.AppendFormat(e.num[:0], DateTimeLayout))
	return e.byte('"')
}

// appendAString appends s as an atom if it is one, else quoted (for
// names the encoder writes inside other syntax, like section fields).
func appendAString(b []byte, s string) []byte {
	atom := s != ""
	for i := 0; i < len(s); i++ {
		if !isAStringChar(s[i]) {
			atom = false
			break
		}
	}
	if atom {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
