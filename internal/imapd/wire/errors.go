package wire

import "fmt"

// Kind is how a client is answered for an Error.
type Kind int

const (
	// BAD: a tagged BAD; the connection goes on with the next line.
	BAD Kind = iota
	// NO: a tagged NO carrying Code; the connection goes on.
	NO
	// BYE: an untagged BYE, then the connection is closed: the rest of
	// the input cannot be resynchronised to a command boundary.
	BYE
)

func (k Kind) String() string {
	switch k {
	case BAD:
		return "BAD"
	case NO:
		return "NO"
	}
	return "BYE"
}

// Error is a command the Reader refused. The reader has consumed the
// rest of the offending line (and any non-synchronising literal on it)
// unless Kind is BYE.
type Error struct {
	Tag  string // the command's tag, or "*" when none was read
	Kind Kind
	Code string // response code without brackets (TOOBIG, LIMIT, ...), or ""
	Text string // human-readable text for the answer
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s %s [%s] %s", e.Tag, e.Kind, e.Code, e.Text)
	}
	return fmt.Sprintf("%s %s %s", e.Tag, e.Kind, e.Text)
}

// Answer writes the response a client gets for e.
func (e *Error) Answer(enc *Encoder) error {
	tag := e.Tag
	if e.Kind == BYE || tag == "" {
		tag = "*"
	}
	return enc.Status(tag, e.Kind.String(), e.Code, e.Text)
}

// syntaxError is a BAD for malformed input; the reader resynchronises.
type syntaxError string

func (s syntaxError) Error() string { return string(s) }

// limitError is a limit hit in the middle of a line.
type limitError struct {
	kind Kind
	code string
	text string
}

func (l *limitError) Error() string { return l.text }

var (
	errLineTooLong = &limitError{BAD, "TOOBIG", "command line too long"}
	errTooDeep     = &limitError{BAD, "LIMIT", "too many nested parentheses"}
	errTooManyArgs = &limitError{BAD, "LIMIT", "too many arguments"}
)
