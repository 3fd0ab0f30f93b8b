package wire

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// mutf7 is the modified base64 of RFC 3501 5.1.3: "," for "/", no
// padding.
var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// DecodeMailbox turns a mailbox name as a client sent it into UTF-8:
// modified UTF-7 (RFC 3501 5.1.3) is decoded unless utf8 is true (the
// client enabled UTF8=ACCEPT and sends UTF-8). "INBOX" in any case is
// "INBOX", and so is the "INBOX" of "inbox/child" (the box's hierarchy
// delimiter is "/").
func DecodeMailbox(name string, utf8on bool) (string, error) {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", nil
	}
	if !utf8on {
		d, err := decodeMUTF7(name)
		if err != nil {
			return "", err
		}
		name = d
	}
	if !utf8.ValidString(name) {
		return "", syntaxError("mailbox name is not valid UTF-8")
	}
	if len(name) > 5 && strings.EqualFold(name[:6], "INBOX/") {
		name = "INBOX" + name[5:]
	}
	return name, nil
}

func decodeMUTF7(s string) (string, error) {
	if !strings.Contains(s, "&") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '&' {
			if c >= 0x80 {
				return "", syntaxError("8-bit byte in a modified UTF-7 mailbox name")
			}
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", syntaxError("unterminated modified UTF-7 in mailbox name")
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := mutf7.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", syntaxError("bad modified UTF-7 in mailbox name")
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || r < 0x20 || (r >= 0x20 && r < 0x7f) {
				return "", syntaxError("bad modified UTF-7 in mailbox name")
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// EncodeMailbox is the inverse of DecodeMailbox: modified UTF-7 unless
// utf8on.
func EncodeMailbox(name string, utf8on bool) string {
	if utf8on {
		return name
	}
	need := false
	for i := 0; i < len(name); i++ {
		if name[i] == '&' || name[i] >= 0x80 || name[i] < 0x20 || name[i] == 0x7f {
			need = true
			break
		}
	}
	if !need {
		return name
	}
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		raw := make([]byte, 2*len(u))
		for k, v := range u {
			raw[2*k], raw[2*k+1] = byte(v>>8), byte(v)
		}
		b.WriteByte('&')
		b.WriteString(mutf7.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range name {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r < 0x7f:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}
