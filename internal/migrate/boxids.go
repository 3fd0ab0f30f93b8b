package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"boxmail/internal/store"
)

// What the import knows of the box before it copies: every place in the
// account that holds a content identity, whichever mailbox it is in. A
// message fetched from the old side for box mailbox T is
//
//   - already present (foundHere) when T holds its identity: a message in
//     T, or an import record of T (the user may have deleted the copy
//     since; it is not brought back);
//   - moved (foundToMove) when INBOX holds a copy that came another way
//     (delivered during forward-and-keep, not imported) that no import
//     record stands for: the user filed the message into T at the old
//     provider, so the box's copy goes there too, and the old side's
//     flags are merged onto it;
//   - already present (foundKept) when such a copy is in a folder other
//     than INBOX: the user (or a Sieve rule of the box) filed it there,
//     and the import does not undo that;
//   - copied otherwise, also when the only copies elsewhere are the
//     import's own or stand for an import record: a message the old side
//     has in two folders stays in two.
//
// A copy found, moved or made by the import is claimed: no later message
// of this run, nor of a later run (the records name it: store
// ImportClaim.Box), moves it again. Records written before those names
// existed claim the delivered copies of their mailbox by identity.

// idKey is an identity (hex SHA-256, as Identity returns it) decoded:
// the set holds 32 bytes per message, not 64 of hex.
type idKey [sha256.Size]byte

func keyOf(id string) idKey {
	var k idKey
	_, _ = hex.Decode(k[:], []byte(id)) // Identity makes hex; anything else makes a key no real message has
	return k
}

// boxCopy is one place of the account that holds an identity.
type boxCopy struct {
	in  int64            // the mailbox that holds it
	ref store.MessageRef // the box's message (UID 0: not known, or gone)
	// claimed: made, found or moved by an import; never moved again.
	claimed bool
	// lacksOne: a copy that came another way lacking exactly one of
	// Message-ID and Date (lacksOneAddedField); it also matches the
	// identities of the old side's copy without that field.
	lacksOne bool
}

// verdict is what resolve decides for a fetched message.
type verdict int

const (
	copyIt      verdict = iota // store the old side's copy
	foundHere                  // the target mailbox holds it
	foundToMove                // move the box's copy from INBOX into the target
	foundKept                  // the box's copy stays in the folder it was filed into
)

// accountIDs is the identity set of an account, shared by the folders
// imported at once (one worker per target mailbox).
type accountIDs struct {
	inbox int64
	mu    sync.Mutex
	first map[idKey]boxCopy   // most identities have one place
	more  map[idKey][]boxCopy // the others' further places
	// lacking counts the copies with lacksOne: while there is none, the
	// variants of a fetched message are not computed.
	lacking int
}

func newAccountIDs(inbox int64) *accountIDs {
	return &accountIDs{inbox: inbox, first: map[idKey]boxCopy{}, more: map[idKey][]boxCopy{}}
}

func (a *accountIDs) add(k idKey, c boxCopy) {
	if c.lacksOne {
		a.lacking++
	}
	if _, ok := a.first[k]; !ok {
		a.first[k] = c
		return
	}
	a.more[k] = append(a.more[k], c)
}

// place is one boxCopy of the set and where it is kept (i 0: first).
type place struct {
	k idKey
	i int
	c boxCopy
}

func (a *accountIDs) places(k idKey, exact bool, out []place) []place {
	c, ok := a.first[k]
	if !ok {
		return out
	}
	if exact || c.lacksOne {
		out = append(out, place{k, 0, c})
	}
	for i, c := range a.more[k] {
		if exact || c.lacksOne {
			out = append(out, place{k, i + 1, c})
		}
	}
	return out
}

func (a *accountIDs) set(p place) {
	if p.i == 0 {
		a.first[p.k] = p.c
	} else {
		a.more[p.k][p.i-1] = p.c
	}
}

