package imapd

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// cmdSearch evaluates SEARCH over the messages the client knows. Flags,
// sizes, dates and UIDs come from metadata; header keys read only
// headers; BODY and TEXT read the decoded text parts, of a large message
// as a stream (searchtext.go). The
// answer is SEARCH, or ESEARCH with RETURN or for an IMAP4rev2 client;
// RETURN (SAVE) keeps the result for "$" (RFC 5182).
func (c *conn) cmdSearch(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Search)
	switch args.Charset {
	case "", "UTF-8", "US-ASCII":
	default:
		return "", no(wire.CodeBadCharset(c.charsets()), "Unsupported charset")
	}
	withModSeq := usesModSeq(args.Key)
	c.condstore = c.condstore || withModSeq
	matches, modseq, err := c.search(args.Key)
	if err != nil {
		return "", err
	}
	if !withModSeq {
		modseq = 0
	}
	return "", c.searchAnswer(cmd, args, matches, uint64(max(modseq, 0)))
}

func (c *conn) charsets() []string { return []string{"UTF-8", "US-ASCII"} }

func usesModSeq(k *wire.SearchKey) bool {
	if k.Key == "MODSEQ" {
		return true
	}
	for i := range k.Children {
		if usesModSeq(&k.Children[i]) {
			return true
		}
	}
	return false
}

// search returns the messages that match key, in ascending order, and
// the highest modseq among them.
func (c *conn) search(key *wire.SearchKey) ([]target, int64, error) {
	sc := searcher{c: c}
	if n := len(c.sel.uids); n > 0 {
		sc.lastSeq, sc.lastUID = uint32(n), c.sel.uids[n-1]
	}
	if set, unset, ok := flagMasks(key); ok {
		return c.searchFlagMasks(&sc, key, set, unset)
	}
	all := c.resolve(wire.SeqSet{Ranges: []wire.Range{{Start: 1, Stop: 0}}}, false)
	all = sc.restrict(all, key)
	if field, value, ok := headerOnly(key); ok && len(all) >= headerCandidatesMin {
		return c.searchHeader(all, &sc, key, field, value)
	}
	all, err := c.headerCandidates(all, key)
	if err != nil {
		return nil, 0, c.storeError("search", err)
	}
	if flagsOnly(key) {
		return c.searchFlags(all, &sc, key)
	}
	return c.searchLoaded(all, &sc, key)
}

// headerOnly returns the field and value of a key that tests one header
// field kept in the store's header_search table (FROM, TO, CC, BCC,
// SUBJECT, or HEADER on one of those) beside sequence and UID sets.
func headerOnly(key *wire.SearchKey) (field, value string, ok bool) {
	if key.Key != "AND" {
		return "", "", false
	}
	for i := range key.Children {
		k := &key.Children[i]
		f, isHeader := headerKeys[k.Key]
		if k.Key == "HEADER" {
			f, isHeader = k.Field, true
		}
		switch {
		case k.Key == "SEQSET" || k.Key == "UID" || k.Key == "ALL":
		case isHeader && k.Str != "" && !ok:
			field, value, ok = f, k.Str, true
		default:
			return "", "", false
		}
	}
	return field, value, ok
}

// searchHeader answers a headerOnly key over the messages of all: the
// store's kept field values say which match (store.HeaderMatches) without
// reading a message; only messages the table lacks are read and matched.
func (c *conn) searchHeader(all []target, sc *searcher, key *wire.SearchKey, field, value string) ([]target, int64, error) {
	ctx, cancel := c.opCtx()
	sure, maybe, kept, err := c.srv.opts.Store.HeaderMatches(ctx, c.sel.mailbox.ID, field, value)
	cancel()
	if err != nil {
		return nil, 0, c.storeError("search", err)
	}
	if !kept {
		return c.searchLoaded(all, sc, key)
	}
	out := keepUIDs(all, sure)
	if rest := keepUIDs(all, maybe); len(rest) > 0 {
		more, _, err := c.searchLoaded(rest, sc, key)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, more...)
		slices.SortFunc(out, func(a, b target) int { return int(int64(a.seq) - int64(b.seq)) })
	}
	return out, 0, nil
}

