package sieve

import (
	"fmt"
	"strings"
)

// Error is a script that does not parse or validate, or fails at run time,
// with the position of the offending token (1-based; 0 when unknown).
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d:%d: %s", e.Line, e.Col, e.Msg)
}

// Pos is a position in a script.
type Pos struct{ Line, Col int }

func errorf(p Pos, format string, a ...any) *Error {
	return &Error{Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, a...)}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tPunct // one of [ ] ( ) , ; { }
)

type token struct {
	kind tokKind
	s    string // identifier/tag name (lower case), string value, punctuation
	n    uint64
	pos  Pos
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of script"
	case tIdent:
		return "identifier " + t.s
	case tTag:
		return "tag :" + t.s
	case tNumber:
		return fmt.Sprintf("number %d", t.n)
	case tString:
		return "string"
	}
	return fmt.Sprintf("%q", t.s)
}

// lexer splits a script into tokens (RFC 5228 section 8.1).
type lexer struct {
	src       string
	i         int
	line, col int
}

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

func (l *lexer) adv(n int) {
	for k := 0; k < n && l.i < len(l.src); k++ {
		if l.src[l.i] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.i++
	}
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

const maxNumber = 1<<63 - 1

func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.i >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.i]
	switch {
	case strings.IndexByte("[](),;{}", c) >= 0:
		l.adv(1)
		return token{kind: tPunct, s: string(c), pos: p}, nil
	case c == ':':
		l.adv(1)
		if l.i >= len(l.src) || !isIdentStart(l.src[l.i]) {
			return token{}, errorf(p, "a tag needs a name after ':'")
		}
		s := l.i
		for l.i < len(l.src) && isIdentChar(l.src[l.i]) {
			l.adv(1)
		}
		return token{kind: tTag, s: strings.ToLower(l.src[s:l.i]), pos: p}, nil
	case c >= '0' && c <= '9':
		return l.number(p)
	case c == '"':
		return l.quoted(p)
	case isIdentStart(c):
		s := l.i
		for l.i < len(l.src) && isIdentChar(l.src[l.i]) {
			l.adv(1)
		}
		id := strings.ToLower(l.src[s:l.i])
		if id == "text" && l.i < len(l.src) && l.src[l.i] == ':' {
			l.adv(1)
			return l.multiline(p)
		}
		return token{kind: tIdent, s: id, pos: p}, nil
	}
	return token{}, errorf(p, "unexpected character %q", c)
}

// skipSpace skips whitespace and comments up to the next token.
func (l *lexer) skipSpace() error {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.adv(1)
		case c == '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.adv(1)
			}
		case strings.HasPrefix(l.src[l.i:], "/*"):
			p := l.pos()
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				return errorf(p, "unterminated comment")
			}
			l.adv(end + 4)
		default:
			return nil
		}
	}
	return nil
}

// number reads a number with an optional K, M or G quantifier.
func (l *lexer) number(p Pos) (token, error) {
	var n uint64
	for l.i < len(l.src) && l.src[l.i] >= '0' && l.src[l.i] <= '9' {
		n = n*10 + uint64(l.src[l.i]-'0')
		if n > maxNumber {
			return token{}, errorf(p, "number too large")
		}
		l.adv(1)
	}
	if l.i < len(l.src) {
		mul := uint64(1)
		switch l.src[l.i] {
		case 'K', 'k':
			mul = 1 << 10
		case 'M', 'm':
			mul = 1 << 20
		case 'G', 'g':
			mul = 1 << 30
		}
		if mul > 1 {
			if n > maxNumber/mul {
				return token{}, errorf(p, "number too large")
			}
			n *= mul
			l.adv(1)
		}
	}
	if l.i < len(l.src) && isIdentStart(l.src[l.i]) {
		return token{}, errorf(l.pos(), "unexpected %q after a number", l.src[l.i])
	}
	return token{kind: tNumber, n: n, pos: p}, nil
}

// quoted reads a quoted string, the opening quote at l.i.
func (l *lexer) quoted(p Pos) (token, error) {
	l.adv(1)
	var b strings.Builder
	for {
		if l.i >= len(l.src) {
			return token{}, errorf(p, "unterminated string")
		}
		c := l.src[l.i]
		if c == '"' {
			l.adv(1)
			return token{kind: tString, s: b.String(), pos: p}, nil
		}
		if c == '\\' && l.i+1 < len(l.src) {
			l.adv(1)
			c = l.src[l.i]
		}
		b.WriteByte(c)
		l.adv(1)
	}
}

// multiline reads the rest of a "text:" string: to the end of the line
// (only whitespace or a comment allowed), then lines up to a lone ".",
// with a leading ".." unstuffed.
func (l *lexer) multiline(p Pos) (token, error) {
	for l.i < len(l.src) && (l.src[l.i] == ' ' || l.src[l.i] == '\t') {
		l.adv(1)
	}
	if l.i < len(l.src) && l.src[l.i] == '#' {
		for l.i < len(l.src) && l.src[l.i] != '\n' {
			l.adv(1)
		}
	}
	if l.i < len(l.src) && l.src[l.i] == '\r' {
		l.adv(1)
	}
	if l.i >= len(l.src) || l.src[l.i] != '\n' {
		return token{}, errorf(l.pos(), "text: must be followed by the end of the line")
	}
	l.adv(1)
	var b strings.Builder
	for {
		if l.i >= len(l.src) {
			return token{}, errorf(p, "unterminated text: string (a line with a single '.' ends it)")
		}
		end := strings.IndexByte(l.src[l.i:], '\n')
		var line string
		if end < 0 {
			line = l.src[l.i:]
			end = len(line)
		} else {
			line = l.src[l.i : l.i+end+1]
			end++
		}
		trimmed := strings.TrimRight(line, "\r\n")
		l.adv(end)
		if trimmed == "." {
			return token{kind: tString, s: b.String(), pos: p}, nil
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		b.WriteString(line)
	}
}
