package wire

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func encode(utf8 bool, f func(e *Encoder)) string {
	var b bytes.Buffer
	w := NewBufWriter(&b)
	e := NewEncoder(w)
	e.UTF8 = utf8
	f(e)
	if err := e.Flush(); err != nil {
		panic(err)
	}
	return b.String()
}

func TestStringForms(t *testing.T) {
	tests := []struct {
		in       string
		utf8     bool
		astring  string
		asString string
	}{
		{"INBOX", false, "INBOX", `"INBOX"`},
		{"", false, `""`, `""`},
		{"NIL", false, `"NIL"`, `"NIL"`},
		{"nil", false, `"nil"`, `"nil"`},
		{"two words", false, `"two words"`, `"two words"`},
		{`a"b\c`, false, `"a\"b\\c"`, `"a\"b\\c"`},
		{"x(y)", false, `"x(y)"`, `"x(y)"`},
		{"a]b", false, "a]b", `"a]b"`},
		{"line\r\nbreak", false, "{11}\r\nline\r\nbreak", "{11}\r\nline\r\nbreak"},
		{"naïve", false, "{6}\r\nnaïve", "{6}\r\nnaïve"},
		{"naïve", true, `"naïve"`, `"naïve"`},
		{"%*", false, `"%*"`, `"%*"`},
		{"bad\xff", true, "{4}\r\nbad\xff", "{4}\r\nbad\xff"},
	}
	for _, tt := range tests {
		if got := encode(tt.utf8, func(e *Encoder) { e.AString(tt.in) }); got != tt.astring {
			t.Errorf("AString(%q) = %q, want %q", tt.in, got, tt.astring)
		}
		if got := encode(tt.utf8, func(e *Encoder) { e.String(tt.in) }); got != tt.asString {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.asString)
		}
	}
}

// roundTrip checks that what the encoder writes as an astring the reader
// reads back unchanged.
func TestEncoderRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "two words", `q"uo\te`, "crlf\r\nin", "8bit é", "NIL", "", "]", "{5}", "~{3}"} {
		line := encode(false, func(e *Encoder) { e.Raw("a LOGIN ").AString(s).SP().String(s) }) + "\r\n"
		r, _ := newTestReader(line, Limits{})
		cmd, err := r.ReadCommand()
		if err != nil {
			t.Errorf("%q: %v (line %q)", s, err, line)
			continue
		}
		if l := cmd.Args.(*Login); l.User != s || l.Password != s {
			t.Errorf("%q: read back %q %q", s, l.User, l.Password)
		}
	}
	for _, name := range []string{"INBOX", "日本語", "a&b", "Entwürfe/Sub", "~peter/mail/台北/日本語"} {
		line := encode(false, func(e *Encoder) { e.Raw("a SELECT ").Mailbox(name) }) + "\r\n"
		r, _ := newTestReader(line, Limits{})
		cmd, err := r.ReadCommand()
		if err != nil || cmd.Args.(*Select).Mailbox != name {
			t.Errorf("%q: %q %v %+v", name, line, err, cmd)
		}
	}
	if got := EncodeMailbox("~peter/mail/台北/日本語", false); got != "~peter/mail/&U,BTFw-/&ZeVnLIqe-" {
		t.Errorf("RFC 3501 example: %q", got)
	}
	for _, s := range []string{"1", "1:*", "2,4:7,9,12:*", "$", "*:4"} {
		set, err := ParseSeqSet(s, true)
		if err != nil || set.String() != s || encode(false, func(e *Encoder) { e.SeqSet(set) }) != s {
			t.Errorf("%q: %v %q", s, err, set.String())
		}
	}
}

