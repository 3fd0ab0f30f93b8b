package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// A large message (one the store keeps out of its row) is not read whole
// for its structure: WalkStructure reads it once, a line at a time, and
// keeps for each part where its header and body are, so that BODY[n],
// BODY[n.MIME], BINARY[n] and the like stream that stretch of the
// message. The structure it gives is the one ExtractBodyStructure gives
// for the same bytes (the walk follows its rules: an outer boundary cuts
// before an inner one, the line end before a delimiter line belongs to
// it, a header is capped at MaxParsedHeader, the same part and depth
// caps), and the sections are those ExtractSection and ExtractBinary cut.

// ErrWalkLimit says that a message's structure cannot be walked as a
// stream with the same result as the whole-message parse: it has more
// parts than MaxMIMEParts (where the whole parse's order of counting
// them decides what follows), a delimiter line longer than the walk's
// buffer, or a section path the walk did not split. Read it whole then.
var ErrWalkLimit = errors.New("wire: the structure needs the message read whole")

// walkBuffer is the walk's read buffer (a variable for tests).
var walkBuffer = 64 << 10

// Span is a stretch of a message: [Start, End).
type Span struct{ Start, End int64 }

// Len is the length of the span.
func (s Span) Len() int64 { return s.End - s.Start }

// A PartMap is what WalkStructure learns of a message.
type PartMap struct {
	Structure *BodyPart
	root      *partNode
}

// partNode is where one entity (the message, a part, an attached
// message) is, and how a section path goes through it (the rules of
// part, which reads the type as entity.mediaType does).
type partNode struct {
	hdrStart, bodyStart, end int64
	multipart                bool   // a multipart with a boundary, for a section path
	boundary                 string // that boundary
	split                    bool   // parts are that multipart's parts
	message                  bool   // message/rfc822 or message/global, for a section path
	parts                    []*partNode
	child                    *partNode // the attached message, when the walk went in
}

// walkEntity is an entity open in the walk.
type walkEntity struct {
	pn        *partNode
	bp        *BodyPart
	depth     int
	defType   string
	inHeader  bool
	hdr       []byte // the header read so far, up to MaxParsedHeader
	hdrLen    int64  // the header's length so far
	delim     []byte // "--boundary" of a multipart the walk splits
	childType string
	closed    bool // the multipart's closing delimiter was seen
	lines     bool // its body's lines are counted
	nlAtBody  int64
	envelope  *BodyPart // the message/rfc822 part whose message this is
}

type walker struct {
	stack  []*walkEntity
	done   int64   // the bytes committed: counted in the entities open
	pend   [2]byte // the line end of the last line, which a delimiter takes
	npend  int
	heldCR bool  // a piece ended with CR, which may start a CRLF line end
	nl     int64 // LFs read, but the pending line end's
	last   byte  // the last byte read, before the pending line end
	budget int
}

