package wire

import (
	"errors"
	"io"
	"time"
)

// Append is APPEND mailbox message (RFC 9051 6.3.12; MULTIAPPEND RFC
// 3502 through NextAppend).
type Append struct {
	Mailbox string
	Message *AppendMessage
}

// AppendMessage is one message of an APPEND.
type AppendMessage struct {
	Flags []string // nil when no flag list was given
	Date  time.Time
	// HasDate tells whether a date-time was given.
	HasDate bool
	// Binary is set for a literal8 (RFC 3516), UTF8 for UTF8 (~{...})
	// (RFC 6855 4).
	Binary, UTF8 bool
	// Size is the announced size of the message; Body yields exactly
	// that many bytes, read straight from the connection.
	Size int64
	Body io.Reader
}

// DateTimeLayout is the IMAP date-time (RFC 9051 9), without quotes.
const DateTimeLayout = "_2-Jan-2006 15:04:05 -0700"

func parseAppend(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	msg, err := r.appendMessage()
	if err != nil {
		return nil, err
	}
	return &Append{Mailbox: m, Message: msg}, nil
}

// appendMessage reads [flag-list SP] [date-time SP] append-data and
// hands out the message literal without reading it.
func (r *Reader) appendMessage() (*AppendMessage, error) {
	m := &AppendMessage{}
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c == '(' {
		if m.Flags, err = r.flagList(); err != nil {
			return nil, err
		}
		if err = r.sp(); err != nil {
			return nil, err
		}
		if c, err = r.peek(); err != nil {
			return nil, err
		}
	}
	if c == '"' {
		if m.Date, err = r.dateTime(); err != nil {
			return nil, err
		}
		m.HasDate = true
		if err = r.sp(); err != nil {
			return nil, err
		}
		if c, err = r.peek(); err != nil {
			return nil, err
		}
	}
	if c == 'U' || c == 'u' {
		k, err := r.keyword()
		if err != nil {
			return nil, err
		}
		if k != "UTF8" {
			return nil, syntaxError("expected a literal")
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
		if err := r.expect('('); err != nil {
			return nil, err
		}
		m.UTF8 = true
	}
	if err := r.appendData(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (r *Reader) appendData(m *AppendMessage) error {
	size, sync, binary, err := r.literalHeader()
	if err != nil {
		return err
	}
	if m.UTF8 && !binary {
		return syntaxError("UTF8 needs a literal8")
	}
	m.Binary, m.Size = binary, size
	r.refusingAppend = true
	defer func() { r.refusingAppend = false }()
	err = r.startLiteral(size, sync, func(n int64) *Error {
		if r.AppendLimit == nil {
			if n > r.lim.MaxLiteral {
				return &Error{Kind: NO, Code: "TOOBIG", Text: "message too large"}
			}
			return nil
		}
		if err := r.AppendLimit(n); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return e
			}
			return &Error{Kind: NO, Code: "TOOBIG", Text: "message too large"}
		}
		return nil
	})
	if err != nil {
		return err
	}
	lr := &literalReader{r: r, left: size}
	r.appending, r.appendUTF = lr, m.UTF8
	m.Body = lr
	return nil
}

// dateTime reads a quoted date-time.
func (r *Reader) dateTime() (time.Time, error) {
	s, err := r.quoted()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(DateTimeLayout, s)
	if err != nil || len(s) != len(DateTimeLayout) {
		return time.Time{}, syntaxError("bad date-time")
	}
	return t, nil
}

// NextAppend is called once the current APPEND message's Body has been
// read: it returns the next message of a MULTIAPPEND, or nil when the
// command ended. Errors are as for ReadCommand.
func (r *Reader) NextAppend() (*AppendMessage, error) {
	lr := r.appending
	if lr == nil {
		return nil, errors.New("wire: NextAppend without an APPEND")
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return nil, err
	}
	r.appending = nil
	m, err := r.appendRest()
	if err != nil {
		return nil, r.fail(err)
	}
	return m, nil
}

func (r *Reader) appendRest() (*AppendMessage, error) {
	if r.appendUTF {
		if err := r.expect(')'); err != nil {
			return nil, err
		}
	}
	ok, err := r.maybeSP()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, r.crlf()
	}
	if err := r.arg(); err != nil {
		return nil, err
	}
	return r.appendMessage()
}

// AbortAppend gives up the APPEND in progress: the rest of the current
// message is read and dropped, and so is the rest of the command line
// (further MULTIAPPEND messages announced with a synchronising literal
// are never asked for). The caller answers the command NO.
func (r *Reader) AbortAppend() error {
	lr := r.appending
	if lr == nil {
		return nil
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return err
	}
	r.appending = nil
	if err := r.skipLine(); err != nil {
		return r.bye(err)
	}
	return nil
}

// literalReader streams a literal's data from the connection.
type literalReader struct {
	r    *Reader
	left int64
}

func (l *literalReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.br.Read(p)
	l.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
