package imapd

// The text that SEARCH BODY and TEXT look in (RFC 9051 6.4.4: "contains
// the specified string in the body of the message"): the message's text
// parts with their transfer encoding undone, lower-cased, searched as a
// substring. A message kept in its row is searched in memory
// (decodedText); a large one, whose body is a file or a shared blob
// (store.BodyStream), is read from the store as a stream and matched as
// it is read (scanStreamed): a 40 MiB message costs a buffer, not its
// size, and a text split across two reads is still found. Both walk the
// message the same way (walkText), through the same caps (messageReader,
// cappedStream), and lower-case it the same way, so a message matches
// the same whether it is read whole or streamed.

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// maxSearchedPart bounds the decoded bytes of one part that are searched.
const maxSearchedPart = 16 << 20

// walkText reads a message from r and writes its text to out: each part
// of type text/* or message/*, or without a type, its transfer encoding
// undone, at most maxSearchedPart of it, followed by a line end. It
// reports false, having written nothing, when the message's header
// cannot be parsed. A part that cannot be read ends its text there; an
// error of out ends the walk and is returned.
func walkText(r io.Reader, out io.Writer) (bool, error) {
	e, _ := message.Read(r) // an unknown charset or encoding: e is still usable
	if e == nil {
		return false, nil
	}
	w := &errWriter{w: out}
	// A part that cannot be read ends the walk: the text read so far is
	// searched, as for a message whose structure cannot be read at all.
	_ = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil || part.MultipartReader() != nil {
			return nil
		}
		t, _, _ := part.Header.ContentType()
		if t == "" || strings.HasPrefix(t, "text/") || strings.HasPrefix(t, "message/") {
			_, _ = io.Copy(w, io.LimitReader(part.Body, maxSearchedPart)) // a read error ends the part
			_, _ = w.Write([]byte{'\n'})
		}
		return w.err
	})
	return true, w.err
}

// errWriter remembers the first error of w and writes nothing after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// decodedText returns the message's text parts with transfer encodings
// decoded; if the MIME structure cannot be read, the raw body.
func decodedText(data []byte) string {
	var sb strings.Builder
	if ok, _ := walkText(messageReader(data), &sb); !ok {
		return string(data[mailmsg.HeaderEnd(data):])
	}
	return sb.String()
}

// scanStreamed reads the text of m, a message of the body store, from
// the store as a stream and reports which of needles (lower case) it
// holds: the text is scanned once for all of them.
func (c *conn) scanStreamed(m *store.LoadedMessage, needles []string) (map[string]bool, error) {
	ctx, cancel := c.opCtx()
	defer cancel()
	body, _, err := c.srv.opts.Store.OpenBody(ctx, m.BodyID)
	if err != nil {
		return nil, err
	}
	defer func() { _ = body.Close() }() // only read
	mt := newTextMatcher(needles)
	if err := streamText(body, mt); err != nil && err != errAllFound {
		return nil, err
	}
	return mt.result(), nil
}

// streamText writes the text of the message read from body to out, as
// decodedText has it of the same bytes, reading it as a stream.
func streamText(body io.ReadSeeker, out io.Writer) error {
	src := &mailmsg.Source{R: body}
	ok, err := walkText(cappedStream(src), out)
	if src.Err != nil {
		return src.Err // the store, not the message: do not answer as if it had no match
	}
	if ok || err != nil {
		return err
	}
	// Its header does not parse: the raw body after it.
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var f mailmsg.EndFinder
	buf := make([]byte, 32<<10)
	inBody := false
	for {
		n, err := body.Read(buf)
		p := buf[:n]
		if !inBody {
			if i := f.Feed(p); i >= 0 {
				p, inBody = p[i:], true
			}
		}
		if inBody && len(p) > 0 {
			if _, werr := out.Write(p); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// errAllFound ends a scan that has found every needle.
var errAllFound = errors.New("imapd: every text found")

// textMatcher is an io.Writer that looks for needles (lower case) in the
// text written to it, lower-casing it as strings.ToLower does the whole
// text: a rune split between two writes is held back until the next
// completes it, and the last bytes of a write are kept to be searched
// with the next, so that a needle split between writes is found. It
// holds the longest needle and one write.
type textMatcher struct {
	needles [][]byte
	found   []bool
	left    int
	keep    int    // bytes of lower-cased text kept: the longest needle's less one
	win     []byte // the text kept, then the text of a write
	carry   []byte // the start of a rune that the next write completes
}

func newTextMatcher(needles []string) *textMatcher {
	m := &textMatcher{found: make([]bool, len(needles))}
	for i, n := range needles {
		m.needles = append(m.needles, []byte(n))
		if n == "" {
			m.found[i] = true // strings.Contains(x, "")
			continue
		}
		m.left++
		m.keep = max(m.keep, len(n)-1)
	}
	return m
}

func (m *textMatcher) Write(p []byte) (int, error) {
	n := len(p)
	if m.left == 0 {
		return 0, errAllFound
	}
	if len(m.carry) > 0 {
		p = append(m.carry, p...)
		m.carry = nil
	}
	// Hold back the last rune when it is not whole: the next write may
	// complete it (utf8.FullRune says an invalid start is whole already).
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	if cut < len(p) {
		m.carry = append([]byte(nil), p[cut:]...)
	}
	m.scan(bytes.ToLower(p[:cut]))
	if m.left == 0 {
		return n, errAllFound
	}
	return n, nil
}

// scan searches the kept text followed by t.
func (m *textMatcher) scan(t []byte) {
	m.win = append(m.win, t...)
	for i, nd := range m.needles {
		if !m.found[i] && bytes.Contains(m.win, nd) {
			m.found[i] = true
			m.left--
		}
	}
	if len(m.win) > m.keep {
		m.win = m.win[:copy(m.win, m.win[len(m.win)-m.keep:])]
	}
}

// result ends the text (a rune held back is searched as it is) and
// returns which needles it holds.
func (m *textMatcher) result() map[string]bool {
	if len(m.carry) > 0 {
		m.scan(bytes.ToLower(m.carry))
		m.carry = nil
	}
	out := make(map[string]bool, len(m.needles))
	for i, nd := range m.needles {
		out[string(nd)] = m.found[i]
	}
	return out
}
