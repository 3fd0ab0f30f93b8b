package migrate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"

	"boxmail/internal/mailmsg"
)

// Large messages are streamed from the old side into the box's file area
// (store.BodyWriter) without being held whole; what the import needs to
// know of their content is computed on the way by identityWriter.

// maxStreamHeader bounds the header identityWriter keeps. A message whose
// header section runs beyond it without a blank line gets an identity
// that differs from Identity's (which would take all of it for header):
// at worst such a message is copied a second time, never lost.
const maxStreamHeader = 1 << 20

// identityWriter computes, for the message written to it, what Identity
// and addedFieldIdentities compute from the whole message, and its
// SHA-256, holding only the header section.
type identityWriter struct {
	sum    hash.Hash
	hdr    []byte
	inBody bool
	// One body hash per identity variant: all fields, without
	// Message-ID, without Date (identityOf's skip).
	h       [3]hash.Hash
	cr      bool   // a CR of the body waits to see whether LF follows
	trail   []byte // a run of LF, space and tab that may turn out to be trailing
	hasBoth bool   // the header has a Message-ID and a Date
	hasOne  bool   // it has exactly one of them

	find mailmsg.EndFinder // where the header ends
}

var identitySkips = [3]string{"", "message-id", "date"}

func newIdentityWriter() *identityWriter {
	return &identityWriter{sum: sha256.New()}
}

func (w *identityWriter) Write(p []byte) (int, error) {
	w.sum.Write(p)
	if w.inBody {
		w.body(p)
		return len(p), nil
	}
	start := len(w.hdr)
	w.hdr = append(w.hdr, p...)
	if i := w.find.Feed(p); i >= 0 {
		end := start + i
		rest := bytes.Clone(w.hdr[end:])
		w.hdr = w.hdr[:end]
		w.startBody()
		w.body(rest)
	} else if len(w.hdr) > maxStreamHeader {
		w.startBody()
	}
	return len(p), nil
}

// startBody hashes the identity fields of the header into each variant.
func (w *identityWriter) startBody() {
	w.inBody = true
	vals, _ := identityFields(w.hdr)
	mid, date := len(vals["message-id"]) > 0, len(vals["date"]) > 0
	w.hasBoth, w.hasOne = mid && date, mid != date
	for i, skip := range identitySkips {
		w.h[i] = sha256.New()
		writeIdentityFields(w.h[i], vals, skip)
	}
}

// body feeds body bytes to the variants as Identity sees the body: CRLF
// as LF, trailing LF, space and tab dropped.
func (w *identityWriter) body(p []byte) {
	out := make([]byte, 0, len(p)+1)
	emit := func(c byte) {
		if c == '\n' || c == ' ' || c == '\t' {
			w.trail = append(w.trail, c)
			return
		}
		out = append(out, w.trail...)
		w.trail = w.trail[:0]
		out = append(out, c)
	}
	for _, c := range p {
		if w.cr {
			w.cr = false
			if c == '\n' {
				emit('\n')
				continue
			}
			emit('\r')
		}
		if c == '\r' {
			w.cr = true
			continue
		}
		emit(c)
	}
	for _, h := range w.h {
		h.Write(out)
	}
}

// result returns the message's identity, the identities of its variants
// without Message-ID and without Date (nil unless it has both; see
// addedFieldIdentities) and its SHA-256, all hex.
func (w *identityWriter) result() (id string, added []string, sum string) {
	if !w.inBody {
		w.startBody()
	}
	if w.cr { // a CR at the very end is content, and ends any trailing run
		w.cr = false
		for _, h := range w.h {
			h.Write(append(w.trail, '\r'))
		}
		w.trail = w.trail[:0]
	}
	var ids [3]string
	for i, h := range w.h {
		ids[i] = hex.EncodeToString(h.Sum(nil))
	}
	if w.hasBoth {
		added = ids[1:]
	}
	return ids[0], added, hex.EncodeToString(w.sum.Sum(nil))
}

// lacksOne says, once result has been called, what lacksOneAddedField
// says of the message.
func (w *identityWriter) lacksOne() bool { return w.hasOne }

// lineFixer reads a message from a file that may have LF line endings
// (Maildir, mbox) and yields it with CRLF ones, as IMAP serves it; for an
// mbox it also removes one ">" from quoted ">From " lines (mboxrd). A CR
// not before an LF stays as it is, except at the very end.
type lineFixer struct {
	r    *bufio.Reader
	mbox bool
	out  []byte // what Read hands out next, in buf
	buf  []byte
	cr   bool // a chunk ended in CR: it may be the CR of a CRLF
	mid  bool // inside a line longer than the buffer
	err  error
}

func newLineFixer(r io.Reader, mbox bool) *lineFixer {
	return newLineFixerSize(r, mbox, 64<<10)
}

// newLineFixerSize reads lines in pieces of at most size bytes (tests
// make it small to cross line ends with piece ends).
func newLineFixerSize(r io.Reader, mbox bool, size int) *lineFixer {
	return &lineFixer{r: bufio.NewReaderSize(r, size), mbox: mbox}
}

func (f *lineFixer) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.fill()
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

func (f *lineFixer) fill() {
	chunk, err := f.r.ReadSlice('\n')
	out := f.buf[:0]
	if f.cr {
		f.cr = false
		if len(chunk) == 0 || chunk[0] != '\n' {
			if len(chunk) > 0 || err != io.EOF {
				out = append(out, '\r')
			}
		}
	}
	line := chunk
	nl := len(line) > 0 && line[len(line)-1] == '\n'
	switch {
	case nl:
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	case err == bufio.ErrBufferFull && len(line) > 0 && line[len(line)-1] == '\r':
		line, f.cr = line[:len(line)-1], true
	case err == io.EOF:
		line = bytes.TrimSuffix(line, []byte("\r"))
	}
	if f.mbox && !f.mid {
		if t := bytes.TrimLeft(line, ">"); len(t) < len(line) && bytes.HasPrefix(t, []byte("From ")) {
			line = line[1:]
		}
	}
	out = append(out, line...)
	if nl {
		out = append(out, '\r', '\n')
	}
	f.mid = !nl
	f.buf, f.out = out, out
	if err != nil && err != bufio.ErrBufferFull {
		f.err = err
	}
}
