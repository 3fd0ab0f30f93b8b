package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"boxmail/internal/mailauth"
	"boxmail/internal/mailmsg"
)

// Submission is a message a logged-in account sends from a program of
// the box itself (the webmail), with no SMTP session in between.
type Submission struct {
	// Account is the address of the account that is logged in.
	Account string
	// From is the envelope sender.
	From string
	// To are the envelope recipients.
	To []string
	// Data is the message, header and body, lines ending in CRLF.
	Data []byte
	// Client is the address the account connected from (trace field,
	// spam filter); Via names the program ("webmail").
	Client netip.Addr
	Via    string
}

// ErrSenderNotPermitted: the account may not send as the envelope
// sender or an address of the From, Sender, Resent-From or
// Resent-Sender fields (submission's 550 5.7.1).
var ErrSenderNotPermitted = errors.New("sender not permitted for this account")

// ErrBadMessage: the message has no From field or a sender field that
// does not parse.
var ErrBadMessage = errors.New("malformed message header")

// senderFields name a message's author or sender (RFC 5322 3.6.2,
// 3.6.6): each of their addresses must be one the account may use, as
// smtpd checks on submission.
var senderFields = []string{"From", "Sender", "Resent-From", "Resent-Sender"}

// Submit does for a message written in the box what SMTP submission
// does after AUTH: the envelope sender and every sender field's address
// must be the account's own or an alias that permits it (MayUseSender),
// each recipient is resolved (remote ones allowed), the message gets a
// trace field, the box's Authentication-Results naming the account and
// its From domain's DKIM signatures, and is committed like any other
// (local copies, the outbound queue). Errors: ErrSenderNotPermitted,
// ErrBadMessage, and AddRecipient's (ErrBadAddress, ErrUnknownRecipient,
// ErrOverQuota, ErrRelayDenied) wrapped with the recipient.
func (d *Deliverer) Submit(ctx context.Context, s Submission) error {
	t, err := d.checkSubmission(ctx, s)
	if err != nil {
		return err
	}
	body := mailauth.StripAuthResults(s.Data, d.hostname)
	var sig []byte
	if domain, err := mailauth.FromDomain(body); err == nil {
		if sig, err = d.DKIMSign(ctx, body, domain); err != nil {
			d.log.Warn("DKIM signing failed, sending unsigned", "domain", domain, "err", err)
			sig = nil
		}
	}
	ar := mailauth.AuthResults{AuthUser: strings.ToLower(s.Account)}
	via := s.Via
	if via == "" {
		via = "local"
	}
	id := make([]byte, 8)
	rand.Read(id)
	trace := fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (boxmail) with HTTPS id %s;\r\n\t%s\r\n",
		via, s.Client, d.hostname, hex.EncodeToString(id), time.Now().Format(time.RFC1123Z))
	data := make([]byte, 0, len(sig)+len(trace)+len(body)+256)
	data = append(data, sig...)
	data = append(data, ar.Header(d.hostname)...)
	data = append(data, trace...)
	data = append(data, body...)
	if s.Client.IsValid() {
		t.SetClient(s.Client)
	}
	return t.Commit(ctx, data)
}

// checkSubmission makes Submit's checks and returns the transaction
// with every recipient added (Hold aborts it).
func (d *Deliverer) checkSubmission(ctx context.Context, s Submission) (*Txn, error) {
	if ok, err := d.MayUseSender(ctx, s.Account, s.From); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("<%s>: %w", s.From, ErrSenderNotPermitted)
	}
	if err := d.checkSenderFields(ctx, s.Account, s.Data); err != nil {
		return nil, err
	}
	if len(s.To) == 0 {
		return nil, fmt.Errorf("no recipient: %w", ErrBadAddress)
	}
	t := d.Begin(s.From)
	for _, rcpt := range s.To {
		if _, err := t.AddRecipient(ctx, rcpt, true); err != nil {
			t.Abort()
			return nil, fmt.Errorf("<%s>: %w", rcpt, err)
		}
	}
	return t, nil
}

// checkSenderFields checks every address of the message's sender fields
// against the account, and that it has a From field.
func (d *Deliverer) checkSenderFields(ctx context.Context, account string, msg []byte) error {
	froms := 0
	for f := range mailmsg.Fields(msg) {
		name := ""
		for _, n := range senderFields {
			if f.Is(n) {
				name = n
			}
		}
		if name == "" {
			continue
		}
		if name == "From" {
			froms++
		}
		list, err := mailauth.ParseAddressList(string(mailmsg.Unfold(f.Value)))
		if err != nil || len(list) == 0 {
			return fmt.Errorf("%s: %w", name, ErrBadMessage)
		}
		for _, a := range list {
			ok, err := d.MayUseSender(ctx, account, a.Address)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s: <%s>: %w", name, a.Address, ErrSenderNotPermitted)
			}
		}
	}
	if froms == 0 {
		return fmt.Errorf("no From field: %w", ErrBadMessage)
	}
	return nil
}