// resolve decides what becomes of a fetched message with identity id
// bound for mailbox target (see the top of this file), records the
// decision in the set and returns the box's copy it found (zero for
// copyIt). added gives the identities of the message without its
// Message-ID and without its Date (addedFieldIdentities).
func (a *accountIDs) resolve(id string, added func() []string, target int64) (verdict, store.MessageRef) {
	k := keyOf(id)
	a.mu.Lock()
	defer a.mu.Unlock()
	ps := a.places(k, true, nil)
	if a.lacking > 0 {
		for _, v := range added() {
			ps = a.places(keyOf(v), false, ps)
		}
	}
	here := -1
	for i, p := range ps {
		if p.c.in == target && (here < 0 || ps[here].c.ref.UID == 0) {
			here = i
		}
	}
	if here >= 0 {
		p := ps[here]
		p.c.claimed = true
		a.set(p)
		if p.k != k {
			a.add(k, boxCopy{in: target, ref: p.c.ref, claimed: true})
		}
		return foundHere, p.c.ref
	}
	for _, p := range ps {
		if p.c.claimed || p.c.ref.UID == 0 {
			continue
		}
		ref := p.c.ref
		if p.c.in == a.inbox {
			// It will be in the target, under a UID the commit gives.
			p.c = boxCopy{in: target, ref: store.MessageRef{MailboxID: target}, claimed: true}
			a.set(p)
			return foundToMove, ref
		}
		p.c.claimed = true
		a.set(p)
		a.add(k, boxCopy{in: target, ref: ref, claimed: true})
		return foundKept, ref
	}
	a.add(k, boxCopy{in: target, ref: store.MessageRef{MailboxID: target}, claimed: true})
	return copyIt, store.MessageRef{}
}

// identities returns the account's identity set, building it on the
// first call: the identities recorded by imports, and those computed from
// the messages that came another way, a page of UIDs at a time.
func (im *importer) identities(ctx context.Context) (*accountIDs, error) {
	im.idsMu.Lock()
	defer im.idsMu.Unlock()
	if im.ids != nil {
		return im.ids, nil
	}
	st, acc := im.opts.Store, im.opts.AccountID
	boxes, err := st.Mailboxes(ctx, acc)
	if err != nil {
		return nil, err
	}
	var inbox int64
	for _, mb := range boxes {
		if mb.Name == "INBOX" {
			inbox = mb.ID
		}
	}
	a := newAccountIDs(inbox)
	made := map[store.MessageRef]struct{}{}    // copies an import made
	matched := map[store.MessageRef]struct{}{} // the box's copies records stand for
	type unnamed struct {
		mailbox int64
		k       idKey
	}
	old := map[unnamed]struct{}{} // records of a copy found before migration 15
	err = st.EachImportClaim(ctx, acc, func(c store.ImportClaim) {
		ref := store.MessageRef{MailboxID: c.MailboxID, UID: c.UID}
		switch {
		case c.UID > 0:
			made[ref] = struct{}{}
		case c.Box.UID > 0:
			ref = c.Box
			matched[ref] = struct{}{}
		default:
			old[unnamed{c.MailboxID, keyOf(c.Identity)}] = struct{}{}
			ref = store.MessageRef{}
		}
		a.add(keyOf(c.Identity), boxCopy{in: c.MailboxID, ref: ref, claimed: true})
	})
	if err != nil {
		return nil, err
	}
	for _, mb := range boxes {
		const page = 1000
		for first := uint32(1); first < mb.UIDNext; first += page {
			msgs, err := st.Messages(ctx, mb.ID, first, first+page-1)
			if err != nil {
				return nil, err
			}
			for _, m := range msgs {
				ref := store.MessageRef{MailboxID: mb.ID, UID: m.UID}
				if _, ok := made[ref]; ok {
					continue
				}
				id, lacksOne, err := im.boxIdentity(ctx, m)
				if err != nil {
					return nil, err
				}
				k := keyOf(id)
				_, claimed := matched[ref]
				if !claimed {
					_, claimed = old[unnamed{mb.ID, k}]
				}
				a.add(k, boxCopy{in: mb.ID, ref: ref, claimed: claimed, lacksOne: lacksOne})
			}
		}
	}
	im.ids = a
	return a, nil
}
