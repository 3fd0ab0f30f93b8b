package sieve

import (
	"strings"
	"testing"
)

// TestValidate: what the save paths refuse, with the line and column of
// the string at fault; and what they accept.
func TestValidate(t *testing.T) {
	const v = "require [\"vacation\", \"fileinto\", \"imap4flags\"];\n"
	cases := []struct{ script, want string }{
		{v + `vacation :from "ceo@example.test` + "\r\n" + `Bcc: hidden@evil.test" "pay";`, `line 2:16: vacation :from has a control character ('\r') at byte 16: it must be one line of text`},
		{v + "vacation :subject \"Invoice\nBcc: x@evil.test\" \"pay\";", `line 2:19: vacation :subject has a control character ('\n') at byte 7: it must be one line of text`},
		{v + "vacation :subject \"a\x00b\" \"pay\";", `line 2:19: vacation :subject has a control character ('\x00') at byte 1: it must be one line of text`},
		{v + `vacation :subject "` + strings.Repeat("x", 999) + `" "pay";`, `line 2:19: vacation :subject is 999 bytes long, more than 998`},
		{v + "vacation :handle \"h\r\n\" \"pay\";", `line 2:18: vacation :handle has a control character ('\r') at byte 1: it must be one line of text`},
		{v + `vacation :from "me@example.test, ceo@example.test" "x";`, `line 2:16: vacation :from "me@example.test, ceo@example.test" is not exactly one email address`},
		{v + `vacation :from "undisclosed-recipients:;" "x";`, `line 2:16: vacation :from "undisclosed-recipients:;" is not exactly one email address`},
		{v + `vacation :from "ceo" "x";`, `line 2:16: vacation :from "ceo" is not exactly one email address`},
		{v + "vacation :mime text:\nFrom: ceo@example.test\nContent-Type: text/plain\n\npay\n.\n;", `line 2:16: vacation :mime reason: only MIME header fields (Content-*, MIME-Version) may be set, not From`},
		{v + "vacation :mime \"Content-Type: text/plain\r\n\r\nno blank\";", ``},
		{v + "vacation :mime \"just text\";", `line 2:16: vacation :mime reason: it must start with MIME header fields and an empty line`},
		{v + "vacation :mime \"Content-Type: text/plain\rBcc: x@y\n\nhi\";", `line 2:16: vacation :mime reason: a bare CR in the header`},
		{v + "vacation :mime \"Content-Type: text/plain;\n charset=utf-8\nMIME-Version: 1.0\n\nhi\";", ``},
		{v + "fileinto \"Inbox\r\nx\";", `line 2:10: fileinto: the mailbox name "Inbox\r\nx" has control characters`},
		{v + `addflag "$Junk (x)";`, `line 2:9: addflag: flag "(x)" is not an IMAP flag (no control characters or any of ( ) { % * " \ ])`},
		{v + `keep :flags ["\\Seen", "a\\b"];`, `line 2:13: keep: flag "a\\b" is not an IMAP flag (no control characters or any of ( ) { % * " \ ])`},
		{v + `if header :matches "subject" "` + strings.Repeat("a", MaxPatternBytes+1) + `" { keep; }`, `line 2:30: header: a :matches pattern of 4097 bytes is longer than 4096`},
		{v + `if header :contains "subject" "` + strings.Repeat("a", MaxPatternBytes+1) + `" { keep; }`, ``},
		{v + `vacation :from "Me Myself <me@example.test>" :subject "Away – back Monday" :handle "h1" "Back soon.";`, ``},
		{v + "vacation :subject \"tab\tis fine\" \"reason\nwith\r\nlines\";", ``},
		{rfcExample, ``},
	}
	for _, c := range cases {
		s, err := Parse(c.script)
		if err != nil {
			t.Errorf("%q: parse: %v", c.script, err)
			continue
		}
		got := ""
		if err := s.Validate(); err != nil {
			got = err.Error()
			if _, ok := err.(*Error); !ok {
				t.Errorf("%q: error of type %T", c.script, err)
			}
		}
		if got != c.want {
			t.Errorf("%q:\n got  %s\n want %s", c.script, got, c.want)
		}
	}
}

// TestRunDropsWhatValidateRefuses: a script stored before the checks
// still runs, but nothing it says becomes a header unchecked.
func TestRunDropsWhatValidateRefuses(t *testing.T) {
	m := msg("From: a@b.test\nSubject: x\n", "hi\r\n")
	s, err := Parse("require \"vacation\";\nvacation :from \"ceo@example.test\r\nBcc: hidden@evil.test\" :subject \"Invoice\r\nX-Injected: yes\" \"Please pay\";")
	if err != nil {
		t.Fatal(err)
	}
	acts, err := s.Run(m, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := acts[0].(Vacation)
	if v.From != "" || v.Subject != "" || len(v.Problems) != 2 || v.Refused != "" {
		t.Errorf("vacation: %+v", v)
	}
	s, _ = Parse("require \"vacation\";\nvacation :mime \"From: ceo@example.test\r\n\r\npay\";")
	acts, _ = s.Run(m, RunOptions{})
	if v := acts[0].(Vacation); !strings.Contains(v.Refused, "not From") {
		t.Errorf("a :mime reason with From: %+v", v)
	}
	s, _ = Parse("require \"vacation\";\nvacation :from \"Me <me@example.test>\" :subject \"Away\" \"back soon\";")
	acts, _ = s.Run(m, RunOptions{})
	if v := acts[0].(Vacation); v.From != "Me <me@example.test>" || v.Subject != "Away" || len(v.Problems) != 0 {
		t.Errorf("a clean vacation: %+v", v)
	}
	if h, a, ok := SenderAddress(acts[0].(Vacation).From); !ok || h != `"Me" <me@example.test>` || a != "me@example.test" {
		t.Errorf("SenderAddress: %q %q %v", h, a, ok)
	}
	s, _ = Parse("require \"fileinto\";\nfileinto \"a\r\nb\";")
	if _, err := s.Run(m, RunOptions{}); err == nil {
		t.Error("fileinto a mailbox name with CR LF ran")
	}
	s, _ = Parse("require \"imap4flags\";\naddflag \"$ok (bad)\";")
	acts, _ = s.Run(m, RunOptions{})
	if k := acts[0].(Keep); len(k.Flags) != 1 || k.Flags[0] != "$ok" {
		t.Errorf("flags: %q", k.Flags)
	}
}

func TestSenders(t *testing.T) {
	s, err := Parse("require \"vacation\";\nif true {\n  vacation :from \"Boss <Boss@Example.test>\" \"x\";\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	l := s.Senders()
	if len(l) != 1 || l[0].Address != "Boss@Example.test" || l[0].Pos != (Pos{3, 18}) {
		t.Errorf("senders: %+v", l)
	}
}
