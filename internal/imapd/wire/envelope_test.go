package wire

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"alice@example.com", []Address{{Mailbox: "alice", Host: "example.com"}}},
		{`"Smith, John" <john.smith@example.org>`, []Address{{Name: "Smith, John", Mailbox: "john.smith", Host: "example.org"}}},
		{"Terry Gray <gray@cac.washington.edu>, <x@y>", []Address{{Name: "Terry Gray", Mailbox: "gray", Host: "cac.washington.edu"}, {Mailbox: "x", Host: "y"}}},
		{"<@route:user@domain>", []Address{{Route: "@route", Mailbox: "user", Host: "domain"}}},
		{"Joe <@a.example,@b.example:joe@c.example>", []Address{{Name: "Joe", Route: "@a.example,@b.example", Mailbox: "joe", Host: "c.example"}}},
		{"undisclosed-recipients:;", []Address{{Mailbox: "undisclosed-recipients"}, {}}},
		{"Team: a@x, B <b@y>; c@z", []Address{{Mailbox: "Team"}, {Mailbox: "a", Host: "x"}, {Name: "B", Mailbox: "b", Host: "y"}, {}, {Mailbox: "c", Host: "z"}}},
		{"a@b (Comment (nested))", []Address{{Mailbox: "a", Host: "b"}}},
		{`"quoted local"@example.com`, []Address{{Mailbox: "quoted local", Host: "example.com"}}},
		{"=?utf-8?q?J=C3=BCrgen?= <j@example.de>", []Address{{Name: "=?utf-8?q?J=C3=BCrgen?=", Mailbox: "j", Host: "example.de"}}},
		{"nodomain", []Address{{Mailbox: "nodomain", Host: missingDomain}}},
		{"<>", nil}, // names no one; an empty address would read as a group end
		{": a@b;", []Address{{Mailbox: "a", Host: "b"}}}, // a nameless group: its members, no markers
		{"", nil},
		{",,,", nil},
		{"user@[192.0.2.1]", []Address{{Mailbox: "user", Host: "[192.0.2.1]"}}},
	}
	for _, tt := range tests {
		if got := ParseAddressList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
	// Junk never hangs or panics.
	for _, s := range []string{"<<<", ":::", ";;;", "\"", "(", "@", "a<b", "<@", "g: <@x", strings.Repeat("(", 1000)} {
		ParseAddressList(s)
	}
}

func TestEnvelope(t *testing.T) {
	msg := "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n" +
		"From: Terry Gray <gray@cac.washington.edu>\r\n" +
		"Subject: IMAP4rev1 WG mtg summary and\r\n minutes\r\n" +
		"To: imap@cac.washington.edu\r\n" +
		"Cc: minutes@CNRI.Reston.VA.US, \"John Klensin\" <KLENSIN@MIT.EDU>\r\n" +
		"Bcc: Friends: <@route:user@domain>;\r\n" +
		"Message-Id: <B27397-0100000@cac.washington.edu>\r\n" +
		"\r\nbody\r\n"
	got := encode(false, func(e *Encoder) { e.Envelope(ExtractEnvelope([]byte(msg))) })
	want := `("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" ` +
		`(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ` +
		`(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) ` +
		`((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) ` +
		`((NIL NIL "Friends" NIL)(NIL "@route" "user" "domain")(NIL NIL NIL NIL)) NIL "<B27397-0100000@cac.washington.edu>")`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := encode(false, func(e *Encoder) { e.Envelope(ExtractEnvelope([]byte("\r\n"))) }); got != "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" {
		t.Errorf("empty header: %s", got)
	}
}

func TestEnvelopeHeaderCap(t *testing.T) {
	msg := "X-Pad: " + strings.Repeat("x", MaxParsedHeader) + "\r\nSubject: late\r\n\r\n"
	if env := ExtractEnvelope([]byte(msg)); env.Subject != "" {
		t.Errorf("a field past the cap was parsed: %q", env.Subject)
	}
}

func TestBodyStructure(t *testing.T) {
	msg := "From: a@b\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
		"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\nworld\r\n" +
		"--XX\r\nContent-Type: application/pdf; name=\"a b.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"a b.pdf\"\r\n\r\nAAAA\r\n" +
		"--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nhi\r\n" +
		"--XX--\r\nepilogue\r\n"
	bs := ExtractBodyStructure([]byte(msg))
	got := encode(false, func(e *Encoder) { e.BodyStructure(bs, true) })
	want := `(("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 12 2 NIL NIL NIL NIL)` +
		`("application" "pdf" ("name" "a b.pdf") NIL NIL "BASE64" 4 NIL ("attachment" ("filename" "a b.pdf")) NIL NIL)` +
		`("message" "rfc822" NIL NIL NIL "7BIT" 20 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 2 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)` +
		` "mixed" ("boundary" "XX") NIL NIL NIL)`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = encode(false, func(e *Encoder) { e.BodyStructure(bs, false) })
	want = `(("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 12 2)("application" "pdf" ("name" "a b.pdf") NIL NIL "BASE64" 4)` +
		`("message" "rfc822" NIL NIL NIL "7BIT" 20 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 2 1) 3) "mixed")`
	if got != want {
		t.Errorf("BODY: got\n%s\nwant\n%s", got, want)
	}
	plain := encode(false, func(e *Encoder) { e.BodyStructure(ExtractBodyStructure([]byte("Subject: x\r\n\r\nabc")), false) })
	if plain != `("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 3 1)` {
		t.Errorf("plain: %s", plain)
	}
}

func countParts(p *BodyPart) int {
	n := 1
	for _, c := range p.Parts {
		n += countParts(c)
	}
	if p.Child != nil {
		n += countParts(p.Child)
	}
	return n
}

func TestBodyStructureCaps(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range 30000 {
		b.WriteString("--b\r\n\r\n")
	}
	b.WriteString("--b--\r\n")
	if n := countParts(ExtractBodyStructure([]byte(b.String()))); n > MaxMIMEParts+2 {
		t.Errorf("%d parts", n)
	}
	b.Reset()
	for range 1000 {
		b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n")
	}
	p := ExtractBodyStructure([]byte(b.String()))
	depth := 0
	for ; len(p.Parts) > 0; p = p.Parts[0] {
		depth++
	}
	if depth > MaxMIMEDepth {
		t.Errorf("depth %d", depth)
	}
	// The encoder writes what the parser built, however deep.
	encode(false, func(e *Encoder) { e.BodyStructure(ExtractBodyStructure([]byte(b.String())), true) })
}

func TestNestedMessagesStayWellFormed(t *testing.T) {
	msg := strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 1000) + "Subject: deep\r\n\r\nhi"
	p := ExtractBodyStructure([]byte(msg))
	depth := 0
	for ; p.Child != nil; p = p.Child {
		depth++
	}
	if depth > MaxMIMEDepth || p.Type != "application" {
		t.Errorf("depth %d, leaf %s/%s", depth, p.Type, p.Subtype)
	}
	out := encode(false, func(e *Encoder) { e.BodyStructure(ExtractBodyStructure([]byte(msg)), true) })
	if strings.Count(out, "(") != strings.Count(out, ")") {
		t.Error("unbalanced BODYSTRUCTURE")
	}
}
