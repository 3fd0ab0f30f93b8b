package migrate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"slices"
	"strings"

	"boxmail/internal/mailmsg"
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
	vals, body := identityFields(msg)
	return identityOf(vals, body, "")
}

// A receiving MTA adds a Message-ID or a Date that a message lacks (Postfix
// does for its local clients, big providers for all incoming mail). So a
// message that reached the box without one of them is kept there without
// it, while its forwarded copy at the old provider has one the old MX
// made up, and their identities differ. addedFieldIdentities and
// lacksOneAddedField let the import match such a pair: the old side's
// message hashed without its Message-ID (or without its Date) is the
// identity of the box's copy that lacks it.
//
// Only one missing field is bridged, so the other still tells messages
// apart: a device that sends the same text every day with neither field
// gets a different made-up Date each day at the old provider, and
// matching those without both fields would take every day's message for
// the one kept in the box. Such a message is imported again rather than
// lost.

// lacksOneAddedField says whether msg has exactly one of Message-ID and
// Date; if so, its identity is what addedFieldIdentities gives for the
// forwarded copy to which the old MX added the other.
func lacksOneAddedField(msg []byte) bool {
	vals, _ := identityFields(msg)
	return (len(vals["message-id"]) == 0) != (len(vals["date"]) == 0)
}

// addedFieldIdentities returns, for a message with both a Message-ID and
// a Date, its identity without the Message-ID and its identity without
// the Date; nil otherwise.
func addedFieldIdentities(msg []byte) []string {
	vals, body := identityFields(msg)
	if len(vals["message-id"]) == 0 || len(vals["date"]) == 0 {
		return nil
	}
	return []string{identityOf(vals, body, "message-id"), identityOf(vals, body, "date")}
}

// identityFields returns the values of the identity header fields
// (unfolded, whitespace collapsed) and the body.
func identityFields(msg []byte) (map[string][]string, []byte) {
	vals := map[string][]string{}
	for f := range mailmsg.Fields(msg) {
		name := strings.ToLower(string(f.Name))
		if f.Name == nil || !slices.Contains(identityHeaders, name) {
			continue
		}
		vals[name] = append(vals[name], strings.Join(strings.Fields(string(mailmsg.Unfold(f.Value))), " "))
	}
	return vals, msg[mailmsg.HeaderEnd(msg):]
}

// identityOf hashes the identity fields but skip, and the body.
func identityOf(vals map[string][]string, body []byte, skip string) string {
	h := sha256.New()
	writeIdentityFields(h, vals, skip)
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	body = bytes.TrimRight(body, "\n \t")
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// writeIdentityFields hashes the identity fields but skip, in a fixed
// order, and the separator before the body.
func writeIdentityFields(h hash.Hash, vals map[string][]string, skip string) {
	for _, n := range identityHeaders {
		if n == skip {
			continue
		}
		for _, v := range vals[n] {
			h.Write([]byte(n + ":" + v + "\n"))
		}
	}
	h.Write([]byte{0})
}

// headerValue returns the first value of a header field, unfolded, with
// surrounding white space removed.
func headerValue(msg []byte, name string) string {
	f, _ := mailmsg.Lookup(msg, name)
	return strings.TrimSpace(string(mailmsg.Unfold(f.Value)))
}
