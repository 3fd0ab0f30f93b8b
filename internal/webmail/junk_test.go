package webmail

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The list offers "Junk" outside Junk and "Not junk" in it; Not junk
// moves the messages to the INBOX (through the store, which trains them
// as wanted).
func TestJunkAndNotJunk(t *testing.T) {
	f := newFixture(t)
	uid := f.deliver(f.a, "INBOX", simple("maybe spam", "x"))
	inbox, junk := f.box(f.a, "INBOX"), f.box(f.a, "Junk")
	_, page := f.do("a", "GET", fmt.Sprintf("/mail/box/%d", inbox.ID), nil)
	if !strings.Contains(page, `value="junk" id="junk"`) || strings.Contains(page, "Not junk") {
		t.Fatalf("INBOX's buttons:\n%s", page)
	}
	act := func(box int64, op string, uid uint32) {
		t.Helper()
		res, page := f.do("a", "POST", fmt.Sprintf("/mail/act/%d", box), url.Values{"op": {op}, "uid": {fmt.Sprint(uid)}, "csrf": {csrfOf + "a"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %s\n%s", op, res.Status, page)
		}
	}
	act(inbox.ID, "junk", uid)
	if c, _ := f.st.Counts(context.Background(), junk.ID); c.Messages != 1 {
		t.Fatalf("Junk has %d", c.Messages)
	}
	_, page = f.do("a", "GET", fmt.Sprintf("/mail/box/%d", junk.ID), nil)
	if !strings.Contains(page, `value="notjunk" id="not-junk">Not junk<`) || strings.Contains(page, `id="junk"`) {
		t.Fatalf("Junk's buttons:\n%s", page)
	}
	act(junk.ID, "notjunk", 1)
	if c, _ := f.st.Counts(context.Background(), junk.ID); c.Messages != 0 {
		t.Fatalf("Junk still has %d", c.Messages)
	}
	if c, _ := f.st.Counts(context.Background(), inbox.ID); c.Messages != 1 {
		t.Fatalf("INBOX has %d", c.Messages)
	}
}
