package wire

import (
	"io"
	"strings"
)

// isAtomChar reports whether c is an ATOM-CHAR (RFC 9051 9): any CHAR
// but atom-specials.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x1f && c < 0x7f
}

// isAStringChar is ATOM-CHAR or resp-specials.
func isAStringChar(c byte) bool { return c == ']' || isAtomChar(c) }

// isListChar is what an unquoted LIST pattern may hold.
func isListChar(c byte) bool { return c == '%' || c == '*' || isAStringChar(c) }

// isTagChar is ASTRING-CHAR but "+".
func isTagChar(c byte) bool { return c != '+' && isAStringChar(c) }

// isFetchAttChar is what the name of a fetch attribute is made of, up
// to a "[" or "<".
func isFetchAttChar(c byte) bool {
	return c == '.' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// word reads 1* bytes matching ok.
func (r *Reader) word(ok func(byte) bool, what string) (string, error) {
	r.buf = r.buf[:0]
	for {
		c, err := r.peek()
		if err != nil {
			return "", err
		}
		if !ok(c) {
			break
		}
		if _, err := r.next(); err != nil {
			return "", err
		}
		r.buf = append(r.buf, c)
	}
	if len(r.buf) == 0 {
		c, err := r.peek()
		if err != nil {
			return "", err
		}
		return "", syntaxError("expected " + what + ", got " + quoteByte(c))
	}
	return string(r.buf), nil
}

// atom reads an atom.
func (r *Reader) atom() (string, error) { return r.word(isAtomChar, "an atom") }

// keyword reads an atom and returns it in upper case.
func (r *Reader) keyword() (string, error) {
	s, err := r.atom()
	return strings.ToUpper(s), err
}

// quoted reads a quoted string; the opening quote is next.
func (r *Reader) quoted() (string, error) {
	if err := r.expect('"'); err != nil {
		return "", err
	}
	r.buf = r.buf[:0]
	for {
		c, err := r.next()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			return string(r.buf), nil
		case '\\':
			if c, err = r.next(); err != nil {
				return "", err
			}
			if c != '"' && c != '\\' {
				return "", syntaxError("bad escape in quoted string")
			}
		case '\r', '\n', 0:
			return "", syntaxError("CR, LF or NUL in quoted string")
		}
		r.buf = append(r.buf, c)
	}
}

// literalHeader reads "{N}", "{N+}", "{N-}" or "~{N...}" and the line
// end after it.
func (r *Reader) literalHeader() (size int64, sync, binary bool, err error) {
	c, err := r.next()
	if err != nil {
		return 0, false, false, err
	}
	if c == '~' {
		binary = true
		if c, err = r.next(); err != nil {
			return 0, false, false, err
		}
	}
	if c != '{' {
		return 0, false, false, syntaxError("expected a literal")
	}
	digits := 0
	sync = true
	for {
		if c, err = r.next(); err != nil {
			return 0, false, false, err
		}
		if c >= '0' && c <= '9' {
			if digits++; digits > 18 {
				return 0, false, false, syntaxError("literal size too large")
			}
			size = size*10 + int64(c-'0')
			continue
		}
		break
	}
	if digits == 0 {
		return 0, false, false, syntaxError("literal without a size")
	}
	if c == '+' || c == '-' {
		sync = false
		if c, err = r.next(); err != nil {
			return 0, false, false, err
		}
	}
	if c != '}' {
		return 0, false, false, syntaxError("bad literal announcement")
	}
	if err = r.crlf(); err != nil {
		return 0, false, false, err
	}
	return size, sync, binary, nil
}

// refuseLiteral answers a literal the reader will not take: a
// synchronising one is refused before the client sends it, so the next
// line is a new command; a non-synchronising one is skipped when it is
// small enough to, or ends the connection.
func (r *Reader) refuseLiteral(size int64, sync bool, e *Error) error {
	if sync {
		return e // the line ended with the announcement
	}
	if r.refusingAppend && size <= r.lim.MaxAppendSkip {
		r.skip, r.eol = size, false // answered first, read past later
		return e
	}
	if size > r.lim.MaxDiscard {
		return &Error{Tag: "*", Kind: BYE, Code: e.Code, Text: e.Text}
	}
	if _, err := r.br.Discard(int(size)); err != nil {
		return noEOF(err)
	}
	r.eol = false
	return e
}

