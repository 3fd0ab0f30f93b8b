package imapd

import (
	"bufio"
	"bytes"
	"mime"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"boxmail/internal/mailmsg"
)

// referenceMatch is header SEARCH as it was before the store kept the
// searched fields (commit 806d654): parse the header, decode encoded
// words, lower-case, substring (RFC 3501 6.4.4). SEARCH with the store's
// candidates must give exactly its results.
func referenceMatch(data []byte, key, value string) bool {
	dec := &mime.WordDecoder{CharsetReader: message.CharsetReader}
	th, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data[:mailmsg.HeaderEnd(data)])))
	h := mail.Header{Header: message.Header{Header: th}}
	value = strings.ToLower(value)
	for f := h.FieldsByKey(key); f.Next(); {
		v := f.Value()
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		if strings.Contains(strings.ToLower(v), value) {
			return true
		}
	}
	return false
}

var headerSearchMessages = []string{
	// 1: encoded words, Q and B, UTF-8 and Latin-1, across two words
	"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.test>\r\nTo: bob@example.test\r\n" +
		"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n\r\nx\r\n",
	"From: a@example.test\r\nSubject: =?ISO-8859-1?B?SOR0dGVuIFNpZSBaZWl0Pw==?= und =?utf-8?q?foo?= =?utf-8?q?bar?=\r\n\r\nx\r\n",
	// 3: raw 8-bit UTF-8, mixed case
	"From: Zoë <zoe@example.test>\r\nSubject: ÄRGER mit der Größe\r\n\r\nx\r\n",
	// 4: a folded subject and address list; two To fields; Cc and Bcc
	"From: Alice Example <alice@example.test>\r\nTo: Bob <bob@example.test>,\r\n Carol <carol@example.test>\r\n" +
		"To: dave@example.test\r\nCc: Eve <EVE@Example.test>\r\nBcc: mallory@example.test\r\n" +
		"Subject: a very long subject that is\r\n\tfolded over two lines\r\n\r\nx\r\n",
	// 5: an unknown charset (left encoded), no Subject
	"From: =?x-unknown?Q?abc?= <u@example.test>\r\nTo: bob@example.test\r\n\r\nx\r\n",
	// 6: bare LF line endings, empty subject
	"From: lf@example.test\nTo: bob@example.test\nSubject: \nX-Other: topic-0042\n\nbody topic-0042\n",
	// 7: a malformed encoded word, and the needle only in another field
	"From: x@example.test\r\nSubject: =?UTF-8?Q?broken=ZZ?= topic-0042\r\nComments: Güte\r\n\r\nx\r\n",
}

func TestHeaderSearchGivesWhatParsingEveryHeaderGives(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	for _, m := range headerSearchMessages {
		ts.deliver(t, bob, m)
	}
	c := ts.login(t, bob, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	keys := []string{"Subject", "From", "To", "Cc", "Bcc", "subject", "X-Other", "Comments"}
	values := []string{"", "grüße", "KÖLN", "köln", "=?utf-8", "hätten sie", "FOOBAR", "und foo",
		"ärger", "GRÖSSE", "größe", "zoë", "ZOË", "jürgen", "long subject", "is folded", "is\tfolded",
		"carol", "bob@", "DAVE", "eve@example", "mallory", "alice example", "=?x-unknown?q?abc?=", "abc",
		"topic-0042", "broken=zz", "güte", "example.test", "x", " "}
	var checked, hits int
	defer func(m int) { headerCandidatesMin = m }(headerCandidatesMin)
	for _, n := range []int{1, headerCandidatesMin} { // with the store's candidates, and without
		headerCandidatesMin = n
		for _, k := range keys {
			for _, v := range values {
				var want []uint32
				for i, m := range headerSearchMessages {
					if referenceMatch([]byte(m), k, v) {
						want = append(want, uint32(i+1))
					}
				}
				crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}}
				data, err := c.UIDSearch(crit, nil).Wait()
				if err != nil {
					t.Fatalf("HEADER %s %q: %v", k, v, err)
				}
				var got []uint32
				for _, u := range data.AllUIDs() {
					got = append(got, uint32(u))
				}
				if !slices.Equal(got, want) {
					t.Errorf("UID SEARCH HEADER %s %q = %v, want %v", k, v, got, want)
				}
				checked++
				hits += len(want)
			}
		}
	}
	headerCandidatesMin = 1
	// Some answers that do not depend on the reference being right.
	for _, tc := range []struct {
		key, value string
		want       []uint32
	}{
		{"Subject", "köln", []uint32{1}},
		{"Subject", "foobar", []uint32{2}},
		{"Subject", "ärger", []uint32{3}},
		{"To", "dave", []uint32{4}},
		{"Cc", "eve@example", []uint32{4}},
		{"From", "=?X-UNKNOWN?q?", []uint32{5}}, // an unknown charset stays encoded
		{"Subject", "topic-0042", []uint32{7}},
		{"Subject", "", []uint32{1, 2, 3, 4, 6, 7}},
	} {
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: tc.key, Value: tc.value}}}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for _, u := range data.AllUIDs() {
			got = append(got, uint32(u))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("UID SEARCH HEADER %s %q = %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
	t.Logf("%d searches, %d hits", checked, hits)
}
