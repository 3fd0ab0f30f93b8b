package smtpd

import (
	"bytes"
	"io"
	"sync"
)

// normalizeLineEndings turns every bare CR and bare LF of a message into
// CRLF before it is stored or relayed. go-smtp ends DATA only at
// CRLF.CRLF, so "<LF>.<LF>" and its cousins cannot end a message early
// here; normalising means they cannot do so at the next hop either, so
// the box can be neither the victim nor the relay of SMTP smuggling.
// It returns b itself when there is nothing to change.
func normalizeLineEndings(b []byte) []byte {
	// Counting is vectorised; it decides for almost every message that
	// nothing needs to change without looking at bytes one by one.
	cr, lf := bytes.Count(b, []byte{'\r'}), bytes.Count(b, []byte{'\n'})
	if cr == lf && bytes.Count(b, []byte("\r\n")) == cr {
		return b
	}
	out := bytes.NewBuffer(make([]byte, 0, len(b)+len(b)/64+2))
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out.WriteString("\r\n")
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out.WriteString("\r\n")
		default:
			out.WriteByte(c)
		}
	}
	return out.Bytes()
}

// chunkSize is the unit readMessage reads in.
const chunkSize = 64 << 10

var chunks = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// headroom is the room readMessage leaves before the message for the
// fields added at the end of DATA (DKIM-Signature, Authentication-Results),
// so that adding them does not copy the message again (see assemble).
const headroom = 2 << 10

// readMessage returns headroom bytes of room followed by prefix and
// everything r yields, in one slice allocated once at its final size:
// growing a buffer by doubling would zero and copy a large message
// several times over. Every chunk
// is first taken from budget (nil: no bound); the caller gives back the
// bytes it reports as held once the message is done with, also on error.
// When the budget runs out, what the message held is given back, the
// rest of it is read and dropped, and the error is errNoBudget.
func readMessage(r io.Reader, prefix []byte, budget *DataBudget) (msg []byte, held int64, err error) {
	parts := [][]byte{make([]byte, headroom), prefix}
	var chunked []*[chunkSize]byte
	defer func() {
		for _, c := range chunked {
			chunks.Put(c)
		}
	}()
	size := int64(len(prefix))
	for {
		if budget != nil {
			if !budget.take(chunkSize, size+chunkSize) {
				// Give back at once: the messages still being read
				// get what this one held.
				budget.give(held)
				held = 0
				if _, err := io.Copy(io.Discard, r); err != nil {
					return nil, held, err
				}
				return nil, held, errNoBudget
			}
			held += chunkSize
		}
		c := chunks.Get().(*[chunkSize]byte)
		chunked = append(chunked, c)
		n := 0
		for n < chunkSize && err == nil {
			var m int
			m, err = r.Read(c[n:])
			n += m
		}
		size += int64(n)
		parts = append(parts, c[:n])
		// Only io.EOF is the end of the message; go-smtp reports a
		// connection lost in DATA as io.ErrUnexpectedEOF, an error.
		if err == io.EOF {
			return bytes.Join(parts, nil), held, nil
		}
		if err != nil {
			return nil, held, err
		}
	}
}