func TestResponses(t *testing.T) {
	date := time.Date(1996, 7, 17, 2, 44, 25, 0, time.FixedZone("", -7*3600))
	tests := []struct {
		want string
		f    func(e *Encoder)
	}{
		{"a OK [APPENDUID 38505 3955] APPEND completed\r\n", func(e *Encoder) {
			e.Status("a", "OK", CodeAppendUID(38505, set(Range{3955, 3955})), "APPEND completed")
		}},
		{"a OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n", func(e *Encoder) {
			e.Status("a", "OK", CodeCopyUID(38505, set(Range{304, 304}, Range{319, 320}), set(Range{3956, 3958})), "Done")
		}},
		{"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n", func(e *Encoder) { e.Status("*", "OK", CodeUIDValidity(3857529045), "UIDs valid") }},
		{"* OK [UIDNEXT 4392] Predicted next UID\r\n", func(e *Encoder) { e.Status("*", "OK", CodeUIDNext(4392), "Predicted next UID") }},
		{"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n", func(e *Encoder) { e.Status("*", "OK", CodeHighestModSeq(715194045007), "Highest") }},
		{"d105 OK [MODIFIED 7,9] Conditional STORE failed\r\n", func(e *Encoder) {
			e.Status("d105", "OK", CodeModified(set(Range{7, 7}, Range{9, 9})), "Conditional STORE failed")
		}},
		{"* OK [CLOSED] x\r\n", func(e *Encoder) { e.Status("*", "OK", CodeClosed, "x") }},
		{"a NO [TOOBIG] too big\r\n", func(e *Encoder) { e.Status("a", "NO", CodeTooBig, "too big") }},
		{"a NO [OVERQUOTA] x  y\r\n", func(e *Encoder) { e.Status("a", "NO", CodeOverQuota, "x\r\ny") }},
		{"a NO [ALREADYEXISTS] done\r\n", func(e *Encoder) { e.Status("a", "NO", CodeAlreadyExists, "") }},
		{"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n", func(e *Encoder) {
			e.Status("*", "OK", CodePermanentFlags([]string{`\Deleted`, `\Seen`, `\*`}), "Limited")
		}},
		{"* 172 EXISTS\r\n", func(e *Encoder) { e.Exists(172) }},
		{"* 1 RECENT\r\n", func(e *Encoder) { e.Recent(1) }},
		{"* 3 EXPUNGE\r\n", func(e *Encoder) { e.Expunge(3) }},
		{"* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n", func(e *Encoder) {
			e.Vanished(set(Range{41, 41}, Range{43, 116}, Range{118, 118}, Range{120, 211}, Range{214, 540}), true)
		}},
		{"* VANISHED 405,407\r\n", func(e *Encoder) { e.Vanished(set(Range{405, 405}, Range{407, 407}), false) }},
		{"* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n", func(e *Encoder) {
			e.ESearch(ESearchResult{Tag: "A282", Min: 2, HasMin: true, Count: 3, HasCount: true})
		}},
		{"* ESEARCH (TAG \"A283\") UID ALL 2,10:11 MODSEQ 917162500\r\n", func(e *Encoder) {
			e.ESearch(ESearchResult{Tag: "A283", UID: true, All: set(Range{2, 2}, Range{10, 11}), ModSeq: 917162500})
		}},
		{"* SEARCH 2 5 6 (MODSEQ 917162500)\r\n", func(e *Encoder) { e.Search([]uint32{2, 5, 6}, 917162500) }},
		{"* SEARCH\r\n", func(e *Encoder) { e.Search(nil, 0) }},
		{"* LIST (\\Marked \\NoInferiors) \"/\" inbox\r\n", func(e *Encoder) {
			e.List(ListItem{Attrs: []string{`\Marked`, `\NoInferiors`}, Delim: '/', Name: "inbox"})
		}},
		{"* LIST () \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n", func(e *Encoder) {
			// Foo is an atom; the extended data is what is tested.
			e.List(ListItem{Attrs: []string{}, Delim: '/', Name: "Foo", ChildInfo: []string{"SUBSCRIBED"}})
		}},
		{"* LSUB (\\Noselect) NIL &ZeVnLIqe-\r\n", func(e *Encoder) {
			e.List(ListItem{LSUB: true, Attrs: []string{`\Noselect`}, Name: "日本語"})
		}},
		{"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7011231777)\r\n", func(e *Encoder) {
			e.MailboxStatus("blurdybloop", []StatusItem{{"MESSAGES", 231}, {"UIDNEXT", 44292}, {"HIGHESTMODSEQ", 7011231777}})
		}},
		{"* STATUS \"two words\" ()\r\n", func(e *Encoder) { e.MailboxStatus("two words", nil) }},
		{"* ID (\"name\" \"boxmail\" \"os\" NIL)\r\n", func(e *Encoder) {
			e.ID([]IDField{{Name: "name", Value: "boxmail"}, {Name: "os", Nil: true}})
		}},
		{"* ID NIL\r\n", func(e *Encoder) { e.ID(nil) }},
		{"* QUOTA \"\" (STORAGE 10 512)\r\n", func(e *Encoder) { e.Quota("", []QuotaResource{{"STORAGE", 10, 512}}) }},
		{"* QUOTAROOT INBOX \"\"\r\n", func(e *Encoder) { e.QuotaRoot("INBOX", []string{""}) }},
		{"* CAPABILITY IMAP4rev1 IMAP4rev2 IDLE\r\n", func(e *Encoder) { e.Capability([]string{"IMAP4rev1", "IMAP4rev2", "IDLE"}) }},
		{"* ENABLED CONDSTORE\r\n", func(e *Encoder) { e.Enabled([]string{"CONDSTORE"}) }},
		{"* FLAGS (\\Seen $Forwarded)\r\n", func(e *Encoder) { e.FlagsResponse([]string{`\Seen`, "$Forwarded"}) }},
		{"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n", func(e *Encoder) { e.NamespaceResponse([]Namespace{{"", '/'}}, nil, nil) }},
		{"+ Ready\r\n", func(e *Encoder) { e.Continuation("Ready") }},
		{"* 12 FETCH (UID 42 FLAGS (\\Seen) MODSEQ (12121231000) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286)\r\n", func(e *Encoder) {
			e.FetchStart(12).FetchUID(42).FetchFlags([]string{`\Seen`}).FetchModSeq(12121231000).FetchInternalDate(date).FetchSize(4286).FetchEnd()
		}},
		{"* 1 FETCH (BODY[1.HEADER.FIELDS (From to)]<0> {5}\r\nhello BINARY[2] ~{3}\r\na\x00b BINARY.SIZE[2] 3 BODY[3] NIL)\r\n", func(e *Encoder) {
			it := FetchItem{Name: "BODY", Peek: true, Section: &Section{Part: []uint32{1}, Specifier: "HEADER.FIELDS", Fields: []string{"From", "to"}}, Partial: &Partial{0, 5}}
			e.FetchStart(1).FetchSection(it.ResponseName(), 5, strings.NewReader("hello world"))
			e.FetchBinary("BINARY[2]", 3, strings.NewReader("a\x00b"), true).FetchBinarySize("BINARY.SIZE[2]", 3).FetchNil("BODY[3]").FetchEnd()
		}},
	}
	for _, tt := range tests {
		if got := encode(false, tt.f); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestLiteralShortReaderIsAnError(t *testing.T) {
	var b bytes.Buffer
	e := NewEncoder(NewBufWriter(&b))
	e.Literal(10, strings.NewReader("short"))
	if e.Err() == nil {
		t.Fatal("a literal shorter than announced must fail")
	}
}
