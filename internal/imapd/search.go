package imapd

import (
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// Search evaluates SEARCH criteria over the messages the client knows.
// Flags, sizes, dates and UIDs come from metadata; header criteria read
// only headers; BODY and TEXT read whole messages (decoded text parts).
func (sess *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	all := sess.resolve(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}})
	var lastSeq, lastUID uint32
	if n := len(all); n > 0 {
		lastSeq, lastUID = all[n-1].seq, all[n-1].uid
	}
	need := searchNeed(criteria)
	sc := searcher{sess: sess, lastSeq: lastSeq, lastUID: lastUID}
	all = restrictTargets(all, criteria, lastSeq, lastUID)
	all, err := sess.headerCandidates(all, criteria)
	if err != nil {
		return nil, sess.storeError("search", err)
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for len(all) > 0 {
		ctx, cancel := sess.ctx()
		msgs, n, err := sess.loadChunk(ctx, all[:min(len(all), fetchChunk)], need)
		cancel()
		if err != nil {
			return nil, sess.storeError("search", err)
		}
		chunk := all[:n]
		all = all[n:]
		byUID := make(map[uint32]*store.LoadedMessage, len(msgs))
		for i := range msgs {
			byUID[msgs[i].UID] = &msgs[i]
		}
		for _, t := range chunk {
			m := byUID[t.uid]
			if m == nil {
				continue
			}
			c := candidate{seq: t.seq, msg: m}
			if !sc.match(&c, criteria) {
				continue
			}
			num := t.seq
			if kind == imapserver.NumKindUID {
				num = t.uid
				uids.AddNum(imap.UID(t.uid))
			} else {
				seqs.AddNum(t.seq)
			}
			if data.Min == 0 {
				data.Min = num
			}
			data.Max = num
			data.Count++
		}
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
		if uids == nil {
			data.All = imap.UIDSet{}
		}
	} else {
		data.All = seqs
		if seqs == nil {
			data.All = imap.SeqSet{}
		}
	}
	return data, nil
}

// restrictTargets keeps the messages that the top-level sequence and UID
// sets of c can match, so that "SEARCH 1:10000 BODY x" in a big mailbox
// loads 10,000 messages, not all of them. match still checks every
// criterion.
func restrictTargets(all []target, c *imap.SearchCriteria, lastSeq, lastUID uint32) []target {
	if len(c.SeqNum) == 0 && len(c.UID) == 0 {
		return all
	}
	seqs := make([]imap.SeqSet, len(c.SeqNum))
	for i, set := range c.SeqNum {
		seqs[i] = staticSeqSet(set, lastSeq)
	}
	uids := make([]imap.UIDSet, len(c.UID))
	for i, set := range c.UID {
		uids[i] = staticUIDSet(set, lastUID)
	}
	out := make([]target, 0, len(all))
next:
	for _, t := range all {
		for _, set := range seqs {
			if !set.Contains(t.seq) {
				continue next
			}
		}
		for _, set := range uids {
			if !set.Contains(imap.UID(t.uid)) {
				continue next
			}
		}
		out = append(out, t)
	}
	return out
}

// headerCandidatesMin is the fewest messages for which a header search
// asks the store for candidates: that query walks the whole mailbox,
// while parsing a header costs a few microseconds. (A variable for tests.)
var headerCandidatesMin = 256

// headerCandidates keeps the messages that can match the top-level
// header criteria of c (FROM, TO, CC, BCC, SUBJECT and HEADER on those
// fields) by what the store keeps of those fields (store.HeaderCandidates),
// so that only their headers are read and parsed. match still checks
// every criterion.
func (sess *session) headerCandidates(all []target, c *imap.SearchCriteria) ([]target, error) {
	for _, hf := range c.Header {
		if hf.Value == "" || len(all) < headerCandidatesMin {
			continue // "has the field": any message may; or few enough to parse
		}
		ctx, cancel := sess.ctx()
		uids, ok, err := sess.srv.opts.Store.HeaderCandidates(ctx, sess.sel.mailbox.ID, hf.Key, hf.Value)
		cancel()
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		// Both lists ascend by UID (sequence numbers follow UIDs).
		out := all[:0:0]
		j := 0
		for _, t := range all {
			for j < len(uids) && uids[j] < t.uid {
				j++
			}
			if j < len(uids) && uids[j] == t.uid {
				out = append(out, t)
			}
		}
		all = out
	}
	return all, nil
}

