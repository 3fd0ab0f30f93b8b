package delivery

import (
	"bytes"
	"context"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// Trace fields at final delivery (RFC 5321 4.4; Postfix local/virtual,
// Dovecot LDA/LMTP): every local copy starts with
//
//	Return-Path: <envelope sender>        ("<>" for the null sender)
//	Delivered-To: <final recipient>       (the account, after aliases)
//
// The body is stored once per message and shared by every local copy
// (store body rows are reference counted), so a per-recipient field
// cannot be in it when the message lands in several accounts. Like
// Dovecot's LMTP, which adds Delivered-To only when a transaction has a
// single recipient, boxmail adds Delivered-To only when the local copies
// all belong to one account: one body per message is kept, and a message
// for one person (the common case) says who it was delivered to.
// Return-Path is the same for every local copy and always added.
//
// Return-Path fields the message already carries were written by someone
// else and are removed, as Postfix's cleanup does; Delivered-To fields
// from earlier hops are kept below ours (Postfix keeps them for its loop
// check), and ours is the first.
//
// Queued copies (remote recipients, Sieve redirects) must not carry a
// Return-Path (RFC 5321 4.4: a relay does not add one), so when a
// delivery has both, the queued copies get the message as it came in.

// withTrace returns the trace fields for sender and, if not "",
// deliveredTo, to be stored in front of rest. rest is data itself unless
// data has Return-Path fields, or (when ownSpam: the box adds its own
// verdict) X-Spam-Status, X-Spam-Score or X-Spam-Reasons fields, which
// are then removed (a copy): a sender cannot dress up its mail with a
// verdict a mail program might read instead of the box's.
func withTrace(data []byte, sender, deliveredTo string, ownSpam bool) (trace, rest []byte) {
	eol := "\r\n"
	if i := bytes.IndexByte(data, '\n'); i >= 0 && (i == 0 || data[i-1] != '\r') {
		eol = "\n"
	}
	trace = append(trace, "Return-Path: <"+sender+">"+eol...)
	if deliveredTo != "" {
		trace = append(trace, "Delivered-To: "+deliveredTo+eol...)
	}
	drop := func(f mailmsg.Field) bool {
		return f.Is("Return-Path") || ownSpam && (f.Is("X-Spam-Status") || f.Is("X-Spam-Score") || f.Is("X-Spam-Reasons"))
	}
	has := false
	for f := range mailmsg.Fields(data) { // the fields are the header up to its end
		has = has || drop(f)
	}
	if !has {
		return trace, data
	}
	rest = make([]byte, 0, len(data))
	for f := range mailmsg.Fields(data) {
		if !drop(f) {
			rest = append(rest, f.Raw...)
		}
	}
	end, _ := mailmsg.Bounds(data)
	return trace, append(rest, data[end:]...)
}

// addTrace gives del's local copies the trace fields (see withTrace) and
// moves its queued recipients to copies with the incoming bytes.
// The account of a single local recipient is taken from accs (read at
// RCPT) when it is there.
func (d *Deliverer) addTrace(ctx context.Context, sender string, del *store.Delivery, accs recipientAccounts) error {
	spamFields := del.Trace // spam.go's verdict, below the trace fields
	del.Trace = nil
	if len(del.Local) == 0 {
		return nil
	}
	orig := del.Data
	var deliveredTo string
	one := true
	for _, t := range del.Local[1:] {
		one = one && t.AccountID == del.Local[0].AccountID
	}
	if ra := accs[del.Local[0].AccountID]; one && ra != nil {
		deliveredTo = ra.Email
	} else if one {
		acc, err := d.st.AccountByID(ctx, del.Local[0].AccountID)
		if err != nil {
			return err
		}
		deliveredTo = acc.Email
	}
	del.Trace, del.Data = withTrace(orig, sender, deliveredTo, len(spamFields) > 0)
	del.Trace = append(del.Trace, spamFields...)
	for i := range del.Copies {
		if del.Copies[i].Data == nil {
			del.Copies[i].Data = orig
		}
	}
	if len(del.Remote) > 0 {
		del.Copies = append(del.Copies, store.QueuedCopy{Sender: del.Sender, Recipients: del.Remote, Data: orig})
		del.Remote = nil
	}
	return nil
}
