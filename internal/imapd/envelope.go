package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// envelope builds a message's ENVELOPE from its header. go-imap's
// ExtractEnvelope drops RFC 5322 groups; the address fields are redone
// here so that groups come out as RFC 3501 7.4.2 markers.
func envelope(data []byte) *imap.Envelope {
	h := readHeader(data)
	env := imapserver.ExtractEnvelope(h)
	env.From = addressList(h, "From")
	env.Sender = addressList(h, "Sender")
	env.ReplyTo = addressList(h, "Reply-To")
	env.To = addressList(h, "To")
	env.Cc = addressList(h, "Cc")
	env.Bcc = addressList(h, "Bcc")
	return env
}

func addressList(h textproto.Header, key string) []imap.Address {
	v := h.Get(key)
	if v == "" {
		return nil
	}
	v = strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
	return parseAddressList(v)
}

// parseAddressList parses an address-list header value (RFC 5322 3.4),
// keeping groups: a group becomes a start marker (mailbox = group name,
// host empty), its members, and an end marker (all fields empty).
func parseAddressList(v string) []imap.Address {
	var out []imap.Address
	for _, seg := range splitGroups(v) {
		members := parseMailboxes(seg.list)
		if !seg.group || seg.name == "" {
			out = append(out, members...)
			continue
		}
		out = append(out, imap.Address{Mailbox: seg.name})
		out = append(out, members...)
		out = append(out, imap.Address{})
	}
	return out
}

func parseMailboxes(list string) []imap.Address {
	list = strings.Trim(list, " \t,")
	if list == "" {
		return nil
	}
	addrs, err := mail.ParseAddressList(list)
	if err != nil {
		// Salvage what can be parsed one by one.
		addrs = addrs[:0]
		for _, part := range strings.Split(list, ",") {
			if a, err := mail.ParseAddress(strings.TrimSpace(part)); err == nil {
				addrs = append(addrs, a)
			}
		}
	}
	var out []imap.Address
	for _, a := range addrs {
		local, host, ok := strings.Cut(a.Address, "@")
		if !ok || local == "" || host == "" {
			continue
		}
		out = append(out, imap.Address{Name: a.Name, Mailbox: local, Host: host})
	}
	return out
}

// addrSegment is a run of plain addresses or one group.
type addrSegment struct {
	group bool
	name  string // display name of the group
	list  string // the addresses, unparsed
}

// splitGroups cuts an address list at its group boundaries: a ':' and ';'
// outside quoted strings, comments and angle brackets (so route syntax
// "<@a,@b:x@y>" is not mistaken for a group).
func splitGroups(v string) []addrSegment {
	var segs []addrSegment
	start, lastComma := 0, -1
	inGroup, quote, angle := false, false, false
	depth := 0
	name := ""
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote:
			if c == '\\' {
				i++
			} else if c == '"' {
				quote = false
			}
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case c == '"':
			quote = true
		case c == '(':
			depth++
		case angle:
			if c == '>' {
				angle = false
			}
		case c == '<':
			angle = true
		case c == ',' && !inGroup:
			lastComma = i
		case c == ':' && !inGroup:
			nameStart := start
			if lastComma >= start {
				segs = append(segs, addrSegment{list: v[start:lastComma]})
				nameStart = lastComma + 1
			}
			name = groupName(v[nameStart:i])
			inGroup, start = true, i+1
		case c == ';' && inGroup:
			segs = append(segs, addrSegment{group: true, name: name, list: v[start:i]})
			inGroup, start = false, i+1
		}
	}
	if start < len(v) || inGroup {
		segs = append(segs, addrSegment{group: inGroup, name: name, list: v[min(start, len(v)):]})
	}
	return segs
}

// groupName is a group's display name without surrounding space or quotes.
func groupName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.ReplaceAll(s[1:len(s)-1], `\"`, `"`)
	}
	return s
}