// keepUIDs returns the targets of all (ascending) whose UID is in uids
// (ascending).
func keepUIDs(all []target, uids []uint32) []target {
	var out []target
	j := 0
	for _, t := range all {
		for j < len(uids) && uids[j] < t.uid {
			j++
		}
		if j == len(uids) {
			break
		}
		if uids[j] == t.uid {
			out = append(out, t)
		}
	}
	return out
}

// searchLoaded reads the messages of all chunk by chunk and keeps those
// that match the key.
func (c *conn) searchLoaded(all []target, sc *searcher, key *wire.SearchKey) ([]target, int64, error) {
	need := searchNeed(key)
	sc.needles = textNeedles(key, sc.needles[:0])
	var out []target
	var modseq int64
	for len(all) > 0 {
		ctx, cancel := c.opCtx()
		msgs, n, err := c.loadChunk(ctx, all[:min(len(all), fetchChunk)], need)
		cancel()
		if err != nil {
			return nil, 0, c.storeError("search", err)
		}
		chunk := all[:n]
		all = all[n:]
		byUID := make(map[uint32]*store.LoadedMessage, len(msgs))
		for i := range msgs {
			byUID[msgs[i].UID] = &msgs[i]
		}
		for _, t := range chunk {
			if m := byUID[t.uid]; m != nil && sc.match(&candidate{seq: t.seq, msg: m}, key) {
				out = append(out, t)
				modseq = max(modseq, m.ModSeq)
			}
			if sc.err != nil {
				return nil, 0, c.storeError("search", sc.err)
			}
		}
	}
	return out, modseq, nil
}

// flagsOnly tells whether a key tests only flags, keywords, sequence
// numbers and UIDs: the store's flag cache answers those without reading
// a row per message (UID SEARCH UNSEEN on a big mailbox).
func flagsOnly(k *wire.SearchKey) bool {
	switch k.Key {
	case "AND", "NOT", "OR":
		for i := range k.Children {
			if !flagsOnly(&k.Children[i]) {
				return false
			}
		}
		return true
	case "SEQSET", "UID", "ALL", "RECENT", "NEW", "OLD", "KEYWORD", "UNKEYWORD":
		return true
	}
	_, ok := flagKeys[k.Key]
	return ok
}

// flagMasks reduces a key that only asks for system flags set or unset
// (UNSEEN; FLAGGED UNDELETED; NOT SEEN), beside the sequence sets and
// UID sets restrict has applied, to the flags that must be set and
// unset.
func flagMasks(key *wire.SearchKey) (set, unset store.Flags, ok bool) {
	keys := []wire.SearchKey{*key}
	if key.Key == "AND" {
		keys = key.Children
	}
	for i := range keys {
		k, want := &keys[i], true
		if k.Key == "NOT" && len(k.Children) == 1 {
			k, want = &k.Children[0], false
		}
		f, isFlag := flagKeys[k.Key]
		switch {
		case want && (k.Key == "ALL" || ((k.Key == "SEQSET" || k.Key == "UID") && key.Key == "AND")):
		case !isFlag:
			return 0, 0, false
		case f.set == want:
			set |= f.flag
		default:
			unset |= f.flag
		}
	}
	return set, unset, true
}

// searchFlagMasks answers a flagMasks key from the store's flag cache
// (store.UIDsWithFlags): only the messages found are mapped to sequence
// numbers, then kept if in the key's sequence and UID sets.
func (c *conn) searchFlagMasks(sc *searcher, key *wire.SearchKey, set, unset store.Flags) ([]target, int64, error) {
	ctx, cancel := c.opCtx()
	defer cancel()
	uids, err := c.srv.opts.Store.UIDsWithFlags(ctx, c.sel.mailbox.ID, set, unset)
	if err != nil {
		return nil, 0, c.storeError("search", err)
	}
	return sc.restrict(c.resolveUIDs(uids), key), 0, nil
}