// searchNeed is how much of each message the criteria read.
func searchNeed(c *imap.SearchCriteria) store.BodyPart {
	need := store.BodyNone
	if len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		need = store.BodyHeader
	}
	if len(c.Body) > 0 || len(c.Text) > 0 {
		return store.BodyFull
	}
	for i := range c.Not {
		need = max(need, searchNeed(&c.Not[i]))
	}
	for i := range c.Or {
		need = max(need, searchNeed(&c.Or[i][0]), searchNeed(&c.Or[i][1]))
	}
	return need
}

type searcher struct {
	sess             *session
	lastSeq, lastUID uint32
}

// candidate is a message under test, with its parsed parts cached.
type candidate struct {
	seq    uint32
	msg    *store.LoadedMessage
	header *mail.Header
	text   *string // decoded body text, lower-cased
}

func (c *candidate) mailHeader() *mail.Header {
	if c.header == nil {
		h := readHeader(c.msg.Data)
		c.header = &mail.Header{Header: message.Header{Header: h}}
	}
	return c.header
}

func (c *candidate) bodyText() string {
	if c.text == nil {
		t := strings.ToLower(decodedText(c.msg.Data))
		c.text = &t
	}
	return *c.text
}

func (s *searcher) match(c *candidate, cr *imap.SearchCriteria) bool {
	m := c.msg
	for _, set := range cr.SeqNum {
		if set := staticSeqSet(set, s.lastSeq); !set.Contains(c.seq) {
			return false
		}
	}
	for _, set := range cr.UID {
		if set := staticUIDSet(set, s.lastUID); !set.Contains(imap.UID(m.UID)) {
			return false
		}
	}
	if !matchDate(m.InternalDate, cr.Since, cr.Before) {
		return false
	}
	if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		sent, err := c.mailHeader().Date()
		if err != nil || !matchDate(sent, cr.SentSince, cr.SentBefore) {
			return false
		}
	}
	for _, f := range cr.Flag {
		if !s.hasFlag(m, f) {
			return false
		}
	}
	for _, f := range cr.NotFlag {
		if s.hasFlag(m, f) {
			return false
		}
	}
	if cr.Larger > 0 && m.Size <= cr.Larger {
		return false
	}
	if cr.Smaller > 0 && m.Size >= cr.Smaller {
		return false
	}
	for _, hf := range cr.Header {
		if !mayContain(c.msg.Data, hf.Value) || !matchHeader(c.mailHeader(), hf.Key, hf.Value) {
			return false
		}
	}
	for _, b := range cr.Body {
		if !strings.Contains(c.bodyText(), strings.ToLower(b)) {
			return false
		}
	}
	for _, t := range cr.Text {
		t = strings.ToLower(t)
		if !strings.Contains(c.bodyText(), t) && !headerContains(c.mailHeader(), t) {
			return false
		}
	}
	for i := range cr.Not {
		if s.match(c, &cr.Not[i]) {
			return false
		}
	}
	for i := range cr.Or {
		if !s.match(c, &cr.Or[i][0]) && !s.match(c, &cr.Or[i][1]) {
			return false
		}
	}
	return true
}

func (s *searcher) hasFlag(m *store.LoadedMessage, f imap.Flag) bool {
	if strings.EqualFold(string(f), `\Recent`) {
		return s.sess.isRecent(m.UID)
	}
	sys, kw := store.ParseFlags([]string{string(f)})
	if sys != 0 {
		return m.Flags&sys == sys
	}
	for _, k := range m.Keywords {
		if len(kw) > 0 && strings.EqualFold(k, kw[0]) {
			return true
		}
	}
	return false
}

