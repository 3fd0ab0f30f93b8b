package imapd

import (
	"context"
	"slices"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

// CONDSTORE and QRESYNC (RFC 7162): every message has a modseq, raised by
// each change, and the mailbox's is the highest of them. A client that
// used CONDSTORE (ENABLE, SELECT (CONDSTORE), FETCH MODSEQ or CHANGEDSINCE,
// SEARCH MODSEQ, STORE UNCHANGEDSINCE) gets MODSEQ in every FETCH of
// flags; one that enabled QRESYNC gets VANISHED instead of EXPUNGE and
// can resync with SELECT (QRESYNC (...)).

// highestModSeq is a mailbox's HIGHESTMODSEQ: the store raises the
// mailbox's modseq with every change to it, and gives each changed
// message that value (store.SelectState.HighestModSeq is the same
// number).
func highestModSeq(mb store.Mailbox) int64 { return max(mb.ModSeq, 1) }

// qresyncSelect answers SELECT (QRESYNC (...)) after the usual lines:
// VANISHED (EARLIER) for what was expunged since the client's modseq
// (only UIDs it names, when it names some), then FETCH for what changed.
func (c *conn) qresyncSelect(ctx context.Context, q *wire.QResync) error {
	if q.UIDValidity != c.sel.mailbox.UIDValidity {
		return nil // the client starts over (RFC 7162 3.2.5.2)
	}
	since := int64(min(q.ModSeq, 1<<63-1))
	if err := c.vanishedEarlier(ctx, since, q.KnownUIDs); err != nil {
		return err
	}
	changed, err := c.srv.opts.Store.ChangedSince(ctx, c.sel.mailbox.ID, since, nil)
	if err != nil {
		return c.storeError("select", err)
	}
	for _, m := range changed {
		i, ok := slices.BinarySearch(c.sel.uids, m.UID)
		if !ok {
			continue
		}
		c.enc.FetchStart(uint32(i + 1)).FetchUID(m.UID)
		c.writeFlagsItem(m.Flags, m.Keywords, c.sel.recent[m.UID])
		written(c.enc.FetchModSeq(uint64(max(m.ModSeq, 0))).FetchEnd())
	}
	return nil
}

// vanishedEarlier writes VANISHED (EARLIER) for the UIDs expunged since
// the modseq, within set when it is not nil.
func (c *conn) vanishedEarlier(ctx context.Context, since int64, set *wire.SeqSet) error {
	gone, err := c.srv.opts.Store.VanishedSince(ctx, c.sel.mailbox.ID, since)
	if err != nil {
		return c.storeError("vanished", err)
	}
	if set != nil {
		star := uint32(0)
		if n := len(c.sel.uids); n > 0 {
			star = c.sel.uids[n-1]
		}
		kept := gone[:0]
		for _, u := range gone {
			if set.Contains(u, star) {
				kept = append(kept, u)
			}
		}
		gone = kept
	}
	if len(gone) > 0 {
		written(c.enc.Vanished(uidSet(gone), true))
	}
	return nil
}

// changedSince keeps the messages of ts whose modseq is above since
// (FETCH (CHANGEDSINCE n)), writing VANISHED (EARLIER) first for the
// expunged UIDs of the set when asked (UID FETCH ... VANISHED).
func (c *conn) changedSince(cmd *wire.Command, f *wire.Fetch, ts []target) ([]target, error) {
	if f.Vanished && (!cmd.UID || !c.qresync) {
		return nil, bad("VANISHED needs UID FETCH and QRESYNC enabled")
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	since := int64(min(f.ChangedSince, 1<<63-1))
	if f.Vanished {
		if err := c.vanishedEarlier(ctx, since, &f.Seq); err != nil {
			return nil, err
		}
	}
	changed, err := c.srv.opts.Store.ChangedSince(ctx, c.sel.mailbox.ID, since, targetUIDs(ts))
	if err != nil {
		return nil, c.storeError("fetch", err)
	}
	out := ts[:0]
	j := 0
	for _, t := range ts {
		for j < len(changed) && changed[j].UID < t.uid {
			j++
		}
		if j < len(changed) && changed[j].UID == t.uid {
			out = append(out, t)
		}
	}
	return out, nil
}
