package wire

import (
	"errors"
	"strings"
)

// ReadLine reads one line that is not a command: a SASL response
// after an AUTHENTICATE continuation (RFC 9051 6.2.2; "*" cancels), or
// the DONE that ends IDLE (RFC 2177). The line end is not returned.
// A line over MaxLine is an *Error (BAD [TOOBIG], or BYE when the rest
// cannot be skipped).
func (r *Reader) ReadLine() (string, error) {
	if r.appending != nil {
		return "", errors.New("wire: ReadLine during an APPEND")
	}
	if r.skip > 0 {
		if err := r.skipRefused(); err != nil {
			return "", err
		}
	}
	r.reset()
	r.tag = "*"
	r.buf = r.buf[:0]
	for {
		c, err := r.next()
		if err != nil {
			return "", r.fail(err)
		}
		if c == '\n' {
			return strings.TrimSuffix(string(r.buf), "\r"), nil
		}
		r.buf = append(r.buf, c)
	}
}

// IsDone reports whether a line read by ReadLine during IDLE ends it.
func IsDone(line string) bool { return strings.EqualFold(line, "DONE") }
