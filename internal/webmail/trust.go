package webmail

// The trust panel of the message view: what the box found out when the
// message arrived and what its header shows, as a few short lines.
//
// Only the Authentication-Results field at the top of the header is
// read, and only when its authserv-id is the box's own hostname: the box
// removes fields claiming its name and prepends its own at delivery
// (smtpd/mailauth.go), so a field lower down, or one naming another
// host, is what someone else wrote. A message that came in another way
// (imported, appended by a mail program) has no verdict to show.

import (
	"context"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/net/idna"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// Signal levels.
const (
	SignalGood = "good"
	SignalNote = "note"
	SignalWarn = "warn"
	SignalBad  = "bad"
)

// Signal is one line of the trust panel.
type Signal struct {
	Level string // SignalGood, SignalNote, SignalWarn, SignalBad
	Text  string
}

// TrustFacts are what the caller knows beyond the header.
type TrustFacts struct {
	Host string // the box's hostname: the authserv-id believed
	// FirstFromSender: no earlier message from the From address in the
	// account (store.SenderSeenBefore).
	FirstFromSender bool
}

// arResult is one result of an Authentication-Results field.
type arResult struct {
	Method, Value string
	Props         map[string]string // "header.d", "smtp.auth", ...
}

// ourAuthResults returns the results of the header's top
// Authentication-Results field if its authserv-id is host; ok is false
// when there is none or it is someone else's. comment is the text of a
// field's comments (the box writes "(trusted network) none").
func ourAuthResults(header []byte, host string) (rs []arResult, comment string, ok bool) {
	f, found := mailmsg.Lookup(header, "Authentication-Results")
	if !found || host == "" {
		return nil, "", false
	}
	v, comment := stripARComments(string(mailmsg.Unfold(f.Value)))
	parts := splitOutsideQuotes(v, ';')
	id := strings.Fields(parts[0])
	if len(id) == 0 || !strings.EqualFold(strings.TrimSuffix(strings.Trim(id[0], `"`), "."), strings.TrimSuffix(host, ".")) {
		return nil, "", false
	}
	for _, p := range parts[1:] {
		toks := splitOutsideQuotes(strings.TrimSpace(p), ' ')
		m, val, okv := strings.Cut(toks[0], "=")
		if !okv {
			continue // "none": nothing was checked
		}
		r := arResult{Method: strings.ToLower(m), Value: strings.ToLower(val), Props: map[string]string{}}
		for _, t := range toks[1:] {
			if k, pv, ok := strings.Cut(t, "="); ok {
				r.Props[strings.ToLower(k)] = strings.Trim(pv, `"`)
			}
		}
		rs = append(rs, r)
	}
	return rs, comment, true
}

// stripARComments removes (comments) outside quoted strings and returns
// their text too.
func stripARComments(v string) (string, string) {
	var b, c strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(v):
			b.WriteByte(ch)
			i++
			b.WriteByte(v[i])
			continue
		case ch == '"' && depth == 0:
			quoted = !quoted
		case !quoted && ch == '(':
			depth++
			continue
		case !quoted && ch == ')' && depth > 0:
			depth--
			continue
		}
		if depth > 0 {
			c.WriteByte(ch)
		} else {
			b.WriteByte(ch)
		}
	}
	return b.String(), c.String()
}

// splitOutsideQuotes splits v at sep outside quoted strings, dropping
// empty parts when sep is a space; it returns at least one part.
func splitOutsideQuotes(v string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '"':
			quoted = !quoted
		case v[i] == '\\' && quoted:
			i++
		case v[i] == sep && !quoted:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	out = append(out, v[start:])
	if sep == ' ' {
		out = slices.DeleteFunc(out, func(s string) bool { return strings.TrimSpace(s) == "" })
		if len(out) == 0 {
			out = []string{""}
		}
	}
	return out
}

// Trust returns the trust panel of a message from its header.
func Trust(header []byte, f TrustFacts) []Signal {
	var out []Signal
	out = append(out, authSignals(header, f.Host)...)
	from, fromOK := firstAddress(header, "From")
	if f.FirstFromSender && fromOK {
		out = append(out, Signal{SignalNote, "This is the first message from " + from.Address + "."})
	}
	if rt, ok := firstAddress(header, "Reply-To"); ok && fromOK && !strings.EqualFold(rt.Address, from.Address) {
		lvl := SignalNote
		if !strings.EqualFold(domainOf(rt.Address), domainOf(from.Address)) {
			lvl = SignalWarn
		}
		out = append(out, Signal{lvl, "Replies go to " + rt.Address + ", not to the sender " + from.Address + "."})
	}
	if fromOK {
		out = append(out, lookAlikeSignals(from)...)
	}
	return out
}

// authSignals are the verdicts of the box's own Authentication-Results.
func authSignals(header []byte, host string) []Signal {
	rs, comment, ok := ourAuthResults(header, host)
	if !ok {
		return []Signal{{SignalNote, "This box did not check this message's sender when it arrived (it was copied or imported in)."}}
	}
	if len(rs) == 0 {
		if strings.Contains(comment, "trusted network") {
			return []Signal{{SignalNote, "It came from a trusted network, so its sender was not checked."}}
		}
		return []Signal{{SignalNote, "Its sender was not checked when it arrived."}}
	}
	var out []Signal
	var dkimPass []string
	dkimFail := false
	for _, r := range rs {
		switch r.Method {
		case "auth":
			if r.Value == "pass" {
				out = append(out, Signal{SignalGood, "Sent through this box by " + r.Props["smtp.auth"] + " (logged in)."})
			}
		case "dmarc":
			out = append(out, dmarcSignal(r))
		case "spf":
			out = append(out, spfSignal(r))
		case "dkim":
			if r.Value == "pass" {
				dkimPass = append(dkimPass, r.Props["header.d"])
			} else if r.Value != "none" {
				dkimFail = true
			}
		}
	}
	switch {
	case len(dkimPass) > 0:
		out = append(out, Signal{SignalGood, "DKIM: signed by " + strings.Join(dkimPass, ", ") + "."})
	case dkimFail:
		out = append(out, Signal{SignalWarn, "DKIM: its signature does not verify."})
	case slices.ContainsFunc(rs, func(r arResult) bool { return r.Method == "dkim" }):
		out = append(out, Signal{SignalNote, "DKIM: not signed."})
	}
	return out
}

