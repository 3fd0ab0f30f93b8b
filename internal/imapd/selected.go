package imapd

import (
	"context"
	"errors"
	"slices"
	"strings"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

// cmdSelect opens a mailbox (SELECT, or EXAMINE read-only). SELECT takes
// the mailbox's \Recent messages (store.ClearRecent); EXAMINE leaves them.
func (c *conn) cmdSelect(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Select)
	if c.sel != nil {
		c.unselect()
		if c.rev2 || c.qresync { // RFC 9051 6.3.2, RFC 7162 3.2.11
			written(c.enc.Status("*", "OK", wire.CodeClosed, "Previous mailbox closed"))
		}
	}
	if args.QResync != nil && !c.qresync {
		return "", bad("QRESYNC is not enabled")
	}
	c.condstore = c.condstore || args.CondStore
	readOnly := cmd.Name == "EXAMINE"
	ctx, cancel := c.opCtx()
	defer cancel()
	// Hold the feed while reading so that no event is queued between the
	// read and the registration of the view (replays are skipped).
	a := c.feed
	a.mu.Lock()
	a.pumpLocked()
	st, err := c.srv.opts.Store.SelectMailbox(ctx, c.acct.ID, args.Mailbox)
	if err != nil {
		a.mu.Unlock()
		return "", c.storeError("select", err)
	}
	v := &view{readOnly: readOnly, origin: c.origin, notify: make(chan struct{}, 1)}
	if n := len(st.UIDs); n > 0 {
		v.maxUID = st.UIDs[n-1]
	}
	v.maxUID = max(v.maxUID, st.Mailbox.UIDNext-1)
	a.addLocked(st.Mailbox.ID, c.origin, v)
	a.mu.Unlock()
	s := &selection{mailbox: st.Mailbox, view: v, readOnly: readOnly, uids: slices.Clone(st.UIDs),
		recent: map[uint32]bool{}, keywords: map[string]bool{}}
	for _, k := range st.Keywords {
		if l := strings.ToLower(k); !s.keywords[l] {
			s.keywords[l] = true
			s.kwList = append(s.kwList, k)
		}
	}
	c.sel, c.state, c.saved = s, selected, nil
	if !readOnly && st.Recent > 0 {
		recent, err := c.srv.opts.Store.ClearRecent(ctx, st.Mailbox.ID)
		if err != nil {
			c.unselect()
			return "", c.storeError("select", err)
		}
		for _, u := range recent {
			s.recent[u] = true
		}
	}
	c.writeSelect(st)
	if args.QResync != nil {
		if err := c.qresyncSelect(ctx, args.QResync); err != nil {
			return "", err
		}
	}
	c.log.Debug("imap select", "mailbox", st.Mailbox.Name, "messages", len(s.uids), "read_only", readOnly)
	if readOnly {
		return wire.CodeReadOnly, nil
	}
	return wire.CodeReadWrite, nil
}

// writeSelect writes the untagged answers of SELECT.
func (c *conn) writeSelect(st store.SelectState) {
	s := c.sel
	c.writeFlagLists()
	written(c.enc.Exists(uint32(len(s.uids))))
	if !c.rev2 {
		recent := uint32(len(s.recent))
		if s.readOnly {
			recent = st.Recent // EXAMINE counts them and leaves them for a SELECT
		}
		written(c.enc.Recent(recent))
		if st.FirstUnseen > 0 {
			written(c.enc.Status("*", "OK", wire.CodeUnseen(st.FirstUnseen), "First unseen"))
		}
	}
	written(c.enc.Status("*", "OK", wire.CodeUIDValidity(st.Mailbox.UIDValidity), "UIDs valid"))
	uidNext := st.Mailbox.UIDNext
	if n := len(s.uids); n > 0 {
		uidNext = max(uidNext, s.uids[n-1]+1)
	}
	written(c.enc.Status("*", "OK", wire.CodeUIDNext(uidNext), "Predicted next UID"))
	if c.condstore {
		written(c.enc.Status("*", "OK", wire.CodeHighestModSeq(uint64(highestModSeq(st.Mailbox))), "Highest"))
	}
	if c.rev2 {
		it := wire.ListItem{Delim: delim, Name: st.Mailbox.Name}
		if st.Mailbox.SpecialUse != "" {
			it.Attrs = []string{st.Mailbox.SpecialUse}
		}
		written(c.enc.List(it))
	}
}

