package sieve

import (
	"fmt"
	"net/mail"
	"strings"
)

// Validate is the check of a script on its way in (ManageSieve, the web,
// the CLI), after Parse: every string that becomes a header field of a
// message the box sends is one line of text, vacation :from is exactly
// one address, a :mime reason's header holds MIME fields only, mailbox
// names and flags have no control characters, and :matches patterns stay
// under MaxPatternBytes. Its errors are *Error values with the line and
// column of the string.
//
// Run applies the same rules to scripts stored before they existed: what
// fails is dropped (Vacation.Problems), refused (Vacation.Refused) or
// fails the run. Whether the account may send as :from is the caller's
// rule: see Senders.
func (s *Script) Validate() error {
	return walk(s.cmds, validateCall)
}

// Sender is a vacation :from of a script: the address as written and its
// addr-spec.
type Sender struct {
	Pos     Pos
	Written string
	Address string
}

// Senders lists the vacation :from addresses of a script that passes
// Validate, for the caller to check that the account may send as them.
func (s *Script) Senders() []Sender {
	var out []Sender
	_ = walk(s.cmds, func(c *call) error { // never fails: the callback returns nil
		if a, ok := c.tags["from"]; ok && c.name == "vacation" {
			if addr, p := senderProblem(a.strs[0]); p == "" {
				out = append(out, Sender{Pos: a.pos, Written: a.strs[0], Address: addr.Address})
			}
		}
		return nil
	})
	return out
}

// walk calls f on every command and test of cmds, depth first.
func walk(cmds []*call, f func(*call) error) error {
	for _, c := range cmds {
		if err := f(c); err != nil {
			return err
		}
		if err := walk(c.tests, f); err != nil {
			return err
		}
		if err := walk(c.block, f); err != nil {
			return err
		}
		if err := walk(c.elses, f); err != nil {
			return err
		}
	}
	return nil
}

func validateCall(c *call) error {
	if c.has("matches") {
		for _, a := range c.args[len(c.args)-1:] {
			for _, k := range a.strs {
				if len(k) > MaxPatternBytes {
					return errorf(a.pos, "%s: a :matches pattern of %d bytes is longer than %d", c.name, len(k), MaxPatternBytes)
				}
			}
		}
	}
	if a, ok := c.tags["flags"]; ok {
		if err := checkFlags(c.name, a); err != nil {
			return err
		}
	}
	switch c.name {
	case "setflag", "addflag", "removeflag":
		return checkFlags(c.name, c.args[0])
	case "fileinto":
		if p := mailboxProblem(c.args[0].strs[0]); p != "" {
			return errorf(c.args[0].pos, "fileinto: %s", p)
		}
	case "vacation":
		for _, tag := range []string{"subject", "handle"} {
			if a, ok := c.tags[tag]; ok {
				if p := headerTextProblem(a.strs[0]); p != "" {
					return errorf(a.pos, "vacation :%s %s", tag, p)
				}
			}
		}
		if a, ok := c.tags["from"]; ok {
			if _, p := senderProblem(a.strs[0]); p != "" {
				return errorf(a.pos, "vacation :from %s", p)
			}
		}
		if c.has("mime") {
			if p := mimeReasonProblem(c.args[0].strs[0]); p != "" {
				return errorf(c.args[0].pos, "vacation :mime reason: %s", p)
			}
		}
	}
	return nil
}

func checkFlags(cmd string, a arg) error {
	for _, s := range a.strs {
		for f := range strings.FieldsSeq(s) {
			if p := flagProblem(f); p != "" {
				return errorf(a.pos, "%s: flag %q %s", cmd, f, p)
			}
		}
	}
	return nil
}

// maxHeaderText bounds a header field value from a script (RFC 5322 2.1.1
// line length).
const maxHeaderText = 998

// controlAt returns the index of the first control character of s (C0
// other than tab, DEL, C1), or -1.
func controlAt(s string) int {
	for i, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return i
		}
	}
	return -1
}

// headerTextProblem says why s cannot be the text of a header field.
func headerTextProblem(s string) string {
	if i := controlAt(s); i >= 0 {
		return fmt.Sprintf("has a control character (%q) at byte %d: it must be one line of text", s[i], i)
	}
	if len(s) > maxHeaderText {
		return fmt.Sprintf("is %d bytes long, more than %d", len(s), maxHeaderText)
	}
	return ""
}

// senderProblem parses s as exactly one address (with an optional
// display name) or says why it is not one.
func senderProblem(s string) (*mail.Address, string) {
	if p := headerTextProblem(s); p != "" {
		return nil, p
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Sprintf("%q is not exactly one email address", s)
	}
	if i := strings.LastIndexByte(a.Address, '@'); i <= 0 || i == len(a.Address)-1 || controlAt(a.Name) >= 0 {
		return nil, fmt.Sprintf("%q is not exactly one email address", s)
	}
	return a, ""
}

// SenderAddress returns the header form and the addr-spec of a vacation
// :from that passed Run's check.
func SenderAddress(s string) (header, addr string, ok bool) {
	a, p := senderProblem(s)
	if p != "" {
		return "", "", false
	}
	return a.String(), a.Address, true
}

// mimeReasonProblem checks a vacation :mime reason: header fields that
// are all MIME fields (Content-*, MIME-Version), one line each unless
// folded, then an empty line.
func mimeReasonProblem(r string) string {
	r = strings.ReplaceAll(r, "\r\n", "\n")
	hdr, _, ok := strings.Cut(r, "\n\n")
	if !ok {
		return "it must start with MIME header fields and an empty line"
	}
	if strings.ContainsRune(hdr, '\r') {
		return "a bare CR in the header"
	}
	for i, l := range strings.Split(hdr, "\n") {
		if l != "" && (l[0] == ' ' || l[0] == '\t') && i > 0 {
			if p := headerTextProblem(l); p != "" {
				return "a folded line " + p
			}
			continue
		}
		name, val, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return fmt.Sprintf("line %d of its header is not a header field", i+1)
		}
		ln := strings.ToLower(name)
		if !strings.HasPrefix(ln, "content-") && ln != "mime-version" {
			return fmt.Sprintf("only MIME header fields (Content-*, MIME-Version) may be set, not %s", name)
		}
		if p := headerTextProblem(val); p != "" {
			return name + " " + p
		}
	}
	return ""
}

// mailboxProblem says why s cannot be a mailbox name.
func mailboxProblem(s string) string {
	if s == "" {
		return "the mailbox name is empty"
	}
	if controlAt(s) >= 0 {
		return fmt.Sprintf("the mailbox name %q has control characters", s)
	}
	return ""
}

// flagProblem says why f is not an IMAP flag (RFC 3501 flag: "\" atom or
// a keyword atom).
func flagProblem(f string) string {
	k := strings.TrimPrefix(f, `\`)
	if k == "" {
		return "is empty"
	}
	if controlAt(k) >= 0 || strings.ContainsAny(k, "(){%*\"\\] ") {
		return "is not an IMAP flag (no control characters or any of ( ) { % * \" \\ ])"
	}
	return ""
}
