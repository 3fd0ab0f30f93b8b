package test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// A message kept with bare LF line ends (imports and APPEND keep the
// bytes as they came) has one header/body boundary everywhere: the
// header row the store keeps for SEARCH and ENVELOPE, IMAP FETCH
// BODY[HEADER] and BODY[TEXT], and the header a bounce returns. Its body
// holds a CRLF CRLF and a line that looks like a header field, which the
// old store rule (first CRLF CRLF) took for part of the header.
func TestABareLFMessageHasOneHeaderBoundaryInSearchFetchAndBounces(t *testing.T) {
	b := newBox(t)
	const msg = "From: me@example.test\nTo: ghost@nowhere.example.test\nSubject: bare lf probe\n folded\nMessage-ID: <barelf@example.test>\n\n" +
		"X-Body-Field: in the body\n\nmore body\r\n\r\nend\n"
	header, text := mailmsg.Split([]byte(msg))
	if !strings.HasSuffix(string(header), "<barelf@example.test>\n\n") {
		t.Fatalf("mailmsg cut the header at %d: %q", len(header), header)
	}

	// One delivery: a copy in the admin's INBOX and a queued copy to a
	// domain that does not exist in the box's own zone, which bounces.
	ctx := context.Background()
	st, acc := b.OpenAccount(b.Admin)
	if err := st.Deliver(ctx, store.Delivery{Data: []byte(msg), Received: time.Now(), Sender: b.Admin,
		Local: []store.LocalTarget{{AccountID: acc.ID}}, Remote: []string{"ghost@nowhere.example.test"}}); err != nil {
		t.Fatal(err)
	}

	// The store: the header row SEARCH and ENVELOPE read.
	mb, err := st.MailboxByName(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	lm, err := st.LoadMessages(ctx, mb.ID, []uint32{1}, store.BodyHeader)
	if err != nil || len(lm) != 1 {
		t.Fatalf("LoadMessages: %v, %d", err, len(lm))
	}
	if string(lm[0].Data) != string(header) {
		t.Errorf("store header row %q, want %q", lm[0].Data, header)
	}

	// IMAP: FETCH BODY[HEADER] and BODY[TEXT], and SEARCH HEADER.
	c := imapLogin(t, b)
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	hdrSec := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	textSec := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{hdrSec, textSec}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v, %d messages", err, len(msgs))
	}
	if got := msgs[0].FindBodySection(hdrSec); string(got) != string(header) {
		t.Errorf("BODY[HEADER] %q, want %q", got, header)
	}
	if got := msgs[0].FindBodySection(textSec); string(got) != string(text) {
		t.Errorf("BODY[TEXT] %q, want %q", got, text)
	}
	for _, tc := range []struct {
		key, value string
		want       []uint32
	}{
		{"Subject", "bare lf probe", []uint32{1}},
		{"X-Body-Field", "", nil},
	} {
		d, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: tc.key, Value: tc.value}}}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if got := d.AllUIDs(); !slices.Equal(got, toUIDs(tc.want)) {
			t.Errorf("SEARCH HEADER %s %q: %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}

	// The bounce comes back to the sender and returns the header fields
	// (line ends made CRLF), not a line of the body.
	var dsn string
	testutil.WaitFor(t, "the bounce", 20*time.Second, func() bool {
		for _, m := range b.Mailbox(b.Admin, "INBOX") {
			if strings.Contains(string(m), "text/rfc822-headers") {
				dsn = string(m)
				return true
			}
		}
		return false
	})
	_, part, ok := strings.Cut(dsn, "Content-Type: text/rfc822-headers\r\n\r\n")
	if !ok {
		t.Fatalf("bounce without returned header:\n%s", dsn)
	}
	part, _, _ = strings.Cut(part, "\r\n--")
	fieldsEnd, _ := mailmsg.Bounds([]byte(msg))
	if want := strings.ReplaceAll(msg[:fieldsEnd], "\n", "\r\n"); part != want {
		t.Errorf("bounce returns %q, want %q", part, want)
	}
}

func toUIDs(n []uint32) []imap.UID {
	var out []imap.UID
	for _, u := range n {
		out = append(out, imap.UID(u))
	}
	return out
}