// startLiteral checks a literal announcement against limit and asks
// for the data.
func (r *Reader) startLiteral(size int64, sync bool, limit func(int64) *Error) error {
	if !sync && r.LiteralMinus && size > literalMinusMax {
		return r.refuseLiteral(size, sync, &Error{Kind: BAD, Code: "TOOBIG", Text: "non-synchronising literal over 4096 bytes"})
	}
	if e := limit(size); e != nil {
		return r.refuseLiteral(size, sync, e)
	}
	if sync {
		if r.Continue == nil {
			return &Error{Kind: BAD, Text: "literals are not accepted here"}
		}
		if err := r.Continue(); err != nil {
			return err
		}
	}
	r.eol = false
	return nil
}

// literal reads a literal (or literal8 when binary8 is true) into
// memory, within MaxLiteral and MaxLiterals.
func (r *Reader) literal(binary8 bool) ([]byte, error) {
	size, sync, binary, err := r.literalHeader()
	if err != nil {
		return nil, err
	}
	if binary && !binary8 {
		return nil, syntaxError("literal8 not allowed here")
	}
	err = r.startLiteral(size, sync, func(n int64) *Error {
		if n > r.lim.MaxLiteral || r.lits+n > r.lim.MaxLiterals {
			return &Error{Kind: BAD, Code: "TOOBIG", Text: "literal too large"}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.lits += size
	b := make([]byte, size)
	if _, err := io.ReadFull(r.br, b); err != nil {
		return nil, noEOF(err)
	}
	if !binary {
		for _, c := range b {
			if c == 0 {
				return nil, syntaxError("NUL in literal")
			}
		}
	}
	return b, nil
}

// astring reads an atom (with "]"), a quoted string or a literal.
func (r *Reader) astring() (string, error) {
	c, err := r.peek()
	if err != nil {
		return "", err
	}
	switch c {
	case '"':
		return r.quoted()
	case '{':
		b, err := r.literal(false)
		return string(b), err
	}
	return r.word(isAStringChar, "a string")
}

// str reads a quoted string or a literal.
func (r *Reader) str() (string, error) {
	c, err := r.peek()
	if err != nil {
		return "", err
	}
	switch c {
	case '"':
		return r.quoted()
	case '{':
		b, err := r.literal(false)
		return string(b), err
	}
	return "", syntaxError("expected a string")
}

// nstring reads NIL or a string; ok is false for NIL.
func (r *Reader) nstring() (s string, ok bool, err error) {
	c, err := r.peek()
	if err != nil {
		return "", false, err
	}
	if c == 'N' || c == 'n' {
		a, err := r.keyword()
		if err != nil {
			return "", false, err
		}
		if a != "NIL" {
			return "", false, syntaxError("expected NIL or a string")
		}
		return "", false, nil
	}
	s, err = r.str()
	return s, err == nil, err
}

// number reads a number (RFC 9051 number64 when max allows it).
func (r *Reader) number(max uint64) (uint64, error) {
	var n uint64
	digits := 0
	for {
		c, err := r.peek()
		if err != nil {
			return 0, err
		}
		if c < '0' || c > '9' {
			break
		}
		if _, err := r.next(); err != nil {
			return 0, err
		}
		digits++
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, syntaxError("number out of range")
		}
		n = n*10 + d
	}
	if digits == 0 {
		return 0, syntaxError("expected a number")
	}
	return n, nil
}

const (
	maxUint32 = 1<<32 - 1
	maxInt63  = 1<<63 - 1
)

func (r *Reader) nzNumber() (uint32, error) {
	n, err := r.number(maxUint32)
	if err == nil && n == 0 {
		err = syntaxError("expected a non-zero number")
	}
	return uint32(n), err
}