func dmarcSignal(r arResult) Signal {
	d := r.Props["header.from"]
	switch r.Value {
	case "pass":
		return Signal{SignalGood, "DMARC: the sender's domain " + d + " is authenticated."}
	case "fail":
		return Signal{SignalBad, "DMARC failed: this message may not come from " + d + "."}
	case "none":
		return Signal{SignalNote, "DMARC: the sender's domain " + d + " publishes no policy."}
	}
	return Signal{SignalWarn, "DMARC could not be checked (" + r.Value + ")."}
}

func spfSignal(r arResult) Signal {
	switch r.Value {
	case "pass":
		return Signal{SignalGood, "SPF: the sending server may send for " + domainOf(r.Props["smtp.mailfrom"]) + "."}
	case "fail", "softfail":
		return Signal{SignalWarn, "SPF " + r.Value + ": the sending server is not listed by " + domainOf(r.Props["smtp.mailfrom"]) + "."}
	}
	return Signal{SignalNote, "SPF: " + r.Value + "."}
}

// firstAddress is the first address of a field, decoded.
func firstAddress(header []byte, name string) (*mail.Address, bool) {
	f, ok := mailmsg.Lookup(header, name)
	if !ok {
		return nil, false
	}
	list, err := addrParser.ParseList(string(mailmsg.Unfold(f.Value)))
	if err != nil || len(list) == 0 {
		return nil, false
	}
	return list[0], true
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

// addrInName finds an address written in a display name.
var addrInName = regexp.MustCompile(`[^\s<>"'()@,;:]+@[^\s<>"'()@,;:]+\.[^\s<>"'()@,;:]+`)

// lookAlikeSignals flag a From built to be misread: a display name
// showing another address, a punycode domain, a domain mixing scripts or
// made of letters that look Latin.
func lookAlikeSignals(from *mail.Address) []Signal {
	var out []Signal
	for _, a := range addrInName.FindAllString(from.Name, 3) {
		if !strings.EqualFold(strings.Trim(a, "."), from.Address) {
			out = append(out, Signal{SignalBad, "The sender's name shows the address " + a + ", but the message is from " + from.Address + "."})
			break
		}
	}
	dom := strings.ToLower(domainOf(from.Address))
	uni, err := idna.ToUnicode(dom)
	if err != nil {
		uni = dom
	}
	if strings.Contains(dom, "xn--") {
		out = append(out, Signal{SignalWarn, "The sender's domain " + dom + " is written in international letters: " + uni + "."})
	}
	for _, label := range strings.Split(uni, ".") {
		if s := mixedScripts(label); s != "" {
			out = append(out, Signal{SignalBad, "The sender's domain " + uni + " " + s + "."})
			break
		}
	}
	return out
}

// lookAlikes are Cyrillic and Greek letters drawn like Latin ones.
const lookAlikes = "аеорсхуіјѕԁһԛԝӏοτνκα"

var scripts = []*unicode.RangeTable{unicode.Latin, unicode.Cyrillic, unicode.Greek, unicode.Armenian, unicode.Hebrew, unicode.Arabic, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Thai, unicode.Devanagari}

// mixedScripts says how a domain label is built to be misread, or "".
func mixedScripts(label string) string {
	seen := map[*unicode.RangeTable]bool{}
	allLookAlike, nonASCII := true, false
	for _, r := range label {
		if r < 0x80 {
			if unicode.IsLetter(r) {
				seen[unicode.Latin] = true
				allLookAlike = false
			}
			continue
		}
		nonASCII = true
		for _, t := range scripts {
			if unicode.Is(t, r) {
				seen[t] = true
			}
		}
		if !strings.ContainsRune(lookAlikes, r) {
			allLookAlike = false
		}
	}
	// Japanese mixes Han and kana by design.
	cjk := seen[unicode.Han] || seen[unicode.Hiragana] || seen[unicode.Katakana]
	n := len(seen)
	if cjk {
		n -= btoi(seen[unicode.Han]) + btoi(seen[unicode.Hiragana]) + btoi(seen[unicode.Katakana]) - 1
	}
	switch {
	case n > 1:
		return "mixes alphabets (letters that look alike can imitate another domain)"
	case nonASCII && allLookAlike:
		return "is made of non-Latin letters that look like Latin ones"
	}
	return ""
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// trustOf is the trust panel of a loaded message: the header, and
// whether an earlier message came from its From address.
func (s *Server) trustOf(ctx context.Context, accountID int64, m store.LoadedMessage) []Signal {
	hdr := m.Data[:mailmsg.HeaderEnd(m.Data)]
	f := TrustFacts{Host: s.o.Hostname}
	if from, ok := firstAddress(hdr, "From"); ok {
		seen, err := s.o.Store.SenderSeenBefore(ctx, accountID, from.Address, m.InternalDate, m.BodyID)
		if err != nil {
			s.log.Error("webmail trust: earlier senders", "err", err)
		}
		f.FirstFromSender = err == nil && !seen
	}
	return Trust(hdr, f)
}
