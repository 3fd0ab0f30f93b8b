package wire

import (
	"bufio"
	"errors"
	"io"
)

// Limits bounds what one command may cost. Zero fields take the
// defaults below.
type Limits struct {
	// MaxLine caps the bytes of one command, literal data excluded.
	MaxLine int
	// MaxLiteral caps one literal other than APPEND's message.
	MaxLiteral int64
	// MaxLiterals caps all literal bytes of one command, APPEND's
	// message data excluded.
	MaxLiterals int64
	// MaxDepth caps nested parentheses (and NOT/OR nesting in SEARCH).
	MaxDepth int
	// MaxArgs caps the items of one command: list elements, search
	// keys, fetch items, flags.
	MaxArgs int
	// MaxDiscard caps the bytes skipped to find the next command after
	// an error; past it the answer is BYE.
	MaxDiscard int64
	// MaxAppendSkip caps the announced size of a refused
	// non-synchronising APPEND literal that is answered at once and
	// read past afterwards (see Reader.Skipping); past it the answer is
	// BYE.
	MaxAppendSkip int64
}

// Default limits.
const (
	DefaultMaxLine     = 64 << 10
	DefaultMaxLiteral  = 64 << 10
	DefaultMaxLiterals = 256 << 10
	DefaultMaxDepth    = 100
	DefaultMaxArgs     = 10000
	DefaultMaxDiscard  = 4 << 20
	// DefaultMaxAppendSkip is a little over a 100 MiB message.
	DefaultMaxAppendSkip = 1 << 30
	// literalMinusMax is the largest non-synchronising literal a
	// LITERAL- server accepts (RFC 7888 3).
	literalMinusMax = 4096
)

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = DefaultMaxLiteral
	}
	if l.MaxLiterals <= 0 {
		l.MaxLiterals = DefaultMaxLiterals
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxArgs <= 0 {
		l.MaxArgs = DefaultMaxArgs
	}
	if l.MaxDiscard <= 0 {
		l.MaxDiscard = DefaultMaxDiscard
	}
	if l.MaxAppendSkip <= 0 {
		l.MaxAppendSkip = DefaultMaxAppendSkip
	}
	return l
}

// Reader reads IMAP commands from a client. It is not safe for
// concurrent use; one connection has one Reader.
type Reader struct {
	br  *bufio.Reader
	lim Limits

	// Continue is called before the data of a synchronising literal is
	// read: it must write a continuation request ("+ ...") and flush it.
	// A nil Continue makes every synchronising literal an error.
	Continue func() error
	// AppendLimit is asked about the announced size of each APPEND
	// message literal before any byte of it is read. A non-nil error
	// refuses the message: an *Error is answered as it is, any other
	// error as NO [TOOBIG]. Nil means MaxLiteral applies.
	AppendLimit func(size int64) error
	// UTF8 is set once the client has enabled UTF8=ACCEPT (RFC 6855):
	// mailbox names are then UTF-8, not modified UTF-7.
	UTF8 bool
	// LiteralMinus makes non-synchronising literals over 4096 bytes an
	// error, for a server that advertises LITERAL- rather than LITERAL+.
	LiteralMinus bool

	tag   string
	line  int   // command bytes read, literal data excluded
	lits  int64 // literal bytes held in memory for this command
	depth int
	args  int
	eol   bool // the line end of the current line has been read
	buf   []byte

	appending *literalReader // APPEND message body handed out, if any
	appendUTF bool           // that body is inside UTF8 ( ... )
	// skip is the data of a refused non-synchronising APPEND literal,
	// read past (with the rest of its line) before the next command so
	// that the refusal can be answered first.
	skip int64
	// refusingAppend is set while an APPEND message literal is checked.
	refusingAppend bool
}

// Skipping reports whether the next read first skips the data of a
// refused APPEND: flush the answer before reading on, as the client
// may never send that data.
func (r *Reader) Skipping() bool { return r.skip > 0 }

// skipRefused reads past a refused APPEND literal and the rest of its
// command line.
func (r *Reader) skipRefused() error {
	n := r.skip
	r.skip = 0
	if _, err := r.br.Discard(int(n)); err != nil {
		return noEOF(err)
	}
	r.eol = false
	if err := r.skipLine(); err != nil {
		return r.bye(err)
	}
	return nil
}

// NewReader returns a Reader over br with the given limits.
func NewReader(br *bufio.Reader, lim Limits) *Reader {
	return &Reader{br: br, lim: lim.withDefaults()}
}

// Limits returns the limits in force (defaults filled in).
func (r *Reader) Limits() Limits { return r.lim }

// next reads one byte of the command line.
func (r *Reader) next() (byte, error) {
	if r.line >= r.lim.MaxLine {
		return 0, errLineTooLong
	}
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, noEOF(err)
	}
	r.line++
	if c == '\n' {
		r.eol = true
	}
	return c, nil
}

// peek looks at the next byte without reading it.
func (r *Reader) peek() (byte, error) {
	b, err := r.br.Peek(1)
	if err != nil {
		return 0, noEOF(err)
	}
	return b[0], nil
}

// noEOF turns an end of input inside a command into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *Reader) expect(c byte) error {
	got, err := r.next()
	if err != nil {
		return err
	}
	if got != c {
		return syntaxError("expected " + quoteByte(c) + ", got " + quoteByte(got))
	}
	return nil
}

func quoteByte(c byte) string {
	switch {
	case c == '\r':
		return "CR"
	case c == '\n':
		return "end of line"
	case c < ' ' || c >= 0x7f:
		return "a control or 8-bit byte"
	}
	return "'" + string(rune(c)) + "'"
}

