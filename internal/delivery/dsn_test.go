package delivery

import (
	"strings"
	"testing"
	"time"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// returnedHeader is the text/rfc822-headers part of a bounce, up to the
// closing boundary.
func returnedHeader(t *testing.T, dsn string) string {
	t.Helper()
	_, rest, ok := strings.Cut(dsn, "Content-Type: text/rfc822-headers\r\n\r\n")
	if !ok {
		t.Fatalf("no returned header in:\n%s", dsn)
	}
	i := strings.LastIndex(rest, "\r\n--boxmail-dsn-")
	if i < 0 {
		t.Fatalf("no closing boundary in:\n%s", dsn)
	}
	return rest[:i]
}

// TestABounceReturnsTheHeaderMailmsgFinds: a bounce returns the original's
// header fields, cut where mailmsg says the header ends, whatever the
// line ends (bare LF included); never a line of the body.
func TestABounceReturnsTheHeaderMailmsgFinds(t *testing.T) {
	it := store.QueueItem{Sender: "anna@example.org", Created: time.Unix(1700000000, 0)}
	b := &bounceInfo{kind: bounceFailed, rcpts: []string{"ghost@example.net"}, msgs: []string{"550 5.1.1 no such user"}}
	for name, tc := range map[string]struct{ orig, want string }{
		"crlf":                     {"From: a@example.org\r\nSubject: hi\r\n there\r\n\r\nX-Body: not a field\r\n", "From: a@example.org\r\nSubject: hi\r\n there\r\n"},
		"bare LF":                  {"From: a@example.org\nSubject: hi\n there\n\nX-Body: not a field\n", "From: a@example.org\r\nSubject: hi\r\n there\r\n"},
		"mixed":                    {"From: a@example.org\nSubject: hi\r\n\r\nX-Body: not a field\n\nmore\n", "From: a@example.org\r\nSubject: hi\r\n"},
		"LF line, CRLF empty line": {"From: a@example.org\n\r\nX-Body: not a field\r\n\r\n", "From: a@example.org\r\n"},
		"no body":                  {"From: a@example.org\r\nSubject: hi\r\n", "From: a@example.org\r\nSubject: hi\r\n"},
	} {
		t.Run(name, func(t *testing.T) {
			got := returnedHeader(t, string(buildDSN("mail.example.net", it, b, []byte(tc.orig), time.Unix(1700000100, 0))))
			if got != tc.want {
				t.Errorf("returned header %q, want %q", got, tc.want)
			}
			end, _ := mailmsg.Bounds([]byte(tc.orig))
			if lines := strings.Count(tc.orig[:end], "\n"); strings.Count(got, "\r\n") != lines {
				t.Errorf("%d lines returned, the header has %d", strings.Count(got, "\r\n"), lines)
			}
		})
	}
}
