package imapd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"sync/atomic"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// fetchChunk bounds how many messages one store read loads at once.
const fetchChunk = 256

// maxChunkBytes bounds the message bytes one chunk of a FETCH or SEARCH
// that reads whole messages holds at once (a chunk takes at least one).
// (A variable for tests.)
var maxChunkBytes int64 = 32 << 20

// fetchPlan is what a FETCH writes and reads.
type fetchPlan struct {
	items   []wire.FetchItem // UID first for UID FETCH
	flags   bool             // FLAGS is asked for
	modseq  bool             // MODSEQ is asked for
	need    store.BodyPart
	setSeen bool
}

func planFetch(f *wire.Fetch, byUID, readOnly bool) fetchPlan {
	p := fetchPlan{need: store.FlagsOnly}
	if byUID {
		p.items = append(p.items, wire.FetchItem{Name: "UID"})
	}
	for _, it := range f.Items {
		if it.Name == "UID" && byUID {
			continue
		}
		p.items = append(p.items, it)
		p.need = maxNeed(p.need, itemNeed(it))
		switch {
		case it.Name == "FLAGS":
			p.flags = true
		case it.Name == "MODSEQ":
			p.modseq = true
		case it.Name == "RFC822", it.Name == "RFC822.TEXT":
			p.setSeen = true
		case (it.Name == "BODY" && it.Section != nil) || it.Name == "BINARY":
			p.setSeen = p.setSeen || !it.Peek
		}
	}
	p.setSeen = p.setSeen && !readOnly
	if p.need == store.BodyFull {
		// Every item is answered from a stream of a large message: the
		// message, its text and its decoded body as they are read; the
		// structure and the parts from one walk of it (walkParts).
		p.need = store.BodyStream
	}
	return p
}

// streamable says whether an item is answered from a stream of a large
// message without its MIME structure: the message, its text, or its
// decoded body, with or without a partial.
func streamable(it wire.FetchItem) bool {
	switch it.Name {
	case "RFC822", "RFC822.TEXT":
		return true
	case "BODY":
		s := it.Section
		return s != nil && len(s.Part) == 0 && (s.Specifier == "" || s.Specifier == "TEXT")
	case "BINARY", "BINARY.SIZE":
		return it.Section != nil && len(it.Section.Part) == 0
	}
	return false
}

// needsParts says whether an item needs a large message's MIME
// structure: BODYSTRUCTURE, BODY, and the sections of its parts.
func needsParts(it wire.FetchItem) bool {
	switch it.Name {
	case "BODYSTRUCTURE":
		return true
	case "BODY", "BINARY", "BINARY.SIZE":
		return it.Section == nil || len(it.Section.Part) > 0
	}
	return false
}

// itemNeed is how much of the message bytes an item reads.
func itemNeed(it wire.FetchItem) store.BodyPart {
	switch it.Name {
	case "UID", "FLAGS":
		return store.FlagsOnly
	case "INTERNALDATE", "RFC822.SIZE", "MODSEQ":
		return store.BodyNone
	case "ENVELOPE", "RFC822.HEADER":
		return store.BodyHeader
	case "BODY":
		if s := it.Section; s != nil && len(s.Part) == 0 && (s.Specifier == "HEADER" || s.Specifier == "HEADER.FIELDS" || s.Specifier == "HEADER.FIELDS.NOT") {
			return store.BodyHeader
		}
	}
	return store.BodyFull
}

