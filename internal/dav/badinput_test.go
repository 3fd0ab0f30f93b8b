package dav

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMalformedObjectsNameTheLine: a PUT of a broken vCard or
// iCalendar object is a 400 whose message names the line at fault.
func TestMalformedObjectsNameTheLine(t *testing.T) {
	f := newFixture(t)
	ann := "ann@example.org"
	book, cal := "/dav/ann@example.org/contacts/default/x.vcf", "/dav/ann@example.org/calendars/default/x.ics"
	for _, c := range []struct{ path, body, want string }{
		{book, "BEGIN:VCARD\r\nVERSION:3.0\r\nFN Ann\r\nEND:VCARD\r\n", "line 3: \"FN Ann\" has no colon"},
		{book, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Ann\r\n", "line 4: BEGIN:VCARD of line 1 is never ended"},
		{book, "VERSION:3.0\r\nBEGIN:VCARD\r\nEND:VCARD\r\n", "line 1: a vCard starts with BEGIN:VCARD"},
		{book, annCard + annCard, "line 8: more than one vCard"},
		{book, "BEGIN:VCARD\r\nVERSION:3.0\r\nF N:Ann\r\nEND:VCARD\r\n", "line 3: \"F N\" is not a property name"},
		{book, "", "line 1: empty"},
		{cal, strings.Replace(event, "END:VEVENT\r\n", "", 1), "line 10: END:VCALENDAR, but BEGIN:VEVENT of line 4 is still open"},
		{cal, event + "X-JUNK:1\r\n", "line 12: content after END:VCALENDAR"},
		{cal, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 3: END:VEVENT, but BEGIN:VCALENDAR of line 1 is still open"},
		{cal, " folded\r\n" + event, "line 1: a folded line with no line before it"},
	} {
		code, body, _ := f.do(ann, "PUT", c.path, c.body, xmlCT, "text/plain")
		if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("PUT %q: %d %s (want 400 with %q)", c.body, code, body, c.want)
		}
	}
	// Folded lines and groups are content lines like any other.
	folded := strings.Replace(annCard, "FN:Ann Example\r\n", "FN:Ann\r\n  Example\r\nitem1.EMAIL;TYPE=\"a:b\":x@example.org\r\n", 1)
	if code, body, _ := f.do(ann, "PUT", book, folded, xmlCT, "text/vcard"); code != http.StatusCreated {
		t.Errorf("a folded vCard with a group: %d %s", code, body)
	}
}

// countingReader yields n bytes of a filler, counting what was read.
type countingReader struct {
	left int64
	read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	n = min(n, r.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.left -= n
	r.read.Add(n)
	return int(n), nil
}

// TestA50MBEventIsRefusedUnread: a 50 MB PUT is a 413, with or without a
// Content-Length, and the server stops reading it near the 1 MiB cap.
func TestA50MBEventIsRefusedUnread(t *testing.T) {
	f := newFixture(t)
	const size = 50 << 20
	for _, withLength := range []bool{true, false} {
		body := &countingReader{left: size}
		req, err := http.NewRequest("PUT", f.srv.URL+"/dav/ann@example.org/calendars/default/big.ics", io.NopCloser(body))
		if err != nil {
			t.Fatal(err)
		}
		if withLength {
			req.ContentLength = size
		}
		req.SetBasicAuth("ann@example.org", "secret-password-1")
		req.Header.Set("Content-Type", "text/calendar")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("length %v: %d", withLength, resp.StatusCode)
			}
		} // else: the server closed the connection on the unread rest, as it may
		if got := body.read.Load(); got > 16<<20 {
			t.Errorf("length %v: the client got to send %d bytes", withLength, got)
		}
	}
}

// TestUIDCollisionAndStaleETags: the same UID under a second name is a
// 409 (no-uid-conflict) in a calendar as in an address book; a PUT or a
// DELETE with a stale If-Match is a 412 and changes nothing.
func TestUIDCollisionAndStaleETags(t *testing.T) {
	f := newFixture(t)
	ann := "ann@example.org"
	cal := "/dav/ann@example.org/calendars/default/"
	code, _, resp := f.do(ann, "PUT", cal+"ev-1.ics", event, xmlCT, "text/calendar")
	if code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	etag := resp.Header.Get("ETag")
	if code, body, _ := f.do(ann, "PUT", cal+"other.ics", event, xmlCT, "text/calendar"); code != http.StatusConflict || !strings.Contains(body, "no-uid-conflict") {
		t.Errorf("the same UID under another name: %d %s", code, body)
	}
	moved := strings.Replace(event, "Dentist", "Dentist (moved)", 1)
	if code, _, _ := f.do(ann, "PUT", cal+"ev-1.ics", moved, xmlCT, "text/calendar", "If-Match", `"0123456789abcdef0123456789abcdef"`); code != http.StatusPreconditionFailed {
		t.Errorf("PUT with a stale ETag: %d", code)
	}
	if code, _, _ := f.do(ann, "DELETE", cal+"ev-1.ics", "", "If-Match", `"0123456789abcdef0123456789abcdef"`); code != http.StatusPreconditionFailed {
		t.Errorf("DELETE with a stale ETag: %d", code)
	}
	if code, body, resp := f.do(ann, "GET", cal+"ev-1.ics", ""); code != http.StatusOK || strings.Contains(body, "moved") || resp.Header.Get("ETag") != etag {
		t.Errorf("after the refused changes: %d %q %s", code, resp.Header.Get("ETag"), body)
	}
	if code, _, _ := f.do(ann, "PUT", cal+"ev-1.ics", moved, xmlCT, "text/calendar", "If-Match", etag); code != http.StatusNoContent && code != http.StatusCreated && code != http.StatusOK {
		t.Errorf("PUT with the right ETag: %d", code)
	}
}

// TestSharedNamesDoNotClimb: shared~ names that are not exactly an id,
// or that try to climb, answer 404 like any path that does not exist.
func TestSharedNamesDoNotClimb(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{
		"/dav/ann@example.org/calendars/shared~01/x.ics",
		"/dav/ann@example.org/calendars/shared~-1/x.ics",
		"/dav/ann@example.org/calendars/shared~1/x.ics",
		"/dav/ann@example.org/calendars/shared~1%2f..%2f..%2fbob@example.org/x.ics",
		"/dav/ann@example.org/calendars/shared~/x.ics",
	} {
		if code, _, _ := f.do("ann@example.org", "GET", p, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}
