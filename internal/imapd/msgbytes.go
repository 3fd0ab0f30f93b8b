package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/emersion/go-message/textproto"

	"boxmail/internal/mailmsg"
)

// This file bounds what the go-message parsers (SEARCH's header and text
// decoding) are given of a message; ENVELOPE, BODYSTRUCTURE and sections
// come from wire, which has the same caps.

// maxParsedHeader bounds how much of a message's header is parsed, for
// ENVELOPE, BODYSTRUCTURE, HEADER.FIELDS, BINARY and SEARCH: go-message
// gives every field its own allocations (and unfolds a folded one whole),
// so a 20 MiB header-only message cost ~320 MB on one FETCH ENVELOPE.
// Fields past the cap are not seen; real headers, long Received and
// DKIM chains included, are a few KiB. BODY[HEADER] and BODY[] are cut
// from the stored bytes and come back whole.
const maxParsedHeader = 128 << 10

// cappedHeader is the header of data (up to its blank line, or all of
// data without one), cut to maxParsedHeader at a line end.
func cappedHeader(data []byte) []byte {
	h := data[:mailmsg.HeaderEnd(data)]
	if len(h) <= maxParsedHeader {
		return h
	}
	return h[:bytes.LastIndexByte(h[:maxParsedHeader], '\n')+1]
}

// messageReader reads a message for go-imap's and go-message's parsers
// with every header block cut to maxParsedHeader at a line end: the
// message's header, and what follows each line starting with "--" (a
// MIME boundary, or so it might be) up to a blank line. A part's header
// costs the same as the message's. The lines past the cap are left out
// up to the blank line that ends the block; no bytes are copied.
func messageReader(data []byte) io.Reader {
	if cut := partLimit(data); cut >= 0 {
		return io.MultiReader(headerCapped(data[:cut]), &defused{b: data[cut:]})
	}
	return headerCapped(data)
}

// headerCapped is messageReader without the part limit.
func headerCapped(data []byte) io.Reader {
	if len(data) <= maxParsedHeader {
		return bytes.NewReader(data)
	}
	var keep []io.Reader
	from, size := 0, 0
	inHeader, dropping := true, false
	for i := 0; i < len(data); {
		end := len(data)
		if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
			end = i + j + 1
		}
		line := data[i:end]
		switch {
		case inHeader && (line[0] == '\n' || (line[0] == '\r' && len(line) > 1 && line[1] == '\n')):
			if dropping {
				from, dropping = i, false // keep the blank line that ends the block
			}
			inHeader = false
		case inHeader:
			if size += len(line); size > maxParsedHeader && !dropping {
				keep = append(keep, bytes.NewReader(data[from:i]))
				dropping = true
			}
		case len(line) >= 2 && line[0] == '-' && line[1] == '-':
			inHeader, size = true, 0
		}
		i = end
	}
	if len(keep) == 0 {
		return bytes.NewReader(data)
	}
	if !dropping {
		keep = append(keep, bytes.NewReader(data[from:]))
	}
	return io.MultiReader(keep...)
}

// maxMIMEParts bounds the lines starting with "--" (MIME boundaries, or
// so they might be) that the parsers see in one message: go-imap's
// BODYSTRUCTURE keeps every part, and a 20 MiB message of two million
// empty parts cost 600 MiB and 12 s of CPU on one FETCH. Past the limit
// the rest of the message is the body of the last part seen, as in
// Dovecot's parser (which stops at 10000 parts too), and no byte is
// copied.
const maxMIMEParts = 10000

// partLimit returns the offset in data of the first line starting with
// "--" past maxMIMEParts of them, or -1 when there are not that many.
func partLimit(data []byte) int {
	n := bytes.Count(data, []byte("\n--"))
	if bytes.HasPrefix(data, []byte("--")) {
		n++
	}
	if n <= maxMIMEParts {
		return -1
	}
	seen := 0
	for i := 0; i+1 < len(data); {
		if data[i] == '-' && data[i+1] == '-' {
			if seen++; seen > maxMIMEParts {
				return i
			}
		}
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return -1
}

// defused reads b with every line that starts with "--" starting with
// two spaces instead, so no MIME boundary is seen in it; sizes and line
// counts stay as they are. b starts at a line start.
type defused struct {
	b   []byte
	off int
}

func (d *defused) Read(p []byte) (int, error) {
	if d.off >= len(d.b) {
		return 0, io.EOF
	}
	n := copy(p, d.b[d.off:])
	for i := range n {
		at := d.off + i
		if (at == 0 || d.b[at-1] == '\n') && at+1 < len(d.b) && d.b[at] == '-' && d.b[at+1] == '-' {
			p[i] = ' '
			if i+1 < n {
				p[i+1] = ' '
			}
		} else if at > 0 && d.b[at-1] == '-' && d.b[at] == '-' && (at == 1 || d.b[at-2] == '\n') {
			p[i] = ' ' // the second dash, when the first ended the last read
		}
	}
	d.off += n
	return n, nil
}

// readHeader parses a message header (at most maxParsedHeader of it),
// tolerating a missing body.
func readHeader(data []byte) textproto.Header {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(cappedHeader(data))))
	return h
}

// cappedStream is messageReader for a message read as a stream (a large
// body read from the store for SEARCH BODY): the same caps, line by line,
// holding one buffer. Its bytes are messageReader's of the same message,
// but for a header line longer than the buffer that crosses
// maxParsedHeader, which is cut where it crosses instead of left out
// whole.
func cappedStream(r io.Reader) io.Reader {
	return &capStream{br: bufio.NewReaderSize(r, 64<<10), lineStart: true, inHeader: true}
}

// capStream is cappedStream's reader.
type capStream struct {
	br        *bufio.Reader
	pending   []byte // what is left to hand out of the last piece read
	lineStart bool   // the next piece starts a line
	inHeader  bool   // in a header block (the message's, or after a "--" line)
	dropping  bool   // past maxParsedHeader in this header block
	size      int    // bytes of this header block
	dashes    int    // lines starting with "--"
	err       error
}

func (c *capStream) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.next()
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// next reads the next line, or piece of a long line, into pending, or
// nothing when it is left out.
func (c *capStream) next() {
	piece, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		err = nil
	}
	c.err = err
	if len(piece) == 0 {
		return
	}
	start := c.lineStart
	c.lineStart = piece[len(piece)-1] == '\n'
	dashes := start && len(piece) >= 2 && piece[0] == '-' && piece[1] == '-'
	if dashes {
		c.dashes++
	}
	if c.dashes > maxMIMEParts {
		// Past the part limit: no more boundaries, no more caps.
		if dashes {
			piece[0], piece[1] = ' ', ' '
		}
		c.pending = piece
		return
	}
	switch {
	case c.inHeader && start && (piece[0] == '\n' || piece[0] == '\r' && len(piece) > 1 && piece[1] == '\n'):
		c.inHeader, c.dropping = false, false // the blank line that ends the block is kept
	case c.inHeader:
		if c.size += len(piece); c.size > maxParsedHeader {
			c.dropping = true
		}
	case dashes:
		c.inHeader, c.size = true, 0
	}
	if !c.dropping {
		c.pending = piece
	}
}
