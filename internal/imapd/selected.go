package imapd

import (
	"errors"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"boxmail/internal/store"
)

// selection is the mailbox a session has selected.
type selection struct {
	mailbox store.Mailbox
	state   *mailboxState
	view    *view
}

var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// Select opens a mailbox. SELECT takes the mailbox's \Recent messages
// (store.ClearRecent); EXAMINE leaves them.
func (sess *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if sess.sel != nil {
		sess.unselect()
	}
	ctx, cancel := sess.ctx()
	defer cancel()
	readOnly := options != nil && options.ReadOnly

	// Hold the feed while reading so that no event is applied between the
	// read and the registration of the view (replays are skipped).
	a := sess.feed
	a.mu.Lock()
	a.pumpLocked()
	st, err := sess.srv.opts.Store.SelectMailbox(ctx, sess.acct.ID, name)
	if err != nil {
		a.mu.Unlock()
		return nil, sess.storeError("select", err)
	}
	mb := a.mailboxes[st.Mailbox.ID]
	if mb == nil {
		mb = &mailboxState{
			id:      st.Mailbox.ID,
			tracker: imapserver.NewMailboxTracker(uint32(len(st.UIDs))),
			uids:    st.UIDs,
			views:   map[uintptr]*view{},
		}
		if n := len(st.UIDs); n > 0 {
			mb.maxUID = st.UIDs[n-1]
		}
		a.mailboxes[mb.id] = mb
	}
	v := &view{readOnly: readOnly, recent: map[uint32]bool{}, notify: make(chan struct{}, 1)}
	mb.mu.Lock()
	v.tracker = mb.tracker.NewSession()
	mb.views[sess.origin] = v
	numMessages := uint32(len(mb.uids))
	uidNext := max(st.Mailbox.UIDNext, mb.maxUID+1)
	mb.mu.Unlock()
	a.mu.Unlock()
	sess.sel = &selection{mailbox: st.Mailbox, state: mb, view: v}

	numRecent := st.Recent
	if !readOnly && st.Recent > 0 {
		recent, err := sess.srv.opts.Store.ClearRecent(ctx, st.Mailbox.ID)
		if err != nil {
			sess.unselect()
			return nil, sess.storeError("select", err)
		}
		mb.mu.Lock()
		for _, u := range recent {
			v.recent[u] = true
		}
		mb.mu.Unlock()
		numRecent = uint32(len(recent))
	}

	flags := slices.Clone(systemFlags)
	for _, k := range st.Keywords {
		flags = append(flags, imap.Flag(k))
	}
	perm := append(slices.Clone(flags), imap.FlagWildcard)
	if readOnly {
		perm = []imap.Flag{}
	}
	list := &imap.ListData{Delim: delim, Mailbox: st.Mailbox.Name}
	if st.Mailbox.SpecialUse != "" {
		list.Attrs = []imap.MailboxAttr{imap.MailboxAttr(st.Mailbox.SpecialUse)}
	}
	sess.log.Debug("imap select", "mailbox", st.Mailbox.Name, "messages", numMessages, "read_only", readOnly)
	return &imap.SelectData{
		Flags:             flags,
		PermanentFlags:    perm,
		NumMessages:       numMessages,
		FirstUnseenSeqNum: st.FirstUnseen,
		NumRecent:         numRecent,
		UIDNext:           imap.UID(uidNext),
		UIDValidity:       st.Mailbox.UIDValidity,
		List:              list,
	}, nil
}

func (sess *session) Unselect() error {
	if sess.sel != nil {
		sess.unselect()
	}
	return nil
}

func (sess *session) unselect() {
	a, mb := sess.feed, sess.sel.state
	sess.sel = nil
	a.mu.Lock()
	mb.mu.Lock()
	if v := mb.views[sess.origin]; v != nil {
		delete(mb.views, sess.origin)
		v.tracker.Close()
	}
	if len(mb.views) == 0 {
		delete(a.mailboxes, mb.id)
	}
	mb.mu.Unlock()
	a.mu.Unlock()
}

// target is a message a command addresses: its sequence number as the
// client knows it and its UID.
type target struct {
	seq uint32
	uid uint32
}

// resolve maps a client's sequence or UID set to the messages it names,
// in ascending order. Messages the client has not been told about yet
// (their EXISTS is still queued) are left out; "*" means the last message
// the client knows.
func (sess *session) resolve(numSet imap.NumSet) []target {
	mb, v := sess.sel.state, sess.sel.view
	mb.mu.Lock()
	defer mb.mu.Unlock()
	// The last message in the client's view.
	var lastSeq, lastUID uint32
	for s := uint32(len(mb.uids)); s > 0; s-- {
		if c := v.tracker.EncodeSeqNum(s); c != 0 {
			lastSeq, lastUID = c, mb.uids[s-1]
			break
		}
	}
	var out []target
	switch set := numSet.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := staticRange(r.Start, r.Stop, lastSeq)
			for c := start; c <= stop && c <= lastSeq && c != 0; c++ {
				if s := v.tracker.DecodeSeqNum(c); s != 0 {
					out = append(out, target{seq: c, uid: mb.uids[s-1]})
				}
				if c == ^uint32(0) {
					break
				}
			}
		}
	case imap.UIDSet:
		for _, r := range set {
			start, stop := staticRange(uint32(r.Start), uint32(r.Stop), lastUID)
			i, _ := slices.BinarySearch(mb.uids, start)
			for ; i < len(mb.uids) && mb.uids[i] <= stop; i++ {
				if c := v.tracker.EncodeSeqNum(uint32(i + 1)); c != 0 {
					out = append(out, target{seq: c, uid: mb.uids[i]})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b target) int { return int(int64(a.seq) - int64(b.seq)) })
	return slices.CompactFunc(out, func(a, b target) bool { return a.seq == b.seq })
}

