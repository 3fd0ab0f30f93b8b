package wire

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// newTestReader reads commands from in; conts counts continuation
// requests.
func newTestReader(in string, lim Limits) (*Reader, *int) {
	r := NewReader(bufio.NewReader(strings.NewReader(in)), lim)
	n := 0
	r.Continue = func() error { n++; return nil }
	return r, &n
}

func set(rs ...Range) SeqSet { return SeqSet{Ranges: rs} }

func TestGoodCommands(t *testing.T) {
	date := time.Date(2024, 2, 7, 9, 5, 1, 0, time.FixedZone("", -8*3600))
	tests := []struct {
		in   string
		name string
		uid  bool
		args any
	}{
		{"a CAPABILITY\r\n", "CAPABILITY", false, nil},
		{"a noop\r\n", "NOOP", false, nil},
		{"a LOGOUT\r\n", "LOGOUT", false, nil},
		{"a STARTTLS\r\n", "STARTTLS", false, nil},
		{"a NAMESPACE\r\n", "NAMESPACE", false, nil},
		{"a IDLE\r\n", "IDLE", false, nil},
		{"a CHECK\r\n", "CHECK", false, nil},
		{"a CLOSE\r\n", "CLOSE", false, nil},
		{"a UNSELECT\r\n", "UNSELECT", false, nil},
		{"a EXPUNGE\r\n", "EXPUNGE", false, nil},
		{"a EXPUNGE\n", "EXPUNGE", false, nil}, // bare LF
		{"a UID EXPUNGE 1:3,7\r\n", "EXPUNGE", true, &Expunge{Seq: set(Range{1, 3}, Range{7, 7})}},
		{"a AUTHENTICATE plain\r\n", "AUTHENTICATE", false, &Authenticate{Mechanism: "PLAIN"}},
		{"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n", "AUTHENTICATE", false, &Authenticate{Mechanism: "PLAIN", Initial: "AGFsaWNlAHNlY3JldA==", HasInitial: true}},
		{"a AUTHENTICATE PLAIN =\r\n", "AUTHENTICATE", false, &Authenticate{Mechanism: "PLAIN", Initial: "=", HasInitial: true}},
		{"a LOGIN alice \"se\\\"cret\"\r\n", "LOGIN", false, &Login{User: "alice", Password: `se"cret`}},
		{"a LOGIN {5}\r\nalice {3+}\r\nx y\r\n", "LOGIN", false, &Login{User: "alice", Password: "x y"}},
		{"a ENABLE CONDSTORE qresync\r\n", "ENABLE", false, &Enable{Caps: []string{"CONDSTORE", "QRESYNC"}}},
		{"a SELECT inbox\r\n", "SELECT", false, &Select{Mailbox: "INBOX"}},
		{"a EXAMINE \"Sent\" (CONDSTORE)\r\n", "EXAMINE", false, &Select{Mailbox: "Sent", CondStore: true}},
		{"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n", "SELECT", false,
			&Select{Mailbox: "INBOX", QResync: &QResync{UIDValidity: 67890007, ModSeq: 20050715194045000, KnownUIDs: &SeqSet{Ranges: []Range{{41, 41}, {43, 211}, {214, 541}}}}}},
		{"a SELECT INBOX (QRESYNC (1 2 1:* (1:5 10:14)))\r\n", "SELECT", false,
			&Select{Mailbox: "INBOX", QResync: &QResync{UIDValidity: 1, ModSeq: 2, KnownUIDs: &SeqSet{Ranges: []Range{{1, 0}}}, KnownSeqs: &SeqSet{Ranges: []Range{{1, 5}}}, KnownSeqUIDs: &SeqSet{Ranges: []Range{{10, 14}}}}}},
		{"a SELECT INBOX (QRESYNC (1 2))\r\n", "SELECT", false, &Select{Mailbox: "INBOX", QResync: &QResync{UIDValidity: 1, ModSeq: 2}}},
		{"a CREATE Archive/2024\r\n", "CREATE", false, &Create{Mailbox: "Archive/2024"}},
		{"a CREATE Junk (USE (\\junk))\r\n", "CREATE", false, &Create{Mailbox: "Junk", Use: []string{`\Junk`}}},
		{"a CREATE &ZeVnLIqe-\r\n", "CREATE", false, &Create{Mailbox: "日本語"}},
		{"a DELETE foo\r\n", "DELETE", false, &Mailbox{Name: "foo"}},
		{"a SUBSCRIBE INBOX/x\r\n", "SUBSCRIBE", false, &Mailbox{Name: "INBOX/x"}},
		{"a UNSUBSCRIBE inbox/x\r\n", "UNSUBSCRIBE", false, &Mailbox{Name: "INBOX/x"}},
		{"a RENAME a b\r\n", "RENAME", false, &Rename{From: "a", To: "b"}},
		{"a LIST \"\" *\r\n", "LIST", false, &List{Patterns: []string{"*"}}},
		{"a LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|}%*\r\n", "LIST", false, &List{Patterns: []string{"!#$&'+,-.0123456789:;<=>?@^_`|}%*"}}},
		{"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"%\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n", "LIST", false,
			&List{Select: []string{"SUBSCRIBED", "RECURSIVEMATCH"}, Patterns: []string{"INBOX", "%"}, Return: []string{"CHILDREN"}, Status: []string{"MESSAGES", "UNSEEN"}}},
		{"a LIST () \"\" % RETURN ()\r\n", "LIST", false, &List{Select: []string{}, Patterns: []string{"%"}, Return: []string{}}},
		{"a LSUB \"\" %\r\n", "LSUB", false, &List{Patterns: []string{"%"}}},
		{"a STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ APPENDLIMIT SIZE DELETED)\r\n", "STATUS", false,
			&Status{Mailbox: "blurdybloop", Items: []string{"UIDNEXT", "MESSAGES", "HIGHESTMODSEQ", "APPENDLIMIT", "SIZE", "DELETED"}}},
		{"a CHECK\r\n", "CHECK", false, nil},
		{"a FETCH 1:* (FLAGS)\r\n", "FETCH", false, &Fetch{Seq: set(Range{1, 0}), Items: []FetchItem{{Name: "FLAGS"}}}},
		{"a UID FETCH 1:* FLAGS\r\n", "FETCH", true, &Fetch{Seq: set(Range{1, 0}), Items: []FetchItem{{Name: "FLAGS"}}}},
		{"a FETCH 2 fast\r\n", "FETCH", false, &Fetch{Seq: set(Range{2, 2}), Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}}}},
		{"a FETCH 2 ALL\r\n", "FETCH", false, &Fetch{Seq: set(Range{2, 2}), Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}}}},
		{"a FETCH $ (UID BODY.PEEK[HEADER.FIELDS (From \"To\")] BODY[1.2.MIME] BINARY.PEEK[5]<0.7> BINARY.SIZE[1] BODY[]<10.20> MODSEQ)\r\n", "FETCH", false,
			&Fetch{Seq: SeqSet{Saved: true}, Items: []FetchItem{
				{Name: "UID"},
				{Name: "BODY", Peek: true, Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "To"}}},
				{Name: "BODY", Section: &Section{Part: []uint32{1, 2}, Specifier: "MIME"}},
				{Name: "BINARY", Peek: true, Section: &Section{Part: []uint32{5}}, Partial: &Partial{0, 7}},
				{Name: "BINARY.SIZE", Section: &Section{Part: []uint32{1}}},
				{Name: "BODY", Section: &Section{}, Partial: &Partial{10, 20}},
				{Name: "MODSEQ"}}}},
		{"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n", "FETCH", true,
			&Fetch{Seq: set(Range{1, 0}), Items: []FetchItem{{Name: "FLAGS"}}, ChangedSince: 12345, HasChangedSince: true, Vanished: true}},
		{"a STORE 1:3 +FLAGS.SILENT (\\Deleted $Junk)\r\n", "STORE", false, &Store{Seq: set(Range{1, 3}), Op: '+', Silent: true, Flags: []string{`\Deleted`, "$Junk"}}},
		{"a UID STORE 4 (UNCHANGEDSINCE 320162338) -flags \\seen\r\n", "STORE", true, &Store{Seq: set(Range{4, 4}), Op: '-', Flags: []string{`\Seen`}, UnchangedSince: 320162338, HasUnchanged: true}},
		{"a STORE * FLAGS ()\r\n", "STORE", false, &Store{Seq: set(Range{0, 0}), Flags: []string{}}},
		{"a COPY 2:4 MEETING\r\n", "COPY", false, &Copy{Seq: set(Range{2, 4}), Mailbox: "MEETING"}},
		{"a UID MOVE 42 Trash\r\n", "MOVE", true, &Copy{Seq: set(Range{42, 42}), Mailbox: "Trash"}},
		{"a ID NIL\r\n", "ID", false, &ID{}},
		{"a ID (\"name\" \"sodr\" \"version\" NIL)\r\n", "ID", false, &ID{Fields: []IDField{{Name: "name", Value: "sodr"}, {Name: "version", Nil: true}}}},
		{"a GETQUOTA \"\"\r\n", "GETQUOTA", false, &QuotaRoot{}},
		{"a GETQUOTAROOT INBOX\r\n", "GETQUOTAROOT", false, &Mailbox{Name: "INBOX"}},
		{"a SETQUOTA \"\" (STORAGE 512)\r\n", "SETQUOTA", false, &SetQuota{Limits: []QuotaLimit{{"STORAGE", 512}}}},
		{"a COMPRESS deflate\r\n", "COMPRESS", false, &Compress{Mechanism: "DEFLATE"}},
	}
	for _, tt := range tests {
		r, _ := newTestReader(tt.in, Limits{})
		cmd, err := r.ReadCommand()
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if cmd.Tag != "a" || cmd.Name != tt.name || cmd.UID != tt.uid {
			t.Errorf("%q: got %s %s uid=%v", tt.in, cmd.Tag, cmd.Name, cmd.UID)
		}
		if !reflect.DeepEqual(cmd.Args, tt.args) {
			t.Errorf("%q:\n got %#v\nwant %#v", tt.in, cmd.Args, tt.args)
		}
		if _, err := r.ReadCommand(); err != io.ErrUnexpectedEOF && err != io.EOF {
			t.Errorf("%q: input left: %v", tt.in, err)
		}
	}
	_ = date
}

