package migrate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// identityHeaders are the header fields a message keeps on its way through
// a forward: the trace fields (Received, Return-Path with its SRS sender,
// Authentication-Results, DKIM-Signature and ARC seals added by the
// forwarder, X-* fields) are left out, so the forwarded copy at the old
// provider and the copy kept in the box have the same identity.
var identityHeaders = []string{"message-id", "date", "from", "to", "cc", "subject"}

// Identity returns the content identity of a raw message: a hash of its
// Message-ID, Date, From, To, Cc and Subject (unfolded, whitespace
// collapsed) and of its body with line endings normalised and trailing
// blank lines dropped.
func Identity(msg []byte) string {
	hdr, body := splitMessage(msg)
	vals := map[string][]string{}
	for _, f := range headerFields(hdr) {
		name, val, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		vals[name] = append(vals[name], strings.Join(strings.Fields(val), " "))
	}
	h := sha256.New()
	for _, n := range identityHeaders {
		for _, v := range vals[n] {
			h.Write([]byte(n + ":" + v + "\n"))
		}
	}
	h.Write([]byte{0})
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	body = bytes.TrimRight(body, "\n \t")
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// splitMessage splits at the first empty line (CRLF or LF).
func splitMessage(msg []byte) (hdr, body []byte) {
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			return msg, nil
		}
		line := msg[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return msg[:i], msg[i+j+1:]
		}
		i += j + 1
	}
	return msg, nil
}

// headerFields returns the unfolded header fields.
func headerFields(hdr []byte) []string {
	var out []string
	for _, line := range strings.Split(string(hdr), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += " " + strings.TrimSpace(line)
			continue
		}
		out = append(out, line)
	}
	return out
}

// headerValue returns the first value of a header field, unfolded.
func headerValue(msg []byte, name string) string {
	hdr, _ := splitMessage(msg)
	for _, f := range headerFields(hdr) {
		n, v, ok := strings.Cut(f, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
