package imapd

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

// update is one queued event.
type update struct{ ev store.Event }

// view is the feed's side of a session's selected mailbox: the events
// not yet told to the client. The session's own side is selection.
type view struct {
	readOnly bool
	origin   uintptr
	notify   chan struct{} // signalled (capacity 1) when an event is queued

	mu      sync.Mutex
	pending []update
	maxUID  uint32 // highest UID the session knows or has queued
}

// queue adds an event; a new message the session already knows (SELECT
// read it before its event came) and the session's own flag changes (its
// STORE answers them) are skipped.
func (v *view) queue(e store.Event) {
	v.mu.Lock()
	switch e.Kind {
	case store.EventNewMessage:
		if e.UID <= v.maxUID {
			v.mu.Unlock()
			return
		}
		v.maxUID = e.UID
	case store.EventFlags:
		if e.Origin == v.origin && e.Origin != 0 {
			v.mu.Unlock()
			return
		}
	case store.EventExpunge:
	default:
		v.mu.Unlock()
		return
	}
	v.pending = append(v.pending, update{e})
	v.mu.Unlock()
	select {
	case v.notify <- struct{}{}:
	default:
	}
}

func (v *view) take() []update {
	v.mu.Lock()
	defer v.mu.Unlock()
	q := v.pending
	v.pending = nil
	return q
}

// putBack queues again what could not be told yet, ahead of newer events.
func (v *view) putBack(rest []update) {
	if len(rest) == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pending = append(rest, v.pending...)
}

// selection is the session's side of its selected mailbox.
type selection struct {
	mailbox  store.Mailbox
	view     *view
	readOnly bool
	// uids is the client's view: sequence number i+1 is uids[i].
	uids []uint32
	// recent holds the UIDs that are \Recent to this session.
	recent map[uint32]bool
	// keywords are those the client was told of in FLAGS, lower case.
	keywords map[string]bool
	kwList   []string
}

// target is a message a command addresses: its sequence number and UID.
type target struct{ seq, uid uint32 }

// resolve maps a sequence or UID set to the messages it names, in
// ascending order, each once. "*" is the last message the client knows;
// "$" is the saved search result. The ranges are merged first, so a set
// of thousands of overlapping ranges costs no more than the mailbox.
func (c *conn) resolve(set wire.SeqSet, byUID bool) []target {
	s := c.sel
	n := uint32(len(s.uids))
	if n == 0 {
		return nil
	}
	if set.Saved {
		return c.resolveUIDs(c.saved)
	}
	star := n
	if byUID {
		star = s.uids[n-1]
	}
	ivs := make([][2]uint32, 0, len(set.Ranges))
	for _, r := range set.Ranges {
		lo, hi := r.Bounds(star)
		ivs = append(ivs, [2]uint32{lo, hi})
	}
	if len(ivs) > 1 {
		slices.SortFunc(ivs, func(a, b [2]uint32) int { return int(int64(a[0]) - int64(b[0])) })
	}
	var out []target
	var done uint32 // everything up to done is covered
	for _, iv := range ivs {
		lo, hi := max(iv[0], done+1), iv[1]
		if lo > hi || (done == ^uint32(0)) {
			continue
		}
		done = hi
		if !byUID {
			for q := lo; q <= min(hi, n); q++ {
				out = append(out, target{q, s.uids[q-1]})
			}
			continue
		}
		i, _ := slices.BinarySearch(s.uids, lo)
		for ; i < len(s.uids) && s.uids[i] <= hi; i++ {
			out = append(out, target{uint32(i + 1), s.uids[i]})
		}
	}
	return out
}

// resolveUIDs maps a list of UIDs (ascending) to the messages present.
// checkSeqs refuses a message sequence number above the session's
// EXISTS (RFC 9051 9: a number past the last message is an error; a UID
// set may name UIDs that are gone). '*' is always valid.
func (c *conn) checkSeqs(set wire.SeqSet, byUID bool) error {
	if byUID || set.Saved {
		return nil
	}
	n := uint32(len(c.sel.uids))
	for _, r := range set.Ranges {
		if r.Start > n || r.Stop > n {
			return bad("Invalid message sequence number: the mailbox has " + strconv.FormatUint(uint64(n), 10))
		}
	}
	return nil
}

func (c *conn) resolveUIDs(uids []uint32) []target {
	var out []target
	for _, u := range uids {
		if i, ok := slices.BinarySearch(c.sel.uids, u); ok {
			out = append(out, target{uint32(i + 1), u})
		}
	}
	return out
}

func targetUIDs(ts []target) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.uid
	}
	return out
}

// sendUpdates tells the client what changed in the selected mailbox:
// EXISTS (and RECENT) for new messages first (their UIDs are above all
// others, so no sequence number moves), then EXPUNGE and FETCH FLAGS in
// commit order. Without expunges (during FETCH, STORE and SEARCH by
// sequence number) it stops before the first expunge.
func (c *conn) sendUpdates(expunges bool) {
	s := c.sel
	c.feed.pump()
	q := s.view.take()
	if len(q) == 0 {
		return
	}
	added, recent := 0, false
	for _, u := range q {
		if u.ev.Kind != store.EventNewMessage {
			continue
		}
		s.uids = append(s.uids, u.ev.UID)
		recent = recent || u.ev.Flags&store.FlagRecent != 0
		c.announceKeywords(u.ev.Keywords)
		added++
	}
	if recent && !s.readOnly {
		c.takeRecent()
	}
	if added > 0 {
		written(c.enc.Exists(uint32(len(s.uids))))
		if !c.rev2 {
			written(c.enc.Recent(uint32(len(s.recent))))
		}
	}
	for i := 0; i < len(q); i++ {
		u := q[i]
		switch u.ev.Kind {
		case store.EventExpunge:
			if !expunges {
				var rest []update
				for _, r := range q[i:] {
					if r.ev.Kind != store.EventNewMessage {
						rest = append(rest, r)
					}
				}
				s.view.putBack(rest)
				return
			}
			i += c.expungeRun(q[i:]) - 1
		case store.EventFlags:
			c.flagsUpdate(u.ev)
		}
	}
}

