package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"boxmail/internal/store"
)

// Undo send (issue 19): Hold checks a submission as Submit would and keeps
// it in the store (store/held.go) until a release time instead of
// delivering it; the queue runner releases held submissions whose time
// has come by submitting them then, so local recipients get the message
// after the hold too. Until the release begins, Cancel takes it back. The
// held copy is durable once Hold returns: a crash during the hold sends
// it at the next start, and a crash during its release sends it again
// (at worst twice, never not at all).

// maxHeldPerLoop bounds the held submissions one turn of the queue loop
// releases.
const maxHeldPerLoop = 100

// Hold checks s like Submit (the same errors) and stores it to be
// submitted at until; it returns the held submission's id for Cancel.
// The queue runner (Options.Queue, started) releases it; without one a
// caller must call ReleaseHeld.
func (d *Deliverer) Hold(ctx context.Context, s Submission, until time.Time) (int64, error) {
	acct, err := d.st.AccountByEmail(ctx, s.Account)
	if err != nil {
		return 0, fmt.Errorf("account %s: %w", s.Account, err)
	}
	t, err := d.checkSubmission(ctx, s)
	if err != nil {
		return 0, err
	}
	t.Abort()
	client := ""
	if s.Client.IsValid() {
		client = s.Client.String()
	}
	id, err := d.st.HoldSubmission(ctx, store.HeldSubmission{AccountID: acct.ID, Account: s.Account, Sender: s.From, Recipients: s.To,
		Client: client, Via: s.Via, Data: s.Data, ReleaseAt: until})
	if err != nil {
		return 0, err
	}
	d.log.Info("submission held", "held_id", id, "from", s.From, "recipients", len(s.To), "until", until.UTC().Format(time.RFC3339), "size", len(s.Data))
	if d.queue != nil {
		d.queue.Kick()
	}
	return id, nil
}

// ErrNotHeld: Cancel found no such held submission of the account; it
// was cancelled already, or its release began (the message is leaving).
var ErrNotHeld = errors.New("the message is not held any more")

// Cancel takes back an account's held submission before its release and
// returns it (its data, to reopen as a draft).
func (d *Deliverer) Cancel(ctx context.Context, account string, id int64) (Submission, error) {
	acct, err := d.st.AccountByEmail(ctx, account)
	if err != nil {
		return Submission{}, fmt.Errorf("account %s: %w", account, err)
	}
	h, err := d.st.CancelHeld(ctx, acct.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return Submission{}, fmt.Errorf("held submission %d: %w", id, ErrNotHeld)
	} else if err != nil {
		return Submission{}, err
	}
	d.log.Info("held submission cancelled", "held_id", id, "from", h.Sender)
	return heldSubmission(h), nil
}

func heldSubmission(h store.HeldSubmission) Submission {
	client, _ := netip.ParseAddr(h.Client)
	return Submission{Account: h.Account, From: h.Sender, To: h.Recipients, Data: h.Data, Client: client, Via: h.Via}
}

// ReleaseHeld submits every held submission due at now, and those whose
// release a crash cut short. The queue runner calls it on each turn;
// tests without a runner may call it.
func (d *Deliverer) ReleaseHeld(ctx context.Context, now time.Time) {
	due, err := d.st.DueHeld(ctx, now, maxHeldPerLoop)
	if err != nil {
		d.log.Error("reading held submissions", "err", err)
		return
	}
	for _, h := range due {
		if ok, err := d.st.ClaimHeld(ctx, h.ID); err != nil {
			d.log.Error("claiming a held submission", "held_id", h.ID, "err", err)
			continue
		} else if !ok {
			continue // cancelled meanwhile
		}
		err := d.Submit(ctx, heldSubmission(h))
		switch {
		case errors.Is(err, store.ErrDiskFull), ctx.Err() != nil:
			// Stays claimed: tried again on the next turn.
			d.log.Warn("releasing a held submission, will retry", "held_id", h.ID, "err", err)
			continue
		case err != nil:
			d.log.Warn("a held submission could not be sent", "held_id", h.ID, "from", h.Sender, "err", err)
			d.tellSender(ctx, h, err)
		default:
			d.log.Info("held submission released", "held_id", h.ID, "from", h.Sender)
		}
		if err := d.st.DeleteHeld(ctx, h.ID); err != nil {
			d.log.Error("removing a released submission", "held_id", h.ID, "err", err)
		}
	}
}

// tellSender puts a note in the account's INBOX that a held message was
// refused when it was released (a recipient removed during the hold, a
// full mailbox): the user had been told it was sent.
func (d *Deliverer) tellSender(ctx context.Context, h store.HeldSubmission, cause error) {
	reason := "it was refused"
	switch {
	case errors.Is(cause, ErrUnknownRecipient):
		reason = "a recipient does not exist (any more)"
	case errors.Is(cause, ErrOverQuota):
		reason = "a recipient's mailbox is full"
	case errors.Is(cause, ErrSenderNotPermitted):
		reason = "you may no longer send as " + h.Sender
	}
	now := time.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail Delivery System <postmaster@%s>\r\nTo: <%s>\r\nSubject: Your message was not sent\r\n", d.hostname, h.Account)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", now.Format(time.RFC1123Z), newMessageID(d.hostname))
	fmt.Fprintf(&b, "The message you sent to %s at %s was not sent: %s.\r\nIts text is attached as you wrote it.\r\n\r\n", strings.Join(h.Recipients, ", "), h.ReleaseAt.Format(time.RFC1123Z), reason)
	b.WriteString("----- The message -----\r\n")
	b.Write(h.Data)
	if _, _, err := d.st.Append(ctx, h.AccountID, "INBOX", []byte(b.String()), 0, nil, now); err != nil {
		d.log.Error("telling the sender a held message failed", "held_id", h.ID, "err", err)
	}
}
