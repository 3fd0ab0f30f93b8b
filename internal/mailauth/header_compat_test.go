package mailauth

import (
	"bytes"
	"strings"
	"testing"

	"boxmail/internal/mailmsg"
)

// beforeField and beforeSplitHeader are mailauth's own header splitter as
// it was before mailmsg, kept as the reference: DKIM, DMARC and the
// Authentication-Results stripping must read the same fields as before.
type beforeField struct {
	Name string
	Raw  []byte
}

func beforeSplitHeader(msg []byte) ([]beforeField, int) {
	var fields []beforeField
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
			return fields, end
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
			fields = append(fields, beforeField{Name: name, Raw: line})
		}
		pos = end
	}
	return fields, len(msg)
}

func (f beforeField) value() string {
	i := bytes.IndexByte(f.Raw, ':')
	v := string(f.Raw[i+1:])
	v = strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
	return strings.TrimSpace(v)
}

// crOnlyLine: a line of two or more CRs before its LF, which the old
// splitter took for the empty line that ends the header and mailmsg (as
// RFC 5322 does) takes for a line of the header.
func crOnlyLine(msg []byte) bool {
	for line := range bytes.SplitSeq(msg[:mailmsg.HeaderEnd(msg)], []byte("\n")) {
		if len(line) >= 2 && len(bytes.Trim(line, "\r")) == 0 {
			return true
		}
	}
	return false
}

func sameFields(t *testing.T, msg []byte) {
	if crOnlyLine(msg) {
		return
	}
	old, oldBody := beforeSplitHeader(msg)
	i := 0
	for f := range mailmsg.Fields(msg) {
		if i >= len(old) || string(f.Name) != old[i].Name || !bytes.Equal(f.Raw, old[i].Raw) {
			t.Fatalf("%q: field %d is %q %q", msg, i, f.Name, f.Raw)
		}
		if f.Name != nil && fieldValue(f) != old[i].value() {
			t.Fatalf("%q: value %q, before %q", msg, fieldValue(f), old[i].value())
		}
		i++
	}
	if i != len(old) || mailmsg.HeaderEnd(msg) != oldBody {
		t.Fatalf("%q: %d fields, body at %d; before %d, %d", msg, i, mailmsg.HeaderEnd(msg), len(old), oldBody)
	}
}

var headerSeeds = []string{
	"DKIM-Signature: v=1; a=rsa-sha256;\r\n d=example.org; s=mail\r\nFrom: A <a@example.org>\r\n\r\nbody",
	"From: a@example.org\nAuthentication-Results: h; spf=pass\n\tdkim=pass\n\nbody\n",
	" leading\r\nno colon\r\n\tcont\r\n: x\r\nA : b\r\n\r\n",
	"A: 1\n\r\nbody",
	"A: 1\r\n\r\r\nbody",
	"",
	"From: x",
}

func TestMailauthReadsTheFieldsOfBefore(t *testing.T) {
	for _, s := range headerSeeds {
		sameFields(t, []byte(s))
	}
}

func FuzzMailauthReadsTheFieldsOfBefore(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) { sameFields(t, msg) })
}
