package mailauth

import (
	"strings"

	"boxmail/internal/mailmsg"
)

// fieldValue is a header field's value as the standards code reads it:
// unfolded (mailmsg.Unfold), surrounding white space removed.
func fieldValue(f mailmsg.Field) string {
	return strings.TrimSpace(string(mailmsg.Unfold(f.Value)))
}