// WalkStructure reads a message from r once and returns its structure
// and where its parts are, holding a buffer and the structure, not the
// message. A read error of r is returned as it is; ErrWalkLimit says
// the message must be read whole.
func WalkStructure(r io.Reader) (*PartMap, error) {
	br := bufio.NewReaderSize(r, walkBuffer)
	w := &walker{budget: MaxMIMEParts}
	root := w.push(0, 0, "text/plain", nil)
	lineStart := true
	for {
		piece, err := br.ReadSlice('\n')
		partial := errors.Is(err, bufio.ErrBufferFull)
		if len(piece) > 0 {
			if lineStart {
				if e := w.startLine(piece, partial); e != nil {
					return nil, e
				}
			} else {
				w.content(piece, partial)
			}
			lineStart = !partial
		}
		if partial {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
	}
	if w.heldCR {
		w.commit([]byte{'\r'})
		w.heldCR = false
	}
	w.commitPending()
	w.closeAbove(-1)
	return &PartMap{Structure: root.bp, root: root.pn}, nil
}

// push opens an entity at start, in the multipart on top of the stack
// or (env set) as the message of a message/rfc822 part.
func (w *walker) push(start int64, depth int, defType string, env *walkEntity) *walkEntity {
	e := &walkEntity{pn: &partNode{hdrStart: start}, bp: &BodyPart{}, depth: depth, defType: defType, inHeader: true}
	if env != nil {
		env.pn.child, env.bp.Child, e.envelope = e.pn, e.bp, env.bp
	} else if len(w.stack) > 0 {
		m := w.stack[len(w.stack)-1]
		m.pn.parts, m.bp.Parts = append(m.pn.parts, e.pn), append(m.bp.Parts, e.bp)
	}
	w.stack = append(w.stack, e)
	return e
}

// startLine looks at the first piece of a line: a delimiter of an open
// multipart (the outermost first, as the whole parse splits the outer
// body before the inner ones), or content.
func (w *walker) startLine(piece []byte, partial bool) error {
	for i, e := range w.stack {
		if e.delim == nil || e.closed {
			continue
		}
		if len(piece) < len(e.delim) {
			if partial && bytes.HasPrefix(e.delim, piece) {
				return ErrWalkLimit
			}
			continue
		}
		if !bytes.HasPrefix(piece, e.delim) {
			continue
		}
		rest := string(bytes.TrimRight(piece[len(e.delim):], " \t\r\n"))
		if rest != "" && rest != "--" && !(partial && rest == "-") {
			continue // (a piece ending in one dash may be a closing delimiter)
		}
		if partial || rest == "" && w.budget == 0 {
			return ErrWalkLimit // a line longer than the buffer, or the part cap
		}
		w.closeAbove(i)
		w.commitPending()
		w.content(piece, false) // its line end may be taken by the next delimiter (an empty part)
		if rest == "--" {
			e.closed = true
			return nil
		}
		w.budget--
		w.push(w.done+int64(w.npend), e.depth+1, e.childType, nil)
		return nil
	}
	w.commitPending()
	blank := !partial && (string(piece) == "\n" || string(piece) == "\r\n")
	w.content(piece, partial)
	if e := w.stack[len(w.stack)-1]; e.inHeader && blank {
		w.endHeader(e)
	}
	return nil
}

// content takes a piece of a content line: what ends it, the line end,
// waits to be taken by a delimiter line or committed by the next line.
func (w *walker) content(piece []byte, partial bool) {
	if w.heldCR {
		w.heldCR = false
		if !partial && string(piece) == "\n" {
			w.pend, w.npend = [2]byte{'\r', '\n'}, 2 // a CRLF across two pieces
			return
		}
		w.commit([]byte{'\r'})
	}
	if partial {
		if piece[len(piece)-1] == '\r' {
			w.commit(piece[:len(piece)-1])
			w.heldCR = true
			return
		}
		w.commit(piece)
		return
	}
	eol := 0
	if piece[len(piece)-1] == '\n' {
		eol = 1
		if len(piece) > 1 && piece[len(piece)-2] == '\r' {
			eol = 2
		}
	}
	w.commit(piece[:len(piece)-eol])
	w.npend = copy(w.pend[:], piece[len(piece)-eol:])
}

func (w *walker) commitPending() {
	if w.npend > 0 {
		w.commit(w.pend[:w.npend])
		w.npend = 0
	}
}

// commit counts b, the bytes that follow those committed, in the
// entities open (and keeps it when it is a header's).
func (w *walker) commit(b []byte) {
	if len(b) == 0 {
		return
	}
	at := w.done
	w.done += int64(len(b))
	w.nl += int64(bytes.Count(b, []byte{'\n'}))
	w.last = b[len(b)-1]
	if e := w.stack[len(w.stack)-1]; e.inHeader && at >= e.pn.hdrStart {
		e.hdrLen += int64(len(b))
		if room := MaxParsedHeader - len(e.hdr); room > 0 {
			e.hdr = append(e.hdr, b[:min(room, len(b))]...)
		}
	}
}

// capped is the entity's header as cappedHeader cuts it.
func (e *walkEntity) capped() []byte {
	if e.hdrLen <= MaxParsedHeader {
		return e.hdr
	}
	return e.hdr[:bytes.LastIndexByte(e.hdr, '\n')+1]
}

// endHeader is the blank line that ends e's header: its body starts
// after it (unless a delimiter takes the blank line's line end: see
// close).
func (w *walker) endHeader(e *walkEntity) {
	e.inHeader = false
	e.pn.bodyStart = w.done + int64(w.npend) // past the blank line
	hdr := e.capped()
	e.hdr = nil
	p, params := partHeader(hdr, e.defType)
	*e.bp = *p
	e.pn.sectionView(hdr)
	if e.envelope != nil {
		e.envelope.Envelope = ExtractEnvelope(hdr)
	}
	e.nlAtBody = w.nl + 1 // the blank line's LF
	switch {
	case p.Type == "multipart" && e.depth < MaxMIMEDepth && params["boundary"] != "":
		e.delim = []byte("--" + params["boundary"])
		e.childType = childDefault(p)
		e.pn.split = e.pn.multipart && e.pn.boundary == params["boundary"]
	case opaque(p, e.depth):
		e.bp.Type, e.bp.Subtype, e.bp.Params = "application", "octet-stream", nil
	case isRFC822(p):
		e.lines = true
		w.push(e.pn.bodyStart, e.depth+1, "text/plain", e)
	case p.Type == "text":
		e.lines = true
	}
}

// closeAbove closes the entities above the i-th of the stack (all of
// them for -1), at the end of what is committed.
func (w *walker) closeAbove(i int) {
	end := w.done
	for len(w.stack) > i+1 {
		e := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.close(e, max(end, e.pn.hdrStart))
	}
}

func (w *walker) close(e *walkEntity, end int64) {
	e.pn.end = end
	if e.inHeader {
		// No blank line: all header, and an empty body, which the
		// whole parse reads as well as it does.
		hdr := e.capped()
		*e.bp = *parsePart(hdr, e.depth, e.defType, &w.budget)
		e.pn.bodyStart = end
		e.pn.sectionView(hdr)
		e.pn.split = e.pn.multipart
		if e.envelope != nil {
			e.envelope.Envelope = ExtractEnvelope(hdr)
		}
		return
	}
	e.pn.bodyStart = min(e.pn.bodyStart, end)
	size := end - e.pn.bodyStart
	e.bp.Size = uint32(min(uint64(size), 1<<32-1))
	if e.lines && size > 0 {
		n := w.nl - e.nlAtBody
		if w.last != '\n' {
			n++
		}
		e.bp.Lines = uint32(min(uint64(n), 1<<32-1))
	}
	if e.delim != nil && len(e.bp.Parts) == 0 {
		e.bp.Parts = append(e.bp.Parts, parsePart(nil, e.depth+1, e.childType, &w.budget))
	}
}

// sectionView sets what a section path sees of the entity whose header
// is hdr (entity.mediaType's reading, which differs from the
// structure's for a part without a type in a digest, or a header with
// two Content-Type fields).
func (n *partNode) sectionView(hdr []byte) {
	mt, params := entity{hdr: hdr}.mediaType()
	n.boundary = params["boundary"]
	n.multipart = strings.HasPrefix(mt, "multipart/") && n.boundary != ""
	n.message = mt == "message/rfc822" || mt == "message/global"
}

// messageChild is the message inside a message/rfc822 entity.
func (n *partNode) messageChild() (*partNode, error) {
	switch {
	case n.child != nil:
		return n.child, nil
	case n.bodyStart == n.end:
		return &partNode{hdrStart: n.end, bodyStart: n.end, end: n.end}, nil
	}
	return nil, ErrWalkLimit // past the depth cap, or typed otherwise for the structure
}

// node finds the entity a part path names, as part does.
func (m *PartMap) node(path []uint32) (*partNode, bool, error) {
	n := m.root
	for i, k := range path {
		if i > 0 && n.message {
			c, err := n.messageChild()
			if err != nil {
				return nil, false, err
			}
			n = c
		}
		if n.multipart {
			if !n.split {
				return nil, false, ErrWalkLimit
			}
			if k == 0 || int(k) > len(n.parts) {
				return nil, false, nil
			}
			n = n.parts[k-1]
			continue
		}
		if k != 1 {
			return nil, false, nil
		}
	}
	return n, true, nil
}

// Section says where the bytes of a BODY[section] fetch are, as
// ExtractSection cuts them: hdr is the header of the entity whose fields
// HEADER.FIELDS and HEADER.FIELDS.NOT pick (fields true: read it with
// ReadHeader and give it to SectionFields), else the span is the answer.
// ok is false when the message has no such part.
func (m *PartMap) Section(s *Section) (sp Span, fields, ok bool, err error) {
	n := m.root
	if len(s.Part) > 0 {
		if n, ok, err = m.node(s.Part); !ok {
			return Span{}, false, false, err
		}
		switch s.Specifier {
		case "":
			return Span{n.bodyStart, n.end}, false, true, nil
		case "MIME":
			return Span{n.hdrStart, n.bodyStart}, false, true, nil
		}
		if !n.message {
			return Span{}, false, false, nil
		}
		if n, err = n.messageChild(); err != nil {
			return Span{}, false, false, err
		}
	}
	switch s.Specifier {
	case "":
		return Span{n.hdrStart, n.end}, false, true, nil
	case "TEXT":
		return Span{n.bodyStart, n.end}, false, true, nil
	case "HEADER":
		return Span{n.hdrStart, n.bodyStart}, false, true, nil
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		return Span{n.hdrStart, n.bodyStart}, true, true, nil
	}
	return Span{}, false, false, nil
}

// Part says where the header and the body of the entity a BINARY path
// names are; ok is false when the message has no such part.
func (m *PartMap) Part(path []uint32) (hdr, body Span, ok bool, err error) {
	n, ok, err := m.node(path)
	if !ok {
		return Span{}, Span{}, false, err
	}
	return Span{n.hdrStart, n.bodyStart}, Span{n.bodyStart, n.end}, true, nil
}

// ReadHeader reads the header at sp from r, cut to MaxParsedHeader at a
// line end as cappedHeader cuts it: what SectionFields and
// BinaryDecoder take.
func ReadHeader(r io.ReaderAt, sp Span) ([]byte, error) {
	b := make([]byte, min(sp.Len(), MaxParsedHeader))
	if n, err := r.ReadAt(b, sp.Start); n < len(b) {
		return nil, err
	}
	if sp.Len() > MaxParsedHeader {
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	return b, nil
}

// SectionFields is the answer to a HEADER.FIELDS or HEADER.FIELDS.NOT
// section, from the header ReadHeader read.
func SectionFields(hdr []byte, s *Section) []byte {
	return headerFields(hdr, s.Fields, s.Specifier == "HEADER.FIELDS.NOT")
}
