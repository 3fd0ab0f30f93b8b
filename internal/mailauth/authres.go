package mailauth

// Authentication-Results (RFC 8601): the header boxmail adds to every
// message it accepts, and the removal of forged ones claiming its name.

import (
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"boxmail/internal/mailmsg"
)

// AuthResults is what the box found out about one message.
type AuthResults struct {
	// AuthUser, when set, is the account that submitted the message over
	// authenticated SMTP; the other checks are then not made.
	AuthUser string
	// SPF, SPFFrom and SPFHelo: the SPF result (empty: not checked) for
	// the MAIL FROM address (or, for a null sender, the HELO name).
	SPF, SPFReason, SPFFrom, SPFHelo string
	DKIM                             []DKIMResult
	DMARC                            *DMARCResult
	// Comment, if any, is added as a reason when nothing was checked
	// ("trusted network").
	Comment string
}

// Header returns the Authentication-Results field (with CRLF) naming
// host as the authserv-id, one result per folded line.
func (a AuthResults) Header(host string) string {
	var rs []authres.Result
	if a.AuthUser != "" {
		rs = append(rs, &authres.AuthResult{Value: authres.ResultPass, Auth: a.AuthUser})
	}
	if a.SPF != "" {
		rs = append(rs, &authres.SPFResult{Value: authres.ResultValue(a.SPF), Reason: a.SPFReason, From: a.SPFFrom, Helo: a.SPFHelo})
	}
	if a.SPF != "" && len(a.DKIM) == 0 {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range a.DKIM {
		rs = append(rs, &authres.GenericResult{Method: "dkim", Value: authres.ResultValue(d.Result), Params: map[string]string{
			"reason": d.Reason, "header.d": d.Domain, "header.s": d.Selector, "header.b": d.B}})
	}
	if a.DMARC != nil {
		rs = append(rs, &authres.DMARCResult{Value: authres.ResultValue(a.DMARC.Result), Reason: a.DMARC.Reason, From: a.DMARC.Domain})
	}
	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(host)
	if len(rs) == 0 {
		b.WriteString(";")
		if a.Comment != "" {
			b.WriteString(" (" + sanitizeComment(a.Comment) + ")")
		}
		b.WriteString(" none\r\n")
		return b.String()
	}
	for _, r := range rs {
		s := authres.Format("", []authres.Result{r})
		s = strings.TrimSpace(strings.TrimPrefix(s, ";"))
		b.WriteString(";\r\n\t")
		b.WriteString(sanitizeLine(s))
	}
	b.WriteString("\r\n")
	return b.String()
}

// sanitizeLine keeps a header line free of line breaks and other
// control characters that could come from a remote party's input (a
// signature's d= tag, an SPF explanation).
func sanitizeLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func sanitizeComment(s string) string {
	return strings.NewReplacer("(", "", ")", "", "\\", "").Replace(sanitizeLine(s))
}

// StripAuthResults removes from msg the Authentication-Results fields
// whose authserv-id is host (RFC 8601 5: a receiver removes those that
// claim to be its own before adding its own), whatever the case of the
// name or the id, folded or not, the id quoted, commented or followed by
// a version. It works in place on the header section only: the fields
// kept slide toward the body over the removed ones, and the result is the
// tail of msg (msg itself when there is nothing to remove). Nothing is
// allocated for the body or copied from it, so this costs the same for a
// 50 MiB message as for a 5 KiB one; the bytes of msg before the result
// are garbage afterwards.
func StripAuthResults(msg []byte, host string) []byte {
	fields := slices.Collect(mailmsg.Fields(msg))
	drop := false
	for _, f := range fields {
		if isOurAuthResults(f, host) {
			drop = true
			break
		}
	}
	if !drop {
		return msg
	}
	// Fields are contiguous from the start; moving each kept one, last
	// first, to just before the ones already placed never overwrites a
	// field still to be moved (each lands at or after where it was).
	pos, _ := mailmsg.Bounds(msg)
	for i := len(fields) - 1; i >= 0; i-- {
		if f := fields[i]; !isOurAuthResults(f, host) {
			pos -= len(f.Raw)
			copy(msg[pos:], f.Raw)
		}
	}
	return msg[pos:]
}

func isOurAuthResults(f mailmsg.Field, host string) bool {
	if !f.Is("Authentication-Results") {
		return false
	}
	return strings.EqualFold(authservID(fieldValue(f)), strings.TrimSuffix(host, "."))
}

// authservID returns the authserv-id of an Authentication-Results value:
// the first token, after any comments (RFC 8601 2.2).
func authservID(v string) string {
	v = stripComments(v)
	v = strings.TrimSpace(v)
	if q, ok := strings.CutPrefix(v, `"`); ok { // a quoted-string value
		var b strings.Builder
		for i := 0; i < len(q) && q[i] != '"'; i++ {
			if q[i] == '\\' && i+1 < len(q) {
				i++
			}
			b.WriteByte(q[i])
		}
		v = strings.TrimSpace(b.String())
	} else if i := strings.IndexAny(v, "; \t"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSuffix(v, ".")
}

// stripComments removes RFC 5322 comments (nested, with quoted-pairs)
// outside of quoted strings. An unterminated comment runs to the end.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (depth > 0 || quoted):
			if depth == 0 && i+1 < len(s) {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case depth > 0 && c == '(':
			depth++
		case depth > 0 && c == ')':
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
		case depth > 0:
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case c == '(' && !quoted:
			depth = 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