// searchFlags is search for a flagsOnly key, over store.LoadFlags (whose
// batches come in ascending UID order, as all is).
func (c *conn) searchFlags(all []target, sc *searcher, key *wire.SearchKey) ([]target, int64, error) {
	var out []target
	var m store.LoadedMessage
	cand := candidate{msg: &m}
	i := 0
	ctx, cancel := c.opCtx()
	defer cancel()
	err := c.srv.opts.Store.LoadFlags(ctx, c.sel.mailbox.ID, targetUIDs(all), func(batch []store.MessageFlags) error {
		for _, f := range batch {
			for i < len(all) && all[i].uid < f.UID {
				i++
			}
			if i == len(all) || all[i].uid != f.UID {
				continue
			}
			m.UID, m.Flags, m.Keywords = f.UID, f.Flags, f.Keywords
			if cand.seq = all[i].seq; sc.match(&cand, key) {
				out = append(out, all[i])
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, c.storeError("search", err)
	}
	return out, 0, nil
}

// searchAnswer writes SEARCH or ESEARCH, and saves the result for "$".
func (c *conn) searchAnswer(cmd *wire.Command, args *wire.Search, ts []target, modseq uint64) error {
	num := func(t target) uint32 {
		if cmd.UID {
			return t.uid
		}
		return t.seq
	}
	opts := map[string]bool{}
	for _, o := range args.Return {
		opts[o] = true
	}
	if args.ESearch && len(args.Return) == 0 {
		opts["ALL"] = true
	}
	if opts["SAVE"] {
		c.saveResult(ts, opts)
	}
	if !args.ESearch && !c.rev2 {
		nums := make([]uint32, len(ts))
		for i, t := range ts {
			nums[i] = num(t)
		}
		return c.enc.Search(nums, modseq)
	}
	if !args.ESearch {
		opts["ALL"] = true
	}
	if opts["SAVE"] && len(opts) == 1 {
		return nil // SAVE alone: no ESEARCH (RFC 5182 2.4)
	}
	r := wire.ESearchResult{Tag: cmd.Tag, UID: cmd.UID, ModSeq: modseq}
	if len(ts) > 0 {
		r.Min, r.HasMin = num(ts[0]), opts["MIN"]
		r.Max, r.HasMax = num(ts[len(ts)-1]), opts["MAX"]
		if opts["ALL"] {
			nums := make([]uint32, len(ts))
			for i, t := range ts {
				nums[i] = num(t)
			}
			r.All = uidSet(nums)
		}
	}
	r.Count, r.HasCount = uint32(len(ts)), opts["COUNT"]
	return c.enc.ESearch(r)
}

// saveResult keeps a search result for "$": all of it, or only the MIN
// and MAX asked for without ALL or COUNT (RFC 5182 2.1).
func (c *conn) saveResult(ts []target, opts map[string]bool) {
	c.saved = c.saved[:0:0]
	if len(ts) == 0 {
		return
	}
	if (opts["MIN"] || opts["MAX"]) && !opts["ALL"] && !opts["COUNT"] {
		if opts["MIN"] {
			c.saved = append(c.saved, ts[0].uid)
		}
		if opts["MAX"] && (len(ts) > 1 || !opts["MIN"]) {
			c.saved = append(c.saved, ts[len(ts)-1].uid)
		}
		return
	}
	c.saved = targetUIDs(ts)
}

// restrict keeps the messages that the top-level sequence and UID sets of
// key can match, so that "SEARCH 1:10000 BODY x" in a big mailbox loads
// 10,000 messages, not all of them. match still checks every key.
func (s *searcher) restrict(all []target, key *wire.SearchKey) []target {
	for i := range key.Children {
		k := &key.Children[i]
		if k.Key != "SEQSET" && k.Key != "UID" {
			continue
		}
		out := all[:0:0]
		for _, t := range all {
			if s.inSet(k, t.seq, t.uid) {
				out = append(out, t)
			}
		}
		all = out
	}
	return all
}

// headerCandidatesMin is the fewest messages for which a header search
// asks the store for candidates: that query walks the whole mailbox,
// while parsing a header costs a few microseconds. (A variable for tests.)
var headerCandidatesMin = 256

// headerKeys maps the search keys on a header field to the field.
var headerKeys = map[string]string{"FROM": "From", "TO": "To", "CC": "Cc", "BCC": "Bcc", "SUBJECT": "Subject"}

// headerCandidates keeps the messages that can match the top-level
// header keys (FROM, TO, CC, BCC, SUBJECT, HEADER) by what the store keeps
// of those fields (store.HeaderCandidates), so that only their headers
// are read and parsed. match still checks every key.
func (c *conn) headerCandidates(all []target, key *wire.SearchKey) ([]target, error) {
	for i := range key.Children {
		k := &key.Children[i]
		field, ok := headerKeys[k.Key]
		if k.Key == "HEADER" {
			field, ok = k.Field, true
		}
		if !ok || k.Str == "" || len(all) < headerCandidatesMin {
			continue // "has the field": any message may; or few enough to parse
		}
		ctx, cancel := c.opCtx()
		uids, ok, err := c.srv.opts.Store.HeaderCandidates(ctx, c.sel.mailbox.ID, field, k.Str)
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

// searchNeed is how much of each message the keys read.
func searchNeed(k *wire.SearchKey) store.BodyPart {
	switch k.Key {
	case "BODY", "TEXT":
		return store.BodyStream // a large body is read as a stream (scanStreamed)
	case "FROM", "TO", "CC", "BCC", "SUBJECT", "HEADER", "SENTBEFORE", "SENTON", "SENTSINCE":
		return store.BodyHeader
	}
	need := store.BodyNone
	for i := range k.Children {
		need = max(need, searchNeed(&k.Children[i]))
	}
	return need
}

type searcher struct {
	c                *conn
	lastSeq, lastUID uint32
	// needles are the texts of the key's BODY and TEXT keys, lower case:
	// a streamed message is scanned once for all of them.
	needles []string
	err     error // a streamed body that could not be read
}

// candidate is a message under test, with its parsed parts cached.
type candidate struct {
	seq    uint32
	msg    *store.LoadedMessage
	header *mail.Header
	text   *string         // decoded body text, lower-cased
	found  map[string]bool // of a streamed message: which needles its text holds
}

// textNeedles appends to out the texts of k's BODY and TEXT keys, lower
// case, each once.
func textNeedles(k *wire.SearchKey, out []string) []string {
	if k.Key == "BODY" || k.Key == "TEXT" {
		if n := strings.ToLower(k.Str); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for i := range k.Children {
		out = textNeedles(&k.Children[i], out)
	}
	return out
}

// bodyHas reports whether the candidate's text holds needle (lower
// case): in memory for a message loaded whole, else scanned from the
// store (once for all the search's needles).
func (s *searcher) bodyHas(c *candidate, needle string) bool {
	if !c.msg.Streamed {
		return strings.Contains(c.bodyText(), needle)
	}
	if c.found == nil {
		found, err := s.c.scanStreamed(c.msg, s.needles)
		if err != nil {
			s.err = cmp.Or(s.err, err)
			found = map[string]bool{}
		}
		c.found = found
	}
	return c.found[needle]
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

func (s *searcher) inSet(k *wire.SearchKey, seq, uid uint32) bool {
	if k.Seq.Saved {
		_, ok := slicesBinarySearch(s.c.saved, uid)
		return ok
	}
	if k.Key == "UID" {
		return k.Seq.Contains(uid, s.lastUID)
	}
	return k.Seq.Contains(seq, s.lastSeq)
}

func (s *searcher) match(c *candidate, k *wire.SearchKey) bool {
	m := c.msg
	switch k.Key {
	case "AND":
		for i := range k.Children {
			if !s.match(c, &k.Children[i]) {
				return false
			}
		}
		return true
	case "NOT":
		return !s.match(c, &k.Children[0])
	case "OR":
		return s.match(c, &k.Children[0]) || s.match(c, &k.Children[1])
	case "SEQSET", "UID":
		return s.inSet(k, c.seq, m.UID)
	case "BEFORE", "ON", "SINCE":
		return matchDay(m.InternalDate, k)
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		sent, err := c.mailHeader().Date()
		return err == nil && matchDay(sent, k)
	case "LARGER":
		return m.Size > int64(k.Num)
	case "SMALLER":
		return m.Size < int64(k.Num)
	case "MODSEQ":
		return m.ModSeq >= int64(min(k.Num, 1<<63-1))
	case "OLDER":
		return time.Since(m.InternalDate) >= time.Duration(k.Num)*time.Second
	case "YOUNGER":
		return time.Since(m.InternalDate) <= time.Duration(k.Num)*time.Second
	}
	return s.matchContent(c, k)
}

// matchContent tests the flag, header and text keys.
func (s *searcher) matchContent(c *candidate, k *wire.SearchKey) bool {
	m := c.msg
	if f, ok := flagKeys[k.Key]; ok {
		return (m.Flags&f.flag != 0) == f.set
	}
	switch k.Key {
	case "ALL":
		return true
	case "RECENT", "NEW", "OLD":
		recent := s.c.sel.recent[m.UID]
		if k.Key == "OLD" {
			return !recent
		}
		return recent && (k.Key == "RECENT" || m.Flags&store.FlagSeen == 0)
	case "KEYWORD", "UNKEYWORD":
		if strings.HasPrefix(k.Str, `\`) {
			return s.systemFlag(m, k.Str) == (k.Key == "KEYWORD")
		}
		has := false
		for _, kw := range m.Keywords {
			has = has || strings.EqualFold(kw, k.Str)
		}
		return has == (k.Key == "KEYWORD")
	case "FROM", "TO", "CC", "BCC", "SUBJECT", "HEADER":
		field := headerKeys[k.Key]
		if k.Key == "HEADER" {
			field = k.Field
		}
		return mayContain(m.Data, k.Str) && matchHeader(c.mailHeader(), field, k.Str)
	case "BODY":
		return s.bodyHas(c, strings.ToLower(k.Str))
	case "TEXT":
		t := strings.ToLower(k.Str)
		return s.bodyHas(c, t) || headerContains(c.mailHeader(), t)
	}
	return false
}

// systemFlag tests a system flag named as a keyword.
func (s *searcher) systemFlag(m *store.LoadedMessage, name string) bool {
	if strings.EqualFold(name, `\Recent`) {
		return s.c.sel.recent[m.UID]
	}
	f, _ := store.ParseFlags([]string{name})
	return f != 0 && m.Flags&f == f
}

var flagKeys = map[string]struct {
	flag store.Flags
	set  bool
}{
	"ANSWERED": {store.FlagAnswered, true}, "UNANSWERED": {store.FlagAnswered, false},
	"DELETED": {store.FlagDeleted, true}, "UNDELETED": {store.FlagDeleted, false},
	"DRAFT": {store.FlagDraft, true}, "UNDRAFT": {store.FlagDraft, false},
	"FLAGGED": {store.FlagFlagged, true}, "UNFLAGGED": {store.FlagFlagged, false},
	"SEEN": {store.FlagSeen, true}, "UNSEEN": {store.FlagSeen, false},
}

// matchDay compares the date of t, in its own zone and ignoring the
// time, with the key's date (RFC 3501 6.4.4).
func matchDay(t time.Time, k *wire.SearchKey) bool {
	y, mo, d := t.Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	switch k.Key {
	case "BEFORE", "SENTBEFORE":
		return day.Before(k.Date)
	case "ON", "SENTON":
		return day.Equal(k.Date)
	}
	return !day.Before(k.Date)
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

func slicesBinarySearch(l []uint32, v uint32) (int, bool) { return slices.BinarySearch(l, v) }