func (r *Reader) sp() error { return r.expect(' ') }

// crlf reads the end of the command line. A bare LF is accepted.
func (r *Reader) crlf() error {
	c, err := r.next()
	if err != nil {
		return err
	}
	if c == '\r' {
		if c, err = r.next(); err != nil {
			return err
		}
	}
	if c != '\n' {
		return syntaxError("expected end of line, got " + quoteByte(c))
	}
	return nil
}

// maybeSP reads a space if one is next.
func (r *Reader) maybeSP() (bool, error) {
	c, err := r.peek()
	if err != nil || c != ' ' {
		return false, err
	}
	_, err = r.next()
	return true, err
}

// arg counts one argument against MaxArgs.
func (r *Reader) arg() error {
	r.args++
	if r.args > r.lim.MaxArgs {
		return errTooManyArgs
	}
	return nil
}

func (r *Reader) enter() error {
	r.depth++
	if r.depth > r.lim.MaxDepth {
		return errTooDeep
	}
	return nil
}

func (r *Reader) leave() { r.depth-- }

// list reads "(" item *(SP item) ")", calling item for each; empty
// lists are allowed when empty is true.
func (r *Reader) list(empty bool, item func() error) error {
	if err := r.expect('('); err != nil {
		return err
	}
	if err := r.enter(); err != nil {
		return err
	}
	defer r.leave()
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c == ')' {
		if !empty {
			return syntaxError("empty list")
		}
		_, err = r.next()
		return err
	}
	for {
		if err := r.arg(); err != nil {
			return err
		}
		if err := item(); err != nil {
			return err
		}
		c, err := r.next()
		if err != nil {
			return err
		}
		switch c {
		case ')':
			return nil
		case ' ':
		default:
			return syntaxError("expected SP or ')' in list, got " + quoteByte(c))
		}
	}
}

// reset starts a new command.
func (r *Reader) reset() {
	r.tag, r.line, r.lits, r.depth, r.args, r.eol = "", 0, 0, 0, 0, false
}

// fail turns an error met while parsing into what ReadCommand returns,
// skipping to the next command where the input allows it.
func (r *Reader) fail(err error) error {
	tag := r.tag
	if tag == "" {
		tag = "*"
	}
	var se syntaxError
	var le *limitError
	var we *Error
	switch {
	case errors.As(err, &we):
		cp := *we // the caller's value may be shared: never change it
		we = &cp
		if we.Tag == "" || we.Tag == "*" {
			we.Tag = tag
		}
		if we.Kind != BYE && !r.eol && r.skip == 0 {
			if serr := r.skipLine(); serr != nil {
				return r.bye(serr)
			}
		}
		return we
	case errors.As(err, &se):
		if serr := r.skipLine(); serr != nil {
			return r.bye(serr)
		}
		return &Error{Tag: tag, Kind: BAD, Text: string(se)}
	case errors.As(err, &le):
		if le.kind != BYE {
			if serr := r.skipLine(); serr != nil {
				return r.bye(serr)
			}
		}
		return &Error{Tag: tag, Kind: le.kind, Code: le.code, Text: le.text}
	}
	return err // I/O: the connection is gone
}

// bye is the answer when skipping to the next command failed.
func (r *Reader) bye(err error) error {
	var le *limitError
	if errors.As(err, &le) {
		return &Error{Tag: "*", Kind: BYE, Code: le.code, Text: le.text}
	}
	return err
}

var errDiscard = &limitError{BYE, "TOOBIG", "too much input to skip"}

// skipLine discards input up to the end of the current command line,
// stepping over the data of non-synchronising literals announced on it
// ({N+} or {N-}). A synchronising literal ends the line: its data is
// not sent until a continuation request, which never comes.
func (r *Reader) skipLine() error {
	if r.eol {
		return nil
	}
	budget := r.lim.MaxDiscard
	var tail [24]byte
	n := 0
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return noEOF(err)
		}
		if budget--; budget < 0 {
			return errDiscard
		}
		if c != '\n' {
			if n < len(tail) {
				tail[n] = c
				n++
			} else {
				copy(tail[:], tail[1:])
				tail[len(tail)-1] = c
			}
			continue
		}
		r.eol = true
		size, nonSync := literalAtEnd(tail[:n])
		if size < 0 || !nonSync {
			return nil
		}
		if size > budget {
			return errDiscard
		}
		if _, err := r.br.Discard(int(size)); err != nil {
			return noEOF(err)
		}
		budget -= size
		n, r.eol = 0, false
	}
}

// literalAtEnd parses a "{N+}" or "{N-}" or "{N}" (with an optional
// CR after it) at the end of line; size is -1 when there is none.
func literalAtEnd(line []byte) (size int64, nonSync bool) {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) < 3 || line[len(line)-1] != '}' {
		return -1, false
	}
	line = line[:len(line)-1]
	if c := line[len(line)-1]; c == '+' || c == '-' {
		nonSync = true
		line = line[:len(line)-1]
	}
	i := len(line)
	for i > 0 && line[i-1] >= '0' && line[i-1] <= '9' {
		i--
	}
	if i == 0 || i == len(line) || line[i-1] != '{' || len(line)-i > 18 {
		if i > 0 && line[i-1] == '{' && len(line)-i > 18 {
			return 1 << 62, nonSync // absurd: cannot be skipped
		}
		return -1, false
	}
	for _, c := range line[i:] {
		size = size*10 + int64(c-'0')
	}
	return size, nonSync
}