func TestBadCommands(t *testing.T) {
	tests := []struct {
		in   string
		kind Kind
		code string
	}{
		{"\r\n", BAD, ""},
		{"a\r\n", BAD, ""},
		{"+ NOOP\r\n", BAD, ""},
		{"a FROB\r\n", BAD, ""},
		{"a UID NOOP\r\n", BAD, ""},
		{"a NOOP x\r\n", BAD, ""},
		{"a LOGIN alice\r\n", BAD, ""},
		{"a LOGIN \"al\rice\" x\r\n", BAD, ""},
		{"a ENABLE\r\n", BAD, ""},
		{"a SELECT INBOX (FOO)\r\n", BAD, ""},
		{"a SELECT INBOX (QRESYNC (0 1))\r\n", BAD, ""},
		{"a SELECT &Jjo\r\n", BAD, ""},
		{"a SELECT &AGE-\r\n", BAD, ""}, // "a" must not be encoded
		{"a CREATE x (USE)\r\n", BAD, ""},
		{"a LIST \"\"\r\n", BAD, ""},
		{"a LIST \"\" * RETURN (STATUS (BOGUS))\r\n", BAD, ""},
		{"a STATUS INBOX ()\r\n", BAD, ""},
		{"a FETCH 0 FLAGS\r\n", BAD, ""},
		{"a FETCH 1: FLAGS\r\n", BAD, ""},
		{"a FETCH 1,,2 FLAGS\r\n", BAD, ""},
		{"a FETCH 4294967296 FLAGS\r\n", BAD, ""},
		{"a FETCH 1 (FLAGS\r\n", BAD, ""},
		{"a FETCH 1 BODY[HEADER.FIELDS]\r\n", BAD, ""},
		{"a FETCH 1 BODY[MIME]\r\n", BAD, ""},
		{"a FETCH 1 BINARY[TEXT]\r\n", BAD, ""},
		{"a FETCH 1 BINARY\r\n", BAD, ""},
		{"a FETCH 1 BODY[]<0.0>\r\n", BAD, ""},
		{"a FETCH 1 FLAGS[1]\r\n", BAD, ""},
		{"a FETCH 1 FLAGS (VANISHED)\r\n", BAD, ""},
		{"a FETCH 1 NOPE\r\n", BAD, ""},
		{"a STORE 1 FLAGZ (\\Seen)\r\n", BAD, ""},
		{"a STORE 1 FLAGS (\\Seen\r\n", BAD, ""},
		{"a SEARCH\r\n", BAD, ""},
		{"a SEARCH BOGUS\r\n", BAD, ""},
		{"a SEARCH SINCE 31-Foo-2020\r\n", BAD, ""},
		{"a SEARCH OR SEEN\r\n", BAD, ""},
		{"a SEARCH RETURN (FOO) ALL\r\n", BAD, ""},
		{"a APPEND INBOX (\\Seen) \"bad date\" {3}\r\n", BAD, ""},
		{"a APPEND INBOX UTF8 ({3}\r\n", BAD, ""},
		{"a ID (\"k\")\r\n", BAD, ""},
		{"a ID x\r\n", BAD, ""},
		{"a LOGIN {99999999999999999999} x\r\n", BAD, ""},
		{"a LOGIN {70000}\r\n", BAD, "TOOBIG"},
	}
	for _, tt := range tests {
		r, conts := newTestReader(tt.in+"b NOOP\r\n", Limits{})
		_, err := r.ReadCommand()
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: got %v, want an *Error", tt.in, err)
			continue
		}
		if e.Kind != tt.kind || e.Code != tt.code {
			t.Errorf("%q: got %v, want %v [%s]", tt.in, e, tt.kind, tt.code)
		}
		if *conts != 0 {
			t.Errorf("%q: %d continuation requests", tt.in, *conts)
		}
		// The reader is back at a command boundary.
		cmd, err := r.ReadCommand()
		if err != nil || cmd.Tag != "b" || cmd.Name != "NOOP" {
			t.Errorf("%q: next command: %v %v", tt.in, cmd, err)
		}
	}
}