func (c *conn) unselect() {
	c.feed.remove(c.sel.mailbox.ID, c.origin)
	c.sel, c.saved = nil, nil
	if c.state == selected {
		c.state = authenticated
	}
}

func (c *conn) cmdUnselect(*wire.Command) (string, error) {
	c.unselect()
	return "", nil
}

// cmdClose expunges silently (unless read-only) and unselects.
func (c *conn) cmdClose(*wire.Command) (string, error) {
	if !c.sel.readOnly {
		ctx, cancel := c.opCtx()
		defer cancel()
		if _, err := c.srv.opts.Store.Expunge(ctx, c.acct.ID, c.sel.mailbox.ID, nil); err != nil {
			c.unselect()
			return "", c.storeError("close", err)
		}
	}
	c.unselect()
	return "", nil
}

// checkFlags refuses what is not a flag: NIL, and \Recent or unknown
// system flags where a client sets flags.
func checkFlags(flags []string) error {
	for _, f := range flags {
		if strings.EqualFold(f, "NIL") {
			return bad("NIL is not a flag")
		}
	}
	return nil
}

// cmdStore changes flags. Unless .SILENT, the new flags are answered with
// FETCH; other sessions get them as unsolicited FETCH.
func (c *conn) cmdStore(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Store)
	if c.sel.readOnly {
		return "", errReadOnly
	}
	c.condstore = c.condstore || args.HasUnchanged
	if err := checkFlags(args.Flags); err != nil {
		return "", err
	}
	if err := c.checkSeqs(args.Seq, cmd.UID); err != nil {
		return "", err
	}
	ts := c.resolve(args.Seq, cmd.UID)
	f, kw := store.ParseFlags(args.Flags)
	if args.Op != '-' {
		c.announceKeywords(kw)
	}
	if len(ts) == 0 {
		return "", nil
	}
	op := store.FlagsSet
	switch args.Op {
	case '+':
		op = store.FlagsAdd
	case '-':
		op = store.FlagsRemove
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	metas, modified, err := c.storeFlags(ctx, ts, op, f, kw, args)
	if err != nil {
		return "", c.storeError("store", err)
	}
	c.feed.pump()
	c.storeAnswers(ts, metas, args.Silent, cmd.UID)
	if len(modified) == 0 {
		return "", nil
	}
	if !cmd.UID {
		modified = seqsOf(ts, modified)
	}
	return wire.CodeModified(uidSet(modified)), nil
}

// storeAnswers writes the FETCH answers of STORE: the new flags unless
// .SILENT, and MODSEQ once CONDSTORE is on (RFC 7162 3.1.3).
func (c *conn) storeAnswers(ts []target, metas []store.ChangedMeta, silent, byUID bool) {
	if silent && !c.condstore {
		return
	}
	byMeta := make(map[uint32]*store.ChangedMeta, len(metas))
	for i := range metas {
		byMeta[metas[i].UID] = &metas[i]
	}
	for _, t := range ts {
		m := byMeta[t.uid]
		if m == nil {
			continue
		}
		c.enc.FetchStart(t.seq)
		if !silent {
			c.writeFlagsItem(m.Flags, m.Keywords, c.sel.recent[t.uid])
		}
		if byUID || c.condstore {
			c.enc.FetchUID(t.uid)
		}
		if c.condstore {
			c.enc.FetchModSeq(uint64(max(m.ModSeq, 0)))
		}
		written(c.enc.FetchEnd())
	}
}