// staticRange resolves "*" (0) to last and orders the bounds.
func staticRange(start, stop, last uint32) (uint32, uint32) {
	if start == 0 {
		start = last
	}
	if stop == 0 {
		stop = last
	}
	if start > stop {
		start, stop = stop, start
	}
	return start, stop
}

func targetUIDs(ts []target) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.uid
	}
	return out
}

// Store changes flags. Unless .SILENT, the new flags are answered with
// FETCH; other sessions get them as unsolicited FETCH.
func (sess *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if sess.sel.view.readOnly {
		return errReadOnly
	}
	ts := sess.resolve(numSet)
	if len(ts) == 0 {
		return nil
	}
	names := make([]string, len(flags.Flags))
	for i, f := range flags.Flags {
		names[i] = string(f)
	}
	f, kw := store.ParseFlags(names)
	op := store.FlagsSet
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = store.FlagsAdd
	case imap.StoreFlagsDel:
		op = store.FlagsRemove
	}
	ctx, cancel := sess.ctx()
	defer cancel()
	metas, err := sess.srv.opts.Store.UpdateFlags(ctx, sess.acct.ID, sess.sel.mailbox.ID, targetUIDs(ts), op, f, kw)
	if err != nil {
		return sess.storeError("store", err)
	}
	sess.feed.pump()
	if flags.Silent {
		return nil
	}
	_, byUID := numSet.(imap.UIDSet)
	byMeta := make(map[uint32]store.MessageMeta, len(metas))
	for _, m := range metas {
		byMeta[m.UID] = m
	}
	for _, t := range ts {
		m, ok := byMeta[t.uid]
		if !ok {
			continue
		}
		rw := w.CreateMessage(t.seq)
		if byUID {
			rw.WriteUID(imap.UID(t.uid))
		}
		rw.WriteFlags(flagList(m.Flags, m.Keywords, sess.isRecent(t.uid)))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// anyRecent reports whether any message is \Recent to this session.
func (sess *session) anyRecent() bool {
	mb := sess.sel.state
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return len(sess.sel.view.recent) > 0
}

func (sess *session) isRecent(uid uint32) bool {
	mb := sess.sel.state
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return sess.sel.view.recent[uid]
}

// Copy copies messages (UIDPLUS: answers COPYUID). Copying into the
// selected mailbox itself is allowed.
func (sess *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	res, err := sess.copy(numSet, dest, false)
	if err != nil {
		return nil, err
	}
	return copyData(res), nil
}

// Move moves messages atomically (RFC 6851). Moving within the same
// mailbox gives the messages new UIDs at the end, as Dovecot does.
func (sess *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if sess.sel.view.readOnly {
		return errReadOnly
	}
	res, err := sess.copy(numSet, dest, true)
	if err != nil {
		return err
	}
	if data := copyData(res); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	// The expunges are queued on our own tracker like everyone else's;
	// write them now if go-imap has given us a writer that may.
	if sess.updates != nil {
		return sess.sel.view.tracker.Poll(sess.updates, true)
	}
	return nil
}

func (sess *session) copy(numSet imap.NumSet, dest string, move bool) (store.CopyResult, error) {
	ts := sess.resolve(numSet)
	ctx, cancel := sess.ctx()
	defer cancel()
	if len(ts) == 0 {
		// Nothing to copy, but the destination must still exist.
		if _, err := sess.srv.opts.Store.MailboxByName(ctx, sess.acct.ID, dest); err != nil {
			return store.CopyResult{}, errTryCreate
		}
		return store.CopyResult{}, nil
	}
	res, err := sess.srv.opts.Store.Copy(ctx, sess.acct.ID, sess.sel.mailbox.ID, targetUIDs(ts), dest, move)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return res, errTryCreate
		}
		return res, sess.storeError("copy", err)
	}
	sess.feed.pump()
	return res, nil
}

func copyData(res store.CopyResult) *imap.CopyData {
	if len(res.SourceUIDs) == 0 {
		return nil
	}
	var src, dst imap.UIDSet
	for i := range res.SourceUIDs {
		src.AddNum(imap.UID(res.SourceUIDs[i]))
		dst.AddNum(imap.UID(res.DestUIDs[i]))
	}
	return &imap.CopyData{UIDValidity: res.UIDValidity, SourceUIDs: src, DestUIDs: dst}
}

// Expunge removes \Deleted messages (all, or those in uids for UID
// EXPUNGE). The EXPUNGE responses reach the client through the tracker.
func (sess *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if sess.sel.view.readOnly {
		return nil // CLOSE of an EXAMINEd mailbox: nothing to do
	}
	var list []uint32
	if uids != nil {
		list = targetUIDs(sess.resolve(*uids))
		if len(list) == 0 {
			return nil
		}
	}
	ctx, cancel := sess.ctx()
	defer cancel()
	if _, err := sess.srv.opts.Store.Expunge(ctx, sess.acct.ID, sess.sel.mailbox.ID, list); err != nil {
		return sess.storeError("expunge", err)
	}
	sess.feed.pump()
	return nil
}