// maxNeed orders FlagsOnly < BodyNone < BodyHeader < BodyFull (planFetch
// turns BodyFull into BodyStream at the end).
func maxNeed(a, b store.BodyPart) store.BodyPart {
	rank := func(p store.BodyPart) int {
		if p == store.FlagsOnly {
			return -1
		}
		return int(p)
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

func (c *conn) cmdFetch(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Fetch)
	p := planFetch(args, cmd.UID, c.sel.readOnly)
	if err := c.checkSeqs(args.Seq, cmd.UID); err != nil {
		return "", err
	}
	ts := c.resolve(args.Seq, cmd.UID)
	if p.modseq || args.HasChangedSince {
		c.condstore = true // a CONDSTORE enabling command (RFC 7162 3.1)
	}
	if args.HasChangedSince {
		var err error
		if ts, err = c.changedSince(cmd, args, ts); err != nil {
			return "", err
		}
		if !p.modseq {
			p.items = append(p.items, wire.FetchItem{Name: "MODSEQ"})
			p.need, p.modseq = maxNeed(p.need, store.BodyNone), true
		}
	}
	if p.need == store.FlagsOnly {
		return "", c.fetchFlags(ts, p)
	}
	for len(ts) > 0 {
		n, err := c.fetchChunk(ts[:min(len(ts), fetchChunk)], p)
		if err != nil {
			return "", err
		}
		ts = ts[n:]
	}
	return "", nil
}

// fetchFlags answers a FETCH of only UID and FLAGS (the resync of a
// mail app) from store.LoadFlags, which keeps those of big mailboxes in
// memory; each response is encoded straight into the connection's buffer.
func (c *conn) fetchFlags(ts []target, p fetchPlan) error {
	ctx, cancel := c.opCtx()
	defer cancel()
	recent := c.sel.recent
	j := 0
	err := c.srv.opts.Store.LoadFlags(ctx, c.sel.mailbox.ID, targetUIDs(ts), func(batch []store.MessageFlags) error {
		for _, m := range batch {
			// ts is in UID order too (sequence numbers follow UIDs).
			for j < len(ts) && ts[j].uid < m.UID {
				j++
			}
			if j == len(ts) {
				return nil
			}
			if ts[j].uid != m.UID {
				continue
			}
			// The whole line is built in place: one copy per message.
			l := append(c.enc.Line(), "* "...)
			l = strconv.AppendUint(l, uint64(ts[j].seq), 10)
			l = append(l, " FETCH ("...)
			for i, it := range p.items {
				if i > 0 {
					l = append(l, ' ')
				}
				if it.Name == "UID" {
					l = strconv.AppendUint(append(l, "UID "...), uint64(m.UID), 10)
				} else {
					l = c.appendFlags(append(l, "FLAGS "...), m.Flags, m.Keywords, len(recent) > 0 && recent[m.UID])
				}
			}
			if c.enc.Bytes(append(l, ")\r\n"...)).Err() != nil {
				return errEnd
			}
		}
		return nil
	})
	if errors.Is(err, errEnd) {
		return err
	}
	return c.storeError("fetch", err)
}

// loadChunk loads the messages of ts, whole ones only up to maxChunkBytes
// of them (so that FETCH 1:* BODY[] of a folder of 50 MiB attachments
// does not load 256 of them together), and says how many of ts it
// covered.
func (c *conn) loadChunk(ctx context.Context, ts []target, need store.BodyPart) ([]store.LoadedMessage, int, error) {
	st, mb := c.srv.opts.Store, c.sel.mailbox.ID
	if need != store.BodyFull && need != store.BodyStream {
		msgs, err := st.LoadMessages(ctx, mb, targetUIDs(ts), need)
		return msgs, len(ts), err
	}
	msgs, err := st.LoadMessagesUpTo(ctx, mb, targetUIDs(ts), need, maxChunkBytes)
	if err != nil || len(msgs) == 0 {
		return msgs, len(ts), err
	}
	last := msgs[len(msgs)-1].UID
	n := 0
	for n < len(ts) && ts[n].uid <= last {
		n++ // ts is in UID order
	}
	return msgs, n, nil
}

// fetchChunk answers for the first messages of ts and says for how many.
func (c *conn) fetchChunk(ts []target, p fetchPlan) (int, error) {
	ctx, cancel := c.opCtx()
	defer cancel()
	msgs, n, err := c.loadChunk(ctx, ts, p.need)
	if err != nil {
		return 0, c.storeError("fetch", err)
	}
	ts = ts[:n]
	byUID := make(map[uint32]*store.LoadedMessage, len(msgs))
	for i := range msgs {
		byUID[msgs[i].UID] = &msgs[i]
	}
	changed, err := c.markSeen(ctx, msgs, byUID, p.setSeen)
	if err != nil {
		return 0, err
	}
	for _, t := range ts {
		m := byUID[t.uid]
		if m == nil {
			continue // expunged meanwhile by another session
		}
		if err := c.writeFetch(t, m, p, changed[t.uid]); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// markSeen sets \Seen on the unseen messages of a body FETCH without PEEK;
// their new flags go in the response (RFC 3501 6.4.5).
func (c *conn) markSeen(ctx context.Context, msgs []store.LoadedMessage, byUID map[uint32]*store.LoadedMessage, setSeen bool) (map[uint32]bool, error) {
	if !setSeen {
		return nil, nil
	}
	var unseen []uint32
	for _, m := range msgs {
		if m.Flags&store.FlagSeen == 0 {
			unseen = append(unseen, m.UID)
		}
	}
	if len(unseen) == 0 {
		return nil, nil
	}
	metas, err := c.srv.opts.Store.UpdateFlags(ctx, c.acct.ID, c.sel.mailbox.ID, unseen, store.FlagsAdd, store.FlagSeen, nil)
	if err != nil {
		return nil, c.storeError("fetch", err)
	}
	c.feed.pump()
	changed := make(map[uint32]bool, len(metas))
	for _, meta := range metas {
		if m := byUID[meta.UID]; m != nil {
			m.Flags, m.Keywords = meta.Flags, meta.Keywords
			changed[meta.UID] = true
		}
	}
	return changed, nil
}

// binaryPart is a decoded BINARY[...] item, worked out before the
// response starts (a part that cannot be decoded fails the command).
type binaryPart struct {
	data    []byte
	ok      bool
	binary8 bool
	size    int64
	// open decodes a streamed message's body again, for the response
	// (data is nil then).
	open func() io.Reader
}

func (c *conn) binaryParts(m *store.LoadedMessage, sb *streamedBody, p fetchPlan) ([]binaryPart, error) {
	var out []binaryPart
	for _, it := range p.items {
		if it.Name != "BINARY" && it.Name != "BINARY.SIZE" {
			continue
		}
		if sb != nil {
			bp, err := sb.binaryOf(m.Data, it.Section.Part)
			if err != nil {
				return nil, c.storeError("fetch", err)
			}
			out = append(out, bp)
			continue
		}
		data, ok, err := wire.ExtractBinary(m.Data, it.Section.Part)
		var we *wire.Error
		switch {
		case errors.Is(err, wire.ErrUnknownCTE):
			return nil, no(wire.CodeUnknownCTE, "Unknown content-transfer-encoding")
		case errors.As(err, &we):
			return nil, we
		case err != nil:
			return nil, err
		}
		out = append(out, binaryPart{data: data, ok: ok, binary8: bytes.IndexByte(data, 0) >= 0, size: int64(len(data))})
	}
	return out, nil
}

// streamedBody is a large message open for a FETCH (store.BodyStream):
// its sections are streamed from the store, a buffer at a time.
type streamedBody struct {
	r    store.BodyReader
	size int64
	text int64 // where the body starts, after the header's blank line
	// found says that text is known (findText has run).
	found bool
	// parts is the message's structure and where its parts are, for
	// the items that need them (walkParts), for this response only.
	parts *wire.PartMap
}

// readLargeWhole makes FETCH read a large message whole for its
// structure, as it did before the walk (for tests that compare).
var readLargeWhole atomic.Bool

// openStreamed opens m's body when only its header was loaded, and
// finds where its text starts when an item asks for it.
func (c *conn) openStreamed(m *store.LoadedMessage, p fetchPlan) (*streamedBody, error) {
	if !m.Streamed {
		return nil, nil
	}
	// The body is read while the response is written, which may take
	// longer than an operation's timeout for a slow client: the reads
	// last as long as the connection does (a write that fails ends them).
	r, size, err := c.srv.opts.Store.OpenBody(store.WithOrigin(c.ctx, c.origin), m.BodyID)
	if err != nil {
		return nil, err
	}
	sb := &streamedBody{r: r, size: size}
	if !bytes.HasSuffix(m.Data, []byte("\n\n")) && !bytes.HasSuffix(m.Data, []byte("\n\r\n")) {
		// The store keeps the first 256 KiB of a header without its
		// blank line: take the header whole, as a loaded message gives
		// it, unless it is huge.
		if err := sb.findText(); err != nil {
			_ = r.Close() // only read: the error above is the one to tell
			return nil, err
		}
		if sb.text <= maxStreamedHeader {
			m.Data = make([]byte, sb.text)
			if n, err := r.ReadAt(m.Data, 0); n < len(m.Data) {
				_ = r.Close() // only read: the error above is the one to tell
				return nil, err
			}
		}
	}
	for _, it := range p.items {
		if it.Name == "RFC822.TEXT" || it.Name == "BINARY" || it.Name == "BINARY.SIZE" || it.Section != nil && it.Section.Specifier == "TEXT" {
			if err := sb.findText(); err != nil {
				_ = r.Close() // only read: the error above is the one to tell
				return nil, err
			}
			break
		}
	}
	for _, it := range p.items {
		if !needsParts(it) {
			continue
		}
		whole, err := sb.walkParts(m, p)
		if err != nil || whole {
			_ = r.Close() // only read: the error above is the one to tell
			if whole {
				c.log.Info("imap fetch reads a large message whole for its structure", "uid", m.UID, "size", sb.size)
			}
			return nil, err
		}
		break
	}
	return sb, nil
}

// walkParts reads a large message once for its MIME structure and where
// its parts are (wire.WalkStructure): a buffer and the structure, not
// the message. The map is kept for this response only (the store keeps
// no structure): a client that asks BODYSTRUCTURE and then BODY[2] in
// two commands has the message read twice. A message the walk cannot
// answer for as the whole parse would (more than wire.MaxMIMEParts
// parts, a delimiter line longer than its buffer, a part path it did
// not split) is read whole into m.Data instead, and whole is true.
func (b *streamedBody) walkParts(m *store.LoadedMessage, p fetchPlan) (whole bool, err error) {
	if !readLargeWhole.Load() {
		if _, err := b.r.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
		pm, err := wire.WalkStructure(io.LimitReader(b.r, b.size))
		if err != nil && !errors.Is(err, wire.ErrWalkLimit) {
			return false, err
		}
		if err == nil && resolves(pm, p) {
			b.parts = pm
			return false, nil
		}
	}
	data := make([]byte, b.size)
	if n, err := b.r.ReadAt(data, 0); n < len(data) {
		return false, err
	}
	m.Data = data
	return true, nil
}

// resolves says whether every part section of p is found (or known to
// be missing) in pm.
func resolves(pm *wire.PartMap, p fetchPlan) bool {
	for _, it := range p.items {
		if it.Section == nil || len(it.Section.Part) == 0 {
			continue
		}
		var err error
		if it.Name == "BODY" {
			_, _, _, err = pm.Section(it.Section)
		} else {
			_, _, _, err = pm.Part(it.Section.Part)
		}
		if err != nil {
			return false
		}
	}
	return true
}

// maxStreamedHeader bounds the header of a streamed message read for
// its header items (ENVELOPE, BODY[HEADER]) when the store kept only
// its start.
const maxStreamedHeader = 1 << 20

// findText finds the end of the header as mailmsg.HeaderEnd does, reading
// only as far as the blank line.
func (b *streamedBody) findText() error {
	if b.found {
		return nil
	}
	b.found = true
	if _, err := b.r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	var f mailmsg.EndFinder
	for off := int64(0); ; {
		n, err := b.r.Read(buf)
		if i := f.Feed(buf[:n]); i >= 0 {
			b.text = off + int64(i)
			return nil
		}
		off += int64(n)
		if errors.Is(err, io.EOF) || off >= b.size {
			b.text = b.size // no blank line: all header
			return nil
		} else if err != nil {
			return err
		}
	}
}

// stretch returns a reader of n bytes of the body from start (n > 0); a
// failure to get there is the reader's error, which ends the response
// (and the connection, as any failure in the middle of a literal).
func (b *streamedBody) stretch(start int64) io.Reader {
	if _, err := b.r.Seek(start, io.SeekStart); err != nil {
		return errReader{err}
	}
	return b.r
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// binaryOf is binary for the message's body (path empty: hdr is the
// message's header) or for the part a path names (its header is read).
func (b *streamedBody) binaryOf(hdr []byte, path []uint32) (binaryPart, error) {
	if len(path) == 0 {
		return b.binary(hdr, wire.Span{Start: b.text, End: b.size})
	}
	hsp, body, ok, _ := b.parts.Part(path) // resolves has seen it
	if !ok {
		return binaryPart{}, nil // no such part: NIL, of size 0
	}
	hdr, err := wire.ReadHeader(b.r, hsp)
	if err != nil {
		return binaryPart{}, err
	}
	return b.binary(hdr, body)
}

// binary decodes a body (at sp, whose header is hdr) once to learn the
// decoded size and whether it holds a NUL (a literal8), before the
// response starts; open decodes it again for the response.
func (b *streamedBody) binary(hdr []byte, sp wire.Span) (binaryPart, error) {
	if _, err := wire.BinaryDecoder(hdr, nil); err != nil {
		return binaryPart{}, no(wire.CodeUnknownCTE, "Unknown content-transfer-encoding")
	}
	text := func() io.Reader { return io.LimitReader(b.stretch(sp.Start), sp.Len()) }
	bp := binaryPart{ok: true, open: func() io.Reader {
		r, _ := wire.BinaryDecoder(hdr, text()) // its encoding is known
		return r
	}}
	in := &mailmsg.Source{R: text()}
	r, _ := wire.BinaryDecoder(hdr, in)
	w := &nulCounter{}
	if _, err := io.Copy(w, r); err != nil {
		if in.Err != nil {
			return bp, in.Err // the store's, not the encoding's
		}
		return bp, wire.DecodeError(err)
	}
	bp.size, bp.binary8 = w.n, w.nul
	return bp, nil
}

// nulCounter counts the bytes written to it and sees whether one is NUL.
type nulCounter struct {
	n   int64
	nul bool
}

func (w *nulCounter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.nul = w.nul || bytes.IndexByte(p, 0) >= 0
	return len(p), nil
}

// writeFetch writes one message's FETCH response.
func (c *conn) writeFetch(t target, m *store.LoadedMessage, p fetchPlan, flagsChanged bool) error {
	sb, err := c.openStreamed(m, p)
	if errors.Is(err, store.ErrNotFound) {
		return nil // expunged meanwhile by another session
	} else if err != nil {
		return c.storeError("fetch", err)
	}
	if sb != nil {
		defer func() { _ = sb.r.Close() }() // only read: a failed read has ended the response already
	}
	bins, err := c.binaryParts(m, sb, p)
	if err != nil {
		return err
	}
	e := c.enc
	e.FetchStart(t.seq)
	for _, it := range p.items {
		switch it.Name {
		case "UID":
			e.FetchUID(m.UID)
		case "FLAGS":
			c.writeFlagsItem(m.Flags, m.Keywords, c.sel.recent[m.UID])
		case "INTERNALDATE":
			e.FetchInternalDate(m.InternalDate)
		case "RFC822.SIZE":
			e.FetchSize(uint64(max(m.Size, 0)))
		case "MODSEQ":
			e.FetchModSeq(uint64(max(m.ModSeq, 0)))
		case "ENVELOPE":
			e.FetchEnvelope(wire.ExtractEnvelope(m.Data))
		case "BODYSTRUCTURE":
			e.FetchBodyStructure(structure(m, sb), true)
		case "BINARY", "BINARY.SIZE":
			writeBinary(e, it, bins[0])
			bins = bins[1:]
		default:
			if it.Name == "BODY" && it.Section == nil {
				e.FetchBodyStructure(structure(m, sb), false)
			} else if sb != nil && (streamable(it) || it.Section != nil && len(it.Section.Part) > 0) {
				writeStreamedSection(e, it, sb)
			} else {
				writeSection(e, it, m.Data)
			}
		}
	}
	if flagsChanged && !p.flags {
		c.writeFlagsItem(m.Flags, m.Keywords, c.sel.recent[m.UID])
	}
	if err := e.FetchEnd(); err != nil {
		if sb != nil {
			c.log.Info("imap fetch of a large message ended early", "uid", m.UID, "err", err)
		}
		return errEnd
	}
	return nil
}

// structure is the message's MIME structure: from the walk of a large
// one, else parsed from its bytes.
func structure(m *store.LoadedMessage, sb *streamedBody) *wire.BodyPart {
	if sb != nil && sb.parts != nil {
		return sb.parts.Structure
	}
	return wire.ExtractBodyStructure(m.Data)
}

// rfc822Sections are the RFC822 items as sections.
var rfc822Sections = map[string]*wire.Section{
	"RFC822": {}, "RFC822.HEADER": {Specifier: "HEADER"}, "RFC822.TEXT": {Specifier: "TEXT"},
}

// writeSection writes a BODY[...] section or an RFC822 item.
func writeSection(e *wire.Encoder, it wire.FetchItem, msg []byte) {
	sec, name := it.Section, it.ResponseName()
	if s, ok := rfc822Sections[it.Name]; ok {
		sec, name = s, it.Name
	}
	data, _ := wire.ExtractSection(msg, sec) // no such part: empty
	data = it.Partial.Apply(data)
	e.FetchSection(name, int64(len(data)), bytes.NewReader(data))
}

// writeStreamedSection is writeSection for a streamable item or a part's
// section of a streamed message: the bytes it names (the message, its
// text, a part's body or header found by the walk, then the partial's
// stretch) are read from the store as they are written.
func writeStreamedSection(e *wire.Encoder, it wire.FetchItem, b *streamedBody) {
	sec, name := it.Section, it.ResponseName()
	if s, ok := rfc822Sections[it.Name]; ok {
		sec, name = s, it.Name
	}
	start, n := int64(0), b.size
	if len(sec.Part) > 0 {
		sp, fields, ok, _ := b.parts.Section(sec) // resolves has seen it
		switch {
		case !ok:
			e.FetchSection(name, 0, bytes.NewReader(nil)) // no such part: empty
			return
		case fields:
			hdr, err := wire.ReadHeader(b.r, sp)
			if err != nil {
				e.FetchSection(name, 1, errReader{err}) // ends the response, as a failed read of a literal does
				return
			}
			data := it.Partial.Apply(wire.SectionFields(hdr, sec))
			e.FetchSection(name, int64(len(data)), bytes.NewReader(data))
			return
		}
		start, n = sp.Start, sp.Len()
	} else if sec.Specifier == "TEXT" {
		start, n = b.text, b.size-b.text
	}
	if p := it.Partial; p != nil {
		off := min(int64(p.Offset), n)
		start, n = start+off, min(n-off, int64(p.Count))
	}
	if n == 0 {
		e.FetchSection(name, 0, bytes.NewReader(nil))
		return
	}
	e.FetchSection(name, n, b.stretch(start))
}

func writeBinary(e *wire.Encoder, it wire.FetchItem, b binaryPart) {
	name := it.ResponseName()
	if it.Name == "BINARY.SIZE" {
		e.FetchBinarySize(name, uint64(b.size))
		return
	}
	if !b.ok {
		e.FetchNil(name)
		return
	}
	if b.open == nil {
		data := it.Partial.Apply(b.data)
		e.FetchBinary(name, int64(len(data)), bytes.NewReader(data), b.binary8)
		return
	}
	start, n := int64(0), b.size
	if p := it.Partial; p != nil {
		start = min(int64(p.Offset), n)
		n = min(n-start, int64(p.Count))
	}
	r := b.open()
	if start > 0 {
		if _, err := io.CopyN(io.Discard, r, start); err != nil {
			r = errReader{err}
		}
	}
	e.FetchBinary(name, n, r, b.binary8)
}