// matchDate compares the date of t, in its own zone and ignoring the
// time, with SINCE (inclusive) and BEFORE (exclusive) (RFC 3501 6.4.4).
func matchDate(t, since, before time.Time) bool {
	if since.IsZero() && before.IsZero() {
		return true
	}
	y, mo, d := t.Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && day.Before(since) {
		return false
	}
	if !before.IsZero() && !day.Before(before) {
		return false
	}
	return true
}

// mayContain is a cheap test before parsing a header: false only when
// value cannot be in any decoded field of the header of data. It can
// tell only for a plain ASCII value without white space (which no line
// folding splits) and a header without encoded words; parsing the header
// of each of 100,000 messages was most of a SEARCH SUBJECT.
func mayContain(data []byte, value string) bool {
	if value == "" {
		return true
	}
	for i := 0; i < len(value); i++ {
		if b := value[i]; b >= 0x80 || b <= ' ' {
			return true
		}
	}
	h := data[:mailmsg.HeaderEnd(data)]
	if bytes.Contains(h, []byte("=?")) {
		return true
	}
	for _, b := range h {
		if b >= 0x80 { // raw UTF-8: Unicode case folding is not ASCII's
			return true
		}
	}
	first := lowerASCII(value[0])
	for i := 0; i+len(value) <= len(h); i++ {
		if lowerASCII(h[i]) != first {
			continue
		}
		j := 1
		for j < len(value) && lowerASCII(h[i+j]) == lowerASCII(value[j]) {
			j++
		}
		if j == len(value) {
			return true
		}
	}
	return false
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// matchHeader: the field exists and contains value, case-insensitively,
// after decoding encoded words. An empty value matches any such field.
// store.HeaderCandidates relies on this being a substring test of
// store.FoldHeaderValue(field) for strings.ToLower(value).
func matchHeader(h *mail.Header, key, value string) bool {
	value = strings.ToLower(value)
	for f := h.FieldsByKey(key); f.Next(); {
		if strings.Contains(store.FoldHeaderValue(f.Value()), value) {
			return true
		}
	}
	return false
}

func headerContains(h *mail.Header, value string) bool {
	for f := h.Fields(); f.Next(); {
		if strings.Contains(store.FoldHeaderValue(f.Value()), value) {
			return true
		}
	}
	return false
}

// decodedText returns the message's text parts with transfer encodings
// and charsets decoded; if the MIME structure cannot be read, the raw body.
func decodedText(data []byte) string {
	e, err := message.Read(messageReader(data))
	if e == nil {
		return string(data[mailmsg.HeaderEnd(data):])
	}
	_ = err // unknown charset or encoding: e is still usable
	var sb strings.Builder
	// A part that cannot be read ends the walk: the text read so far is
	// searched, as for a message whose structure cannot be read at all.
	_ = e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil || part.MultipartReader() != nil {
			return nil
		}
		t, _, _ := part.Header.ContentType()
		if t == "" || strings.HasPrefix(t, "text/") || strings.HasPrefix(t, "message/") {
			b, _ := io.ReadAll(io.LimitReader(part.Body, 16<<20))
			sb.Write(b)
			sb.WriteByte('\n')
		}
		return nil
	})
	return sb.String()
}

func staticSeqSet(set imap.SeqSet, last uint32) imap.SeqSet {
	out := make(imap.SeqSet, len(set))
	for i, r := range set {
		out[i].Start, out[i].Stop = staticRange(r.Start, r.Stop, last)
	}
	return out
}

func staticUIDSet(set imap.UIDSet, last uint32) imap.UIDSet {
	out := make(imap.UIDSet, len(set))
	for i, r := range set {
		s, e := staticRange(uint32(r.Start), uint32(r.Stop), last)
		out[i].Start, out[i].Stop = imap.UID(s), imap.UID(e)
	}
	return out
}
