package migrate

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	"boxmail/internal/mailmsg"
)

// Identities are kept in the store (imported_identities), so the switch
// to mailmsg must not change the identity of a message already imported.
// beforeIdentityFields is identityFields as it was before (its own header
// split and unfolding), kept as the reference.
func beforeIdentityFields(msg []byte) (map[string][]string, []byte) {
	hdr, body := msg, []byte(nil)
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			break
		}
		line := msg[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			hdr, body = msg[:i], msg[i+j+1:]
			break
		}
		i += j + 1
	}
	var fields []string
	for _, line := range strings.Split(string(hdr), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += " " + strings.TrimSpace(line)
			continue
		}
		fields = append(fields, line)
	}
	vals := map[string][]string{}
	for _, f := range fields {
		name, val, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if !slices.Contains(identityHeaders, name) {
			continue
		}
		vals[name] = append(vals[name], strings.Join(strings.Fields(val), " "))
	}
	return vals, body
}

// malformedHeader: a line of msg's header names no field (no colon, a
// name with white space, a line of CRs, a continuation line before any
// field), or a name has other white space at its ends. For such headers
// the identity may differ from before (the old unfolding glued a
// nameless line to its neighbours); such a message, if imported before,
// is at worst copied once more, never lost.
func malformedHeader(msg []byte) bool {
	for f := range mailmsg.Fields(msg) {
		if f.Name == nil || strings.TrimSpace(string(f.Name)) != string(f.Name) {
			return true
		}
	}
	return false
}

func sameIdentityFields(msg []byte) bool {
	v1, b1 := identityFields(msg)
	v2, b2 := beforeIdentityFields(msg)
	return bytes.Equal(b1, b2) && maps.EqualFunc(v1, v2, slices.Equal)
}

var identitySeeds = []string{
	"Message-ID: <a@b>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: A <a@example.org>\r\nTo: b@example.org\r\nSubject: hello\r\n  world\r\n\r\nbody\r\n\r\n",
	"Message-ID: <a@b>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nFrom: a@example.org\nSubject: hello\n\tworld\n\nbody\n",
	"Subject : obs syntax\r\nsubject:\tlower\r\nCC: x,\r\n y\r\n\r\n",
	"From: a\r\nno colon line\r\n cont: x\r\nTo: b\n\r\nbody",
	"Subject: x",
	"",
	"\r\nbody only",
	"Subject: =?utf-8?q?caf=C3=A9?=\r\nTo: \xc3\xa9t\xc3\xa9 <e@x>\r\n\r\n",
}

func TestIdentityFieldsAreThoseOfBefore(t *testing.T) {
	for _, s := range identitySeeds {
		if !sameIdentityFields([]byte(s)) {
			t.Errorf("%q: identity fields changed", s)
		}
	}
}

func FuzzIdentityFieldsAreThoseOfBefore(f *testing.F) {
	for _, s := range identitySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if !malformedHeader(msg) && !sameIdentityFields(msg) {
			v1, b1 := identityFields(msg)
			v2, b2 := beforeIdentityFields(msg)
			t.Fatalf("now %q %q, before %q %q", v1, b1, v2, b2)
		}
	})
}
