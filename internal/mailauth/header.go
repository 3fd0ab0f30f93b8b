package mailauth

import (
	"bytes"
	"strings"
)

// headerField is one field of a message's header section, as it arrived:
// Raw holds the name, the value, any folded continuation lines and the
// line ending, so that fields can be dropped or kept without changing a
// byte of the others (DKIM signatures cover the exact bytes).
type headerField struct {
	Name string // as written, without the colon; "" for a line with no colon
	Raw  []byte
}

// Value returns the unfolded value with surrounding whitespace removed.
func (f headerField) Value() string {
	i := bytes.IndexByte(f.Raw, ':')
	if i < 0 {
		return ""
	}
	v := string(f.Raw[i+1:])
	v = strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
	return strings.TrimSpace(v)
}

// splitHeader splits msg into its header fields and returns them with the
// offset of the body (just after the blank line; len(msg) when there is
// no blank line). It never fails: a line that is neither a field nor a
// continuation becomes a field with an empty Name, which callers ignore.
// Lines may end in CRLF or a bare LF.
func splitHeader(msg []byte) ([]headerField, int) {
	var fields []headerField
	pos := 0
	for pos < len(msg) {
		end := bytes.IndexByte(msg[pos:], '\n')
		if end < 0 {
			end = len(msg)
		} else {
			end += pos + 1
		}
		line := msg[pos:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 && (len(line) == 0 || line[len(line)-1] == '\n') {
			return fields, end // blank line: the body follows
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			f := &fields[len(fields)-1]
			f.Raw = msg[pos-len(f.Raw) : end]
		} else {
			name := ""
			if i := bytes.IndexByte(line, ':'); i > 0 {
				name = strings.TrimRight(string(line[:i]), " \t")
				if strings.ContainsAny(name, " \t\r\n") {
					name = ""
				}
			}
			fields = append(fields, headerField{Name: name, Raw: line})
		}
		pos = end
	}
	return fields, len(msg)
}