// takeRecent makes the mailbox's \Recent messages this session's: the
// store clears the flag and tells which messages had it, so each is
// recent to exactly one session (RFC 3501 2.3.2), the first to ask.
func (c *conn) takeRecent() {
	ctx, cancel := c.opCtx()
	defer cancel()
	uids, err := c.srv.opts.Store.ClearRecent(ctx, c.sel.mailbox.ID)
	if err != nil {
		c.log.Warn("imap: taking the recent messages failed", "err", err)
		return
	}
	for _, u := range uids {
		c.sel.recent[u] = true
	}
}

// expungeRun writes EXPUNGE for the run of expunge events at the start of
// q, removing them from the view with one pass over it, and says how many
// events it took.
func (c *conn) expungeRun(q []update) int {
	s := c.sel
	drop := make(map[int]bool)
	n := 0
	last := -1
	var vanished []uint32
	for ; n < len(q) && q[n].ev.Kind == store.EventExpunge; n++ {
		uid := q[n].ev.UID
		i, ok := slices.BinarySearch(s.uids, uid)
		if !ok || drop[i] {
			continue
		}
		if i < last { // not ascending: settle what is marked first
			s.uids = compact(s.uids, drop)
			drop = map[int]bool{}
			i, _ = slices.BinarySearch(s.uids, uid)
		}
		// Earlier removals in this run all sit below i.
		if c.qresync {
			vanished = append(vanished, uid) // RFC 7162 3.2.10
		} else {
			written(c.enc.Expunge(uint32(i + 1 - len(drop))))
		}
		drop[i] = true
		last = i
		delete(s.recent, uid)
	}
	s.uids = compact(s.uids, drop)
	if len(vanished) > 0 {
		slices.Sort(vanished)
		written(c.enc.Vanished(uidSet(vanished), false))
	}
	return n
}

// compact removes the marked positions from uids.
func compact(uids []uint32, drop map[int]bool) []uint32 {
	if len(drop) == 0 {
		return uids
	}
	out := uids[:0]
	for i, u := range uids {
		if !drop[i] {
			out = append(out, u)
		}
	}
	return out
}

// flagsUpdate writes an unsolicited FETCH of a message's new flags.
func (c *conn) flagsUpdate(e store.Event) {
	s := c.sel
	i, ok := slices.BinarySearch(s.uids, e.UID)
	if !ok {
		return
	}
	c.announceKeywords(e.Keywords)
	c.enc.FetchStart(uint32(i + 1)).FetchUID(e.UID)
	c.writeFlagsItem(e.Flags, e.Keywords, s.recent[e.UID])
	if c.condstore {
		c.enc.FetchModSeq(uint64(max(e.ModSeq, 0)))
	}
	written(c.enc.FetchEnd())
}

// announceKeywords sends FLAGS and PERMANENTFLAGS before a keyword the
// client has not been told of is first shown (RFC 3501 7.2.6).
func (c *conn) announceKeywords(kw []string) {
	s := c.sel
	fresh := false
	for _, k := range kw {
		if l := strings.ToLower(k); !s.keywords[l] {
			s.keywords[l] = true
			s.kwList = append(s.kwList, k)
			fresh = true
		}
	}
	if fresh {
		c.writeFlagLists()
	}
}

var systemFlags = []string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`}

// writeFlagLists writes FLAGS and PERMANENTFLAGS of the selection.
func (c *conn) writeFlagLists() {
	s := c.sel
	flags := append(slices.Clone(systemFlags), s.kwList...)
	written(c.enc.FlagsResponse(flags))
	perm := []string{}
	if !s.readOnly {
		perm = append(slices.Clone(flags), `\*`)
	}
	written(c.enc.Status("*", "OK", wire.CodePermanentFlags(perm), "Flags permitted"))
}

// flagText holds "(" and the system flags, by \Recent and the flags below
// store.FlagRecent, so FETCH FLAGS of 100,000 messages builds no string.
var flagText = func() (t [2][store.FlagRecent]string) {
	for r := range 2 {
		for f := range store.FlagRecent {
			names := f.Names()
			if r == 1 {
				names = append(names, `\Recent`)
			}
			t[r][f] = "(" + strings.Join(names, " ")
		}
	}
	return t
}()

// writeFlagsItem writes the FLAGS item of a FETCH response.
func (c *conn) writeFlagsItem(f store.Flags, kw []string, recent bool) {
	c.enc.Item("FLAGS").Bytes(c.appendFlags(c.enc.Line(), f, kw, recent))
}

// appendFlags appends the parenthesised flag list of a message to dst.
func (c *conn) appendFlags(dst []byte, f store.Flags, kw []string, recent bool) []byte {
	r := 0
	if recent && !c.rev2 {
		r = 1
	}
	open := flagText[r][f&(store.FlagRecent-1)]
	dst = append(dst, open...)
	sep := len(open) > 1
	for _, k := range kw {
		if sep {
			dst = append(dst, ' ')
		}
		dst = append(dst, k...)
		sep = true
	}
	return append(dst, ')')
}