func TestSyncLiteralAsksForContinuation(t *testing.T) {
	r, conts := newTestReader("a LOGIN {5}\r\nalice {6}\r\nsecret\r\n", Limits{})
	cmd, err := r.ReadCommand()
	if err != nil || cmd.Args.(*Login).Password != "secret" {
		t.Fatalf("%v %v", cmd, err)
	}
	if *conts != 2 {
		t.Errorf("%d continuation requests, want 2", *conts)
	}
	r, conts = newTestReader("a LOGIN {5+}\r\nalice {6-}\r\nsecret\r\n", Limits{})
	if _, err = r.ReadCommand(); err != nil || *conts != 0 {
		t.Errorf("non-synchronising: %v, %d continuations", err, *conts)
	}
}

func TestLiteralMinus(t *testing.T) {
	r, _ := newTestReader("a LOGIN x {5000+}\r\n"+strings.Repeat("x", 5000)+"\r\nb NOOP\r\n", Limits{})
	r.LiteralMinus = true
	_, err := r.ReadCommand()
	var e *Error
	if !errors.As(err, &e) || e.Kind != BAD || e.Code != "TOOBIG" {
		t.Fatalf("got %v", err)
	}
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Fatalf("next: %v %v", cmd, err)
	}
}

func TestSearchTree(t *testing.T) {
	in := "a UID SEARCH RETURN (MIN COUNT SAVE) CHARSET utf-8 OR FROM \"smith\" (NOT SEEN SINCE 1-Feb-1994) UID 1:5 $ HEADER X-Spam {3}\r\nyes MODSEQ \"/flags/\\\\draft\" all 620162338 2,4:*\r\n"
	r, conts := newTestReader(in, Limits{})
	cmd, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	s := cmd.Args.(*Search)
	want := &Search{Charset: "UTF-8", Return: []string{"MIN", "COUNT", "SAVE"}, ESearch: true, Key: &SearchKey{Key: "AND", Children: []SearchKey{
		{Key: "OR", Children: []SearchKey{
			{Key: "FROM", Str: "smith"},
			{Key: "AND", Children: []SearchKey{{Key: "NOT", Children: []SearchKey{{Key: "SEEN"}}}, {Key: "SINCE", Date: time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC)}}},
		}},
		{Key: "UID", Seq: set(Range{1, 5})},
		{Key: "SEQSET", Seq: SeqSet{Saved: true}},
		{Key: "HEADER", Field: "X-Spam", Str: "yes"},
		{Key: "MODSEQ", Field: `/flags/\draft`, Str: "ALL", Num: 620162338},
		{Key: "SEQSET", Seq: set(Range{2, 2}, Range{4, 0})},
	}}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
	if *conts != 1 {
		t.Errorf("%d continuations", *conts)
	}
	for _, in := range []string{"a SEARCH ALL\r\n", "a SEARCH RETURN () 1:*\r\n", "a SEARCH CHARSET US-ASCII (ALL)\r\n", "a SEARCH NEW OLD RECENT LARGER 10 SMALLER 5 KEYWORD $x UNKEYWORD y SENTON \"1-Jan-2000\"\r\n"} {
		r, _ := newTestReader(in, Limits{})
		if _, err := r.ReadCommand(); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestReadLine(t *testing.T) {
	r, _ := newTestReader("AGFsaWNlAHg=\r\ndone\r\n"+strings.Repeat("x", 70000)+"\r\na NOOP\r\n", Limits{})
	if l, err := r.ReadLine(); err != nil || l != "AGFsaWNlAHg=" {
		t.Fatalf("%q %v", l, err)
	}
	if l, err := r.ReadLine(); err != nil || !IsDone(l) {
		t.Fatalf("%q %v", l, err)
	}
	_, err := r.ReadLine()
	var e *Error
	if !errors.As(err, &e) || e.Code != "TOOBIG" {
		t.Fatalf("long line: %v", err)
	}
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Fatalf("%v %v", cmd, err)
	}
}

func TestUTF8MailboxNames(t *testing.T) {
	r, _ := newTestReader("a SELECT &ZeVnLIqe-\r\nb SELECT \"日本語\"\r\nc CREATE \"bad\xff\"\r\n", Limits{})
	r.UTF8 = true
	for _, want := range []string{"&ZeVnLIqe-", "日本語"} {
		cmd, err := r.ReadCommand()
		if err != nil || cmd.Args.(*Select).Mailbox != want {
			t.Fatalf("%v %v, want %q", cmd, err, want)
		}
	}
	_, err := r.ReadCommand()
	var e *Error
	if !errors.As(err, &e) || e.Kind != BAD || e.Tag != "c" {
		t.Fatalf("invalid UTF-8: %v", err)
	}
}

func TestErrorAnswers(t *testing.T) {
	for _, tt := range []struct {
		e    *Error
		want string
	}{
		{&Error{Tag: "a", Kind: BAD, Text: "syntax"}, "a BAD syntax\r\n"},
		{&Error{Tag: "a", Kind: NO, Code: "TOOBIG", Text: "big"}, "a NO [TOOBIG] big\r\n"},
		{&Error{Tag: "a", Kind: BYE, Code: "TOOBIG", Text: "bye"}, "* BYE [TOOBIG] bye\r\n"},
	} {
		if got := encode(false, func(e *Encoder) { tt.e.Answer(e) }); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestNotify(t *testing.T) {
	in := "a NOTIFY SET STATUS (selected (MessageExpunge MessageNew (UID BODY.PEEK[HEADER.FIELDS (From)]) FlagChange)) (subtree (Lists \"Other\") (MailboxName)) (personal NONE)\r\n"
	r, _ := newTestReader(in, Limits{})
	cmd, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	want := &Notify{Status: true, Groups: []NotifyGroup{
		{Filter: "SELECTED", Events: []NotifyEvent{{Name: "MESSAGEEXPUNGE"}, {Name: "MESSAGENEW", Fetch: []FetchItem{{Name: "UID"}, {Name: "BODY", Peek: true, Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"From"}}}}}, {Name: "FLAGCHANGE"}}},
		{Filter: "SUBTREE", Mailboxes: []string{"Lists", "Other"}, Events: []NotifyEvent{{Name: "MAILBOXNAME"}}},
		{Filter: "PERSONAL"},
	}}
	if !reflect.DeepEqual(cmd.Args, want) {
		t.Errorf("got  %+v\nwant %+v", cmd.Args, want)
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"a NOTIFY NONE\r\n", true},
		{"a NOTIFY SET (inboxes (MessageNew))\r\n", true},
		{"a NOTIFY SET (mailboxes INBOX (MessageNew MessageExpunge))\r\n", true},
		{"a NOTIFY\r\n", false},
		{"a NOTIFY SET\r\n", false},
		{"a NOTIFY SET (everything (MessageNew))\r\n", false},
		{"a NOTIFY SET (selected (Bogus))\r\n", false},
		{"a NOTIFY SET (selected ())\r\n", false},
	} {
		r, _ := newTestReader(tc.in, Limits{})
		_, err := r.ReadCommand()
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.in, err)
		}
	}
}
