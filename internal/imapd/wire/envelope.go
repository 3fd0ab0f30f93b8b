package wire

import (
	"bytes"
	"strings"

	"boxmail/internal/mailmsg"
)

// MaxParsedHeader bounds the header bytes of one block (the message's,
// or one MIME part's) parsed for ENVELOPE and BODYSTRUCTURE; fields past
// it are not seen. It is imapd's cap (fetch.go maxParsedHeader).
const MaxParsedHeader = 128 << 10

// Envelope is a message's ENVELOPE (RFC 3501 7.4.2). Strings are the
// header values as they are in the message, unfolded; encoded words
// stay encoded, as the RFC says.
type Envelope struct {
	Date, Subject                      string
	From, Sender, ReplyTo, To, Cc, Bcc []Address
	InReplyTo, MessageID               string
}

// Address is one address of an ENVELOPE. A group is a start marker
// (Mailbox is the group name, Host empty) and an end marker (all
// empty) around its members.
type Address struct {
	Name, Route, Mailbox, Host string
}

// Envelope writes an ENVELOPE's parenthesised list.
func (e *Encoder) Envelope(env *Envelope) *Encoder {
	e.Open().NString(env.Date).SP().NString(env.Subject).SP()
	for _, l := range [][]Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		e.addresses(l).SP()
	}
	return e.NString(env.InReplyTo).SP().NString(env.MessageID).Close()
}

func (e *Encoder) addresses(l []Address) *Encoder {
	if len(l) == 0 {
		return e.NIL()
	}
	e.Open()
	for _, a := range l {
		e.Open().NString(a.Name).SP().NString(a.Route).SP().NString(a.Mailbox).SP().NString(a.Host).Close()
	}
	return e.Close()
}

// cappedHeader is msg's header cut to MaxParsedHeader at a line end.
func cappedHeader(msg []byte) []byte {
	h := msg[:mailmsg.HeaderEnd(msg)]
	if len(h) <= MaxParsedHeader {
		return h
	}
	return h[:bytes.LastIndexByte(h[:MaxParsedHeader], '\n')+1]
}

// headerValue is the unfolded, trimmed value of a field.
func headerValue(f mailmsg.Field) string {
	return strings.TrimSpace(string(mailmsg.Unfold(f.Value)))
}

// ExtractEnvelope builds the ENVELOPE of a message from its raw bytes
// (only the first MaxParsedHeader bytes of its header are read).
// Sender and Reply-To default to From (RFC 3501 7.4.2).
func ExtractEnvelope(msg []byte) *Envelope {
	env := &Envelope{}
	var seen [10]bool
	names := [...]string{"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc", "in-reply-to", "message-id"}
	for f := range mailmsg.Fields(cappedHeader(msg)) {
		if f.Name == nil {
			continue
		}
		for i, n := range names {
			if seen[i] || !f.Is(n) {
				continue
			}
			seen[i] = true
			env.set(i, headerValue(f))
		}
	}
	if len(env.Sender) == 0 {
		env.Sender = env.From
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = env.From
	}
	return env
}

func (env *Envelope) set(i int, v string) {
	switch i {
	case 0:
		env.Date = v
	case 1:
		env.Subject = v
	case 2:
		env.From = ParseAddressList(v)
	case 3:
		env.Sender = ParseAddressList(v)
	case 4:
		env.ReplyTo = ParseAddressList(v)
	case 5:
		env.To = ParseAddressList(v)
	case 6:
		env.Cc = ParseAddressList(v)
	case 7:
		env.Bcc = ParseAddressList(v)
	case 8:
		env.InReplyTo = v
	case 9:
		env.MessageID = v
	}
}
