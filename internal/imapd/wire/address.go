package wire

import "strings"

// Placeholders for the parts of a broken address, as other servers
// write them so that clients still see an address.
const (
	missingMailbox = "MISSING_MAILBOX"
	missingDomain  = "MISSING_DOMAIN"
)

// ParseAddressList parses an address-list field body (RFC 5322 3.4,
// with the obsolete source routes of 4.4) into ENVELOPE addresses,
// keeping groups as start and end markers. It never fails: what cannot
// be read is skipped or filled with placeholders.
func ParseAddressList(v string) []Address {
	p := addrParser{s: v}
	var out []Address
	for guard := 0; guard <= len(v); guard++ {
		p.skipCFWS()
		if p.i >= len(p.s) {
			break
		}
		if c := p.s[p.i]; c == ',' || c == ';' || c == '>' {
			p.i++
			continue
		}
		out = p.address(out)
	}
	return out
}

type addrParser struct {
	s string
	i int
}

func (p *addrParser) skipCFWS() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		case '(':
			p.comment()
		default:
			return
		}
	}
}

func (p *addrParser) comment() {
	depth := 0
	for ; p.i < len(p.s); p.i++ {
		switch p.s[p.i] {
		case '\\':
			p.i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				p.i++
				return
			}
		}
	}
}

// word reads an atom (dots allowed) or a quoted string; "" at a
// special.
func (p *addrParser) word() (string, bool) {
	if p.i >= len(p.s) {
		return "", false
	}
	if p.s[p.i] == '"' {
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			c := p.s[p.i]
			if c == '"' {
				p.i++
				return b.String(), true
			}
			if c == '\\' && p.i+1 < len(p.s) {
				p.i++
				c = p.s[p.i]
			}
			b.WriteByte(c)
		}
		return b.String(), true
	}
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune("()<>[]:;@\\,\" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

// phrase reads words up to a special; it returns them joined with
// spaces (display names) and joined as written without spaces around
// dots (local parts).
func (p *addrParser) phrase() (name string, local string) {
	var words []string
	var raw strings.Builder
	for {
		p.skipCFWS()
		w, ok := p.word()
		if !ok {
			break
		}
		words = append(words, w)
		raw.WriteString(w)
	}
	return strings.Join(words, " "), raw.String()
}

func (p *addrParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// address reads one mailbox or group and appends it to out.
func (p *addrParser) address(out []Address) []Address {
	start := p.i
	name, _ := p.phrase()
	switch p.peek() {
	case ':':
		p.i++
		// A group without a name (not RFC 5322, but seen) would give a
		// start marker equal to the end marker: its members are listed
		// without markers.
		if name != "" {
			out = append(out, Address{Mailbox: name})
		}
		for p.skipCFWS(); p.i < len(p.s) && p.peek() != ';'; p.skipCFWS() {
			if p.peek() == ',' {
				p.i++
				continue
			}
			before := p.i
			out = p.mailbox(out)
			if p.i == before {
				p.i++
			}
		}
		if p.peek() == ';' {
			p.i++
		}
		if name == "" {
			return out
		}
		return append(out, Address{})
	}
	p.i = start
	out = p.mailbox(out)
	if p.i == start {
		p.i++ // never stall on a stray special
	}
	return out
}

// mailbox reads name-addr or addr-spec.
func (p *addrParser) mailbox(out []Address) []Address {
	name, local := p.phrase()
	switch p.peek() {
	case '<':
		p.i++
		a := p.angleAddr()
		if a.Mailbox == "" && a.Host == "" {
			return out // "<>" names no one, and would read as a group's end
		}
		a.Name = name
		return append(out, a)
	case '@':
		p.i++
		return append(out, Address{Mailbox: orMissing(local, missingMailbox), Host: orMissing(p.domain(), missingDomain)})
	}
	if local == "" {
		return out
	}
	return append(out, Address{Mailbox: local, Host: missingDomain})
}

// angleAddr reads [route ":"] local "@" domain ">" after "<".
func (p *addrParser) angleAddr() Address {
	var a Address
	p.skipCFWS()
	if p.peek() == '@' {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ':' && p.s[p.i] != '>' {
			p.i++
		}
		if p.peek() == ':' {
			a.Route = strings.Join(strings.Fields(p.s[start:p.i]), "")
			p.i++
		} else {
			p.i = start + 1
		}
	}
	_, local := p.phrase()
	a.Mailbox = orMissing(local, missingMailbox)
	if p.peek() == '@' {
		p.i++
		a.Host = orMissing(p.domain(), missingDomain)
	} else if local == "" && p.peek() == '>' {
		a.Mailbox, a.Host = "", "" // <> : the null return path
	} else {
		a.Host = missingDomain
	}
	for p.i < len(p.s) && p.s[p.i] != '>' && p.s[p.i] != ',' {
		p.i++
	}
	if p.peek() == '>' {
		p.i++
	}
	return a
}

// domain reads a dot-atom or a domain literal.
func (p *addrParser) domain() string {
	p.skipCFWS()
	if p.peek() == '[' {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ']' {
			p.i++
		}
		if p.i < len(p.s) {
			p.i++
		}
		return p.s[start:p.i]
	}
	_, d := p.phrase()
	return d
}

func orMissing(s, placeholder string) string {
	if s == "" {
		return placeholder
	}
	return s
}
