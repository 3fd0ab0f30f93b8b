package imapd

import (
	"bufio"
	"bytes"
	"context"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// fetchChunk bounds how many messages one store read loads at once.
const fetchChunk = 256

// bodyNeed says how much of the message bytes a FETCH needs.
func bodyNeed(o *imap.FetchOptions) store.BodyPart {
	if !o.Envelope && o.BodyStructure == nil && len(o.BodySection) == 0 && len(o.BinarySection) == 0 &&
		len(o.BinarySectionSize) == 0 && !o.InternalDate && !o.RFC822Size && !o.ModSeq {
		return store.FlagsOnly // UID and FLAGS: the common resync of a mail app
	}
	need := store.BodyNone
	if o.Envelope {
		need = store.BodyHeader
	}
	if o.BodyStructure != nil || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		return store.BodyFull
	}
	for _, bs := range o.BodySection {
		if len(bs.Part) > 0 || (bs.Specifier != imap.PartSpecifierHeader) {
			return store.BodyFull
		}
		need = store.BodyHeader
	}
	return need
}

// marksSeen reports whether the FETCH sets \Seen (a non-PEEK body item).
func marksSeen(o *imap.FetchOptions) bool {
	for _, bs := range o.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range o.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

func (sess *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	ts := sess.resolve(numSet)
	need := bodyNeed(options)
	setSeen := marksSeen(options) && !sess.sel.view.readOnly
	if need == store.FlagsOnly {
		return sess.fetchFlags(w, ts, options)
	}
	for len(ts) > 0 {
		n, err := sess.fetchChunk(w, ts[:min(len(ts), fetchChunk)], options, need, setSeen)
		if err != nil {
			return err
		}
		ts = ts[n:]
	}
	return nil
}

// maxChunkBytes bounds the message bytes one chunk of a FETCH or SEARCH
// that reads whole messages holds at once (a chunk takes at least one).
// (A variable for tests.)
var maxChunkBytes int64 = 32 << 20

// loadChunk loads the messages of ts, whole ones only up to maxChunkBytes
// of them (so that FETCH 1:* BODY[] of a folder of 50 MiB attachments
// does not load 256 of them together), and says how many of ts it
// covered.
func (sess *session) loadChunk(ctx context.Context, ts []target, need store.BodyPart) ([]store.LoadedMessage, int, error) {
	st, mb := sess.srv.opts.Store, sess.sel.mailbox.ID
	if need != store.BodyFull {
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

// fetchFlags answers a FETCH of only UID and FLAGS (the resync of a
// mail app) from store.LoadFlags, which keeps those of big mailboxes in
// memory.
func (sess *session) fetchFlags(w *imapserver.FetchWriter, ts []target, options *imap.FetchOptions) error {
	ctx, cancel := sess.ctx()
	defer cancel()
	j := 0
	var werr error
	err := sess.srv.opts.Store.LoadFlags(ctx, sess.sel.mailbox.ID, targetUIDs(ts), func(batch []store.MessageFlags) error {
		anyRecent := sess.anyRecent() // usually none: no lookup per message
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
			rw := w.CreateMessage(ts[j].seq)
			if options.UID {
				rw.WriteUID(imap.UID(m.UID))
			}
			if options.Flags {
				rw.WriteFlags(flagList(m.Flags, m.Keywords, anyRecent && sess.isRecent(m.UID)))
			}
			if werr = rw.Close(); werr != nil {
				return werr
			}
		}
		return nil
	})
	if werr != nil {
		return werr // the connection's, not the store's
	}
	return sess.storeError("fetch", err)
}

// fetchChunk answers for the first messages of ts and says for how many.
func (sess *session) fetchChunk(w *imapserver.FetchWriter, ts []target, options *imap.FetchOptions, need store.BodyPart, setSeen bool) (int, error) {
	ctx, cancel := sess.ctx()
	defer cancel()
	msgs, n, err := sess.loadChunk(ctx, ts, need)
	if err != nil {
		return 0, sess.storeError("fetch", err)
	}
	ts = ts[:n]
	byUID := make(map[uint32]*store.LoadedMessage, len(msgs))
	for i := range msgs {
		byUID[msgs[i].UID] = &msgs[i]
	}
	// A body FETCH without PEEK sets \Seen; the new flags go in the
	// response (RFC 3501 6.4.5).
	changed := map[uint32]bool{}
	if setSeen {
		var unseen []uint32
		for _, m := range msgs {
			if m.Flags&store.FlagSeen == 0 {
				unseen = append(unseen, m.UID)
			}
		}
		if len(unseen) > 0 {
			metas, err := sess.srv.opts.Store.UpdateFlags(ctx, sess.acct.ID, sess.sel.mailbox.ID, unseen, store.FlagsAdd, store.FlagSeen, nil)
			if err != nil {
				return 0, sess.storeError("fetch", err)
			}
			sess.feed.pump()
			for _, meta := range metas {
				if m := byUID[meta.UID]; m != nil {
					m.Flags, m.Keywords = meta.Flags, meta.Keywords
					changed[meta.UID] = true
				}
			}
		}
	}
	for _, t := range ts {
		m := byUID[t.uid]
		if m == nil {
			continue // expunged meanwhile by another session
		}
		rw := w.CreateMessage(t.seq)
		if err := sess.writeFetch(rw, m, options, changed[t.uid]); err != nil {
			_ = rw.Close() // the write error is the one to report
			return 0, err
		}
		if err := rw.Close(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (sess *session) writeFetch(rw *imapserver.FetchResponseWriter, m *store.LoadedMessage, o *imap.FetchOptions, flagsChanged bool) error {
	if o.UID {
		rw.WriteUID(imap.UID(m.UID))
	}
	if o.Flags || flagsChanged {
		rw.WriteFlags(flagList(m.Flags, m.Keywords, sess.isRecent(m.UID)))
	}
	if o.InternalDate {
		rw.WriteInternalDate(m.InternalDate)
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	if o.Envelope {
		rw.WriteEnvelope(envelope(m.Data))
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(imapserver.ExtractBodyStructure(messageReader(m.Data)))
	}
	for _, bs := range o.BodySection {
		b := bodySection(m.Data, bs)
		wc := rw.WriteBodySection(bs, int64(len(b)))
		if _, err := wc.Write(b); err != nil {
			_ = wc.Close() // the write error is the one to report
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bs := range o.BinarySection {
		b := imapserver.ExtractBinarySection(messageReader(m.Data), bs)
		wc := rw.WriteBinarySection(bs, int64(len(b)))
		if _, err := wc.Write(b); err != nil {
			_ = wc.Close() // the write error is the one to report
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bss := range o.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(messageReader(m.Data), bss))
	}
	return nil
}

// bodySection returns a BODY[...] section. The whole message, its header
// and its text are cut from the stored bytes so they come back exactly as
// delivered; deeper sections go through go-imap's MIME walker.
func bodySection(data []byte, bs *imap.FetchItemBodySection) []byte {
	var b []byte
	switch {
	case len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone:
		b = data
	case len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierHeader && len(bs.HeaderFields) == 0 && len(bs.HeaderFieldsNot) == 0:
		b = data[:mailmsg.HeaderEnd(data)]
	case len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierText:
		b = data[mailmsg.HeaderEnd(data):]
	default:
		whole := *bs
		whole.Partial = nil
		b = imapserver.ExtractBodySection(messageReader(data), &whole)
	}
	if p := bs.Partial; p != nil {
		if p.Offset >= int64(len(b)) {
			return nil
		}
		b = b[p.Offset:]
		if p.Size < int64(len(b)) {
			b = b[:p.Size]
		}
	}
	return b
}

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
