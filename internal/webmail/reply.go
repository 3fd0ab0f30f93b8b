package webmail

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"boxmail/internal/mailmsg"
)

// Replies and forwards: who a reply goes to, its subject and threading
// fields, and the quoted text. Pure functions over the original's header
// and text, so they are table-tested (reply_test.go).

// original is what a reply or forward needs of the message it answers.
type original struct {
	From, ReplyTo, To, Cc []*mail.Address
	FromText              string // shown form of From, for the quote line
	ToText, CcText        string
	Subject               string // decoded
	MessageID, Refs       string
	Date                  time.Time
}

// readOriginal parses the header section hdr; address fields that do
// not parse are left out.
func readOriginal(hdr []byte) original {
	e := parseEnvelope(hdr)
	o := original{FromText: e.From, ToText: e.To, CcText: e.Cc, Subject: e.Subject, MessageID: e.MessageID, Refs: e.Refs, Date: e.Date}
	list := func(name string) []*mail.Address {
		f, ok := mailmsg.Lookup(hdr, name)
		if !ok {
			return nil
		}
		l, err := addrParser.ParseList(string(mailmsg.Unfold(f.Value)))
		if err != nil {
			return nil
		}
		return l
	}
	o.From, o.ReplyTo, o.To, o.Cc = list("From"), list("Reply-To"), list("To"), list("Cc")
	return o
}

// replyRecipients are the To and Cc of a reply (all: reply to all).
// A reply goes to Reply-To when the original has one, else to From; to
// one's own message (in Sent) it goes to the original's To. Reply-all
// adds the original's To and Cc in Cc. Every address of the user's
// (mine) is dropped, and none appears twice (compared case-insensitively).
func replyRecipients(o original, mine func(addr string) bool, all bool) (to, cc []*mail.Address) {
	seen := map[string]bool{}
	add := func(dst []*mail.Address, l []*mail.Address) []*mail.Address {
		for _, a := range l {
			k := strings.ToLower(a.Address)
			if seen[k] || mine(k) || !strings.Contains(k, "@") {
				continue
			}
			seen[k] = true
			dst = append(dst, &mail.Address{Name: a.Name, Address: a.Address})
		}
		return dst
	}
	fromMe := len(o.From) > 0 && mine(strings.ToLower(o.From[0].Address))
	switch {
	case fromMe && len(o.ReplyTo) == 0:
		to = add(to, o.To)
	case len(o.ReplyTo) > 0:
		to = add(to, o.ReplyTo)
	default:
		to = add(to, o.From)
	}
	if all {
		if !fromMe {
			cc = add(cc, o.To)
		}
		cc = add(cc, o.Cc)
	}
	if len(to) == 0 && len(cc) > 0 { // e.g. a reply to all of a message to oneself and others
		to, cc = cc[:1], cc[1:]
	}
	return to, cc
}

// prefixed returns subject with prefix ("Re:", "Fwd:") unless it starts
// with it, or with one of same (compared case-insensitively; "Re[2]:"
// counts as "Re:").
func prefixed(subject, prefix string, same ...string) string {
	s := strings.TrimSpace(subject)
	low := strings.ToLower(s)
	for _, p := range append([]string{prefix}, same...) {
		p = strings.ToLower(strings.TrimSuffix(p, ":"))
		if strings.HasPrefix(low, p+":") {
			return s
		}
		if rest, ok := strings.CutPrefix(low, p+"["); ok {
			if i := strings.Index(rest, "]:"); i > 0 && strings.Trim(rest[:i], "0123456789") == "" {
				return s
			}
		}
	}
	if s == "" {
		return prefix
	}
	return prefix + " " + s
}

func replySubject(s string) string   { return prefixed(s, "Re:", "Aw:", "Sv:") }
func forwardSubject(s string) string { return prefixed(s, "Fwd:", "Fw:") }

// threading returns In-Reply-To and References of a reply to o; both ""
// when its Message-ID is not usable.
func threading(o original) (inReplyTo, refs string) {
	if !validMsgID(o.MessageID) {
		return "", ""
	}
	refs = strings.Join(strings.Fields(o.Refs+" "+o.MessageID), " ")
	if len(refs) > 2000 || !validRefs(refs) {
		refs = o.MessageID
	}
	return o.MessageID, refs
}

// maxQuoted caps the text quoted or forwarded inline.
const maxQuoted = 64 << 10

// quote is the plain text of a reply: the original's text, each line
// behind "> ", under an attribution line.
func quote(o original, text string) string {
	text = capText(text)
	var b strings.Builder
	fmt.Fprintf(&b, "\n\nOn %s, %s wrote:\n", o.Date.Format("Mon, 2 Jan 2006 15:04"), o.FromText)
	for l := range strings.SplitSeq(strings.TrimRight(text, "\r\n"), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.HasPrefix(l, ">") {
			b.WriteString(">" + l + "\n")
		} else {
			b.WriteString("> " + l + "\n")
		}
	}
	return b.String()
}

// forwarded is the plain text of an inline forward: the original's main
// fields, then its text.
func forwarded(o original, text string) string {
	var b strings.Builder
	b.WriteString("\n\n---------- Forwarded message ----------\n")
	fmt.Fprintf(&b, "From: %s\nDate: %s\nSubject: %s\n", o.FromText, o.Date.Format("Mon, 2 Jan 2006 15:04"), o.Subject)
	if o.ToText != "" {
		fmt.Fprintf(&b, "To: %s\n", o.ToText)
	}
	if o.CcText != "" {
		fmt.Fprintf(&b, "Cc: %s\n", o.CcText)
	}
	b.WriteString("\n" + strings.TrimRight(capText(text), "\r\n") + "\n")
	return b.String()
}

func capText(text string) string {
	if len(text) > maxQuoted {
		text = text[:maxQuoted]
	}
	return strings.ToValidUTF8(strings.ReplaceAll(text, "\r\n", "\n"), "\uFFFD")
}

func validMsgID(id string) bool {
	return strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") && len(id) < 998 && !strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

func validRefs(refs string) bool {
	for id := range strings.FieldsSeq(refs) {
		if !validMsgID(id) {
			return false
		}
	}
	return true
}