// storeFlags changes the flags, with UNCHANGEDSINCE when given, and
// returns each changed message with its new modseq. UNCHANGEDSINCE 0
// fails for every message (RFC 7162 3.1.3): the store reads 0 as "no
// condition", so it is answered here.
func (c *conn) storeFlags(ctx context.Context, ts []target, op store.FlagOp, f store.Flags, kw []string, args *wire.Store) ([]store.ChangedMeta, []uint32, error) {
	uids := targetUIDs(ts)
	if args.HasUnchanged && args.UnchangedSince == 0 {
		return nil, uids, nil
	}
	since := int64(min(args.UnchangedSince, 1<<63-1))
	return c.srv.opts.Store.UpdateFlagsUnchangedSince(ctx, c.acct.ID, c.sel.mailbox.ID, uids, op, f, kw, since)
}

// seqsOf maps UIDs of ts to their sequence numbers.
func seqsOf(ts []target, uids []uint32) []uint32 {
	out := make([]uint32, 0, len(uids))
	for _, t := range ts {
		if _, ok := slices.BinarySearch(uids, t.uid); ok {
			out = append(out, t.seq)
		}
	}
	return out
}

// cmdCopy answers COPY and MOVE (UIDPLUS: COPYUID). Moving within the
// same mailbox gives the messages new UIDs at the end: EXISTS for the
// copies comes before EXPUNGE for the originals.
func (c *conn) cmdCopy(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Copy)
	move := cmd.Name == "MOVE"
	if move && c.sel.readOnly {
		return "", errReadOnly
	}
	if err := c.checkSeqs(args.Seq, cmd.UID); err != nil {
		return "", err
	}
	ts := c.resolve(args.Seq, cmd.UID)
	ctx, cancel := c.opCtx()
	defer cancel()
	if len(ts) == 0 {
		// Nothing to copy, but the destination must still exist.
		if _, err := c.srv.opts.Store.MailboxByName(ctx, c.acct.ID, args.Mailbox); err != nil {
			return "", errTryCreate
		}
		return "", nil
	}
	res, err := c.srv.opts.Store.Copy(ctx, c.acct.ID, c.sel.mailbox.ID, targetUIDs(ts), args.Mailbox, move)
	if errors.Is(err, store.ErrNotFound) {
		return "", errTryCreate
	} else if err != nil {
		return "", c.storeError("copy", err)
	}
	c.feed.pump()
	code := ""
	if len(res.SourceUIDs) > 0 {
		code = wire.CodeCopyUID(res.UIDValidity, uidSet(res.SourceUIDs), uidSet(res.DestUIDs))
	}
	if !move {
		return code, nil
	}
	if code != "" {
		written(c.enc.Status("*", "OK", code, "Moved"))
	}
	c.sendUpdates(true)
	return "", nil
}

// uidSet is the compact set of a list of UIDs, in the list's order.
func uidSet(uids []uint32) wire.SeqSet {
	var set wire.SeqSet
	for _, u := range uids {
		if n := len(set.Ranges); n > 0 && set.Ranges[n-1].Stop+1 == u && set.Ranges[n-1].Stop != 0 {
			set.Ranges[n-1].Stop = u
			continue
		}
		set.Ranges = append(set.Ranges, wire.Range{Start: u, Stop: u})
	}
	return set
}

// cmdExpunge removes \Deleted messages (all, or those in the set for UID
// EXPUNGE). The EXPUNGE responses follow through the view.
func (c *conn) cmdExpunge(cmd *wire.Command) (string, error) {
	if c.sel.readOnly {
		return "", errReadOnly
	}
	var list []uint32
	if cmd.UID {
		list = targetUIDs(c.resolve(cmd.Args.(*wire.Expunge).Seq, true))
		if len(list) == 0 {
			return "", nil
		}
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	if _, err := c.srv.opts.Store.Expunge(ctx, c.acct.ID, c.sel.mailbox.ID, list); err != nil {
		return "", c.storeError("expunge", err)
	}
	code := ""
	if c.qresync {
		// The tagged OK carries the new HIGHESTMODSEQ (RFC 7162 3.2.10),
		// read before the pump so that the updates sent cover it.
		mb, err := c.srv.opts.Store.MailboxByID(ctx, c.acct.ID, c.sel.mailbox.ID)
		if err != nil {
			return "", c.storeError("expunge", err)
		}
		code = wire.CodeHighestModSeq(uint64(highestModSeq(mb)))
	}
	c.feed.pump()
	return code, nil
}
