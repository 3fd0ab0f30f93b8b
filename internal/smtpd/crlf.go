package smtpd

import "bytes"

// normalizeLineEndings turns every bare CR and bare LF of a message into
// CRLF before it is stored or relayed. go-smtp ends DATA only at
// CRLF.CRLF, so "<LF>.<LF>" and its cousins cannot end a message early
// here; normalising means they cannot do so at the next hop either, so
// the box can be neither the victim nor the relay of SMTP smuggling.
// It returns b itself when there is nothing to change.
func normalizeLineEndings(b []byte) []byte {
	bad := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				bad = true
			} else {
				i++
			}
		case '\n':
			bad = true
		}
		if bad {
			break
		}
	}
	if !bad {
		return b
	}
	out := bytes.NewBuffer(make([]byte, 0, len(b)+len(b)/64+2))
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out.WriteString("\r\n")
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out.WriteString("\r\n")
		default:
			out.WriteByte(c)
		}
	}
	return out.Bytes()
}
