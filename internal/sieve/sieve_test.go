package sieve

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const rfcExample = `#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
`

func msg(hdr string, body string) *Message {
	data := strings.ReplaceAll(hdr, "\n", "\r\n") + "\r\n" + body
	return ParseMessage([]byte(data), "sender@example.org", "me@example.com")
}

func describe(l []Action) string {
	var s []string
	for _, a := range l {
		switch a := a.(type) {
		case Keep:
			s = append(s, "keep"+flagStr(a.Flags))
		case FileInto:
			s = append(s, "fileinto "+a.Mailbox+flagStr(a.Flags))
		case Redirect:
			s = append(s, "redirect "+a.Address)
		case Discard:
			s = append(s, "discard")
		case Vacation:
			s = append(s, fmt.Sprintf("vacation %dd %q %q", a.Days, a.Subject, a.Reason))
		}
	}
	return strings.Join(s, "; ")
}

func flagStr(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return " [" + strings.Join(f, " ") + "]"
}

// TestRun runs the examples of RFC 5228 and of each extension's RFC, and
// the seed document's forward-and-keep rule, on small messages.
func TestRun(t *testing.T) {
	ietf := msg("Sender: owner-ietf-mta-filters@imc.org\nFrom: a@imc.org\nTo: me@example.com\nSubject: hi\n", "x\r\n")
	colleague := msg("From: boss@example.com\nTo: me@example.com\nSubject: plan\n", "x\r\n")
	spam := msg("From: x@spam.test\nTo: list@spam.test\nCc: me@example.com\nSubject: Make lots of Money FAST\n", "x\r\n")
	notme := msg("From: x@other.test\nTo: you@other.test\nSubject: hello\n", "x\r\n")
	personal := msg("From: mum@family.test\nTo: family@family.test\nBcc: me@example.com\nSubject: dinner\n", "Come at 7.\r\n")
	big := msg("From: a@b.test\nSubject: big\n", strings.Repeat("x", 600*1024))
	coyote := msg("From: Wile E. Coyote <coyote@desert.example.org>\nSubject: $$$ for you\n", "x\r\n")
	list := msg("From: list@lists.test\nList-Id: <fam.lists.test>\nSubject: [fam] hi\n", "x\r\n")
	mime := msg("From: a@b.test\nSubject: m\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n",
		"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nthe secret=20word is =\r\nfrog\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n")
	noDate := msg("From: a@b.test\nSubject: nodate\n", "x\r\n")

	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name, script string
		m            *Message
		want         string
	}{
		{"empty script keeps", "", personal, "keep"},
		{"rfc 5228 9: mailing list", rfcExample, ietf, "fileinto filter"},
		{"rfc 5228 9: company", rfcExample, colleague, "keep"},
		{"rfc 5228 9: spam", rfcExample, spam, "fileinto spam"},
		{"rfc 5228 9: not to me", rfcExample, notme, "fileinto spam"},
		{"rfc 5228 9: personal", rfcExample, personal, "fileinto personal"},
		{"rfc 5228 2.4.2.4: text: string", "require \"vacation\";\nvacation text:\n  I am away.\n..dot\n.\n;", personal, `vacation 7d "" "  I am away.\n.dot\n"; keep`},
		{"rfc 5228 3.1 if/elsif/else", `if header :contains "from" "coyote" { discard; }
elsif header :contains ["subject"] ["$$$"] { discard; } else { fileinto "INBOX"; }`, personal, "error"},
		{"rfc 5228 3.1 coyote", `require "fileinto"; if header :contains "from" "coyote" { discard; }
elsif header :contains ["subject"] ["$$$"] { discard; } else { fileinto "INBOX"; }`, coyote, "discard"},
		{"rfc 5228 3.1 else is INBOX = keep", `require "fileinto"; if header :contains "from" "coyote" { discard; }
elsif header :contains ["subject"] ["$$$"] { discard; } else { fileinto "INBOX"; }`, personal, "fileinto INBOX"},
		{"rfc 5228 3.3 stop", `if true { stop; } discard;`, personal, "keep"},
		{"rfc 5228 4.2 redirect cancels keep", `redirect "acm@example.com";`, personal, "redirect acm@example.com"},
		{"rfc 5228 4.3 keep", `if size :under 1M { keep; } else { discard; }`, personal, "keep"},
		{"rfc 5228 4.4 discard", `if header :contains ["from"] ["idiot@example.com"] { discard; }`, personal, "keep"},
		{"rfc 5228 5.1 address :all", `if address :is :all "from" "coyote@desert.example.org" { discard; }`, coyote, "discard"},
		{"rfc 5228 5.1 address :localpart", `if address :localpart :is "from" "COYOTE" { discard; }`, coyote, "discard"},
		{"rfc 5228 5.4 envelope", `require "envelope"; if envelope :all :is "from" "sender@example.org" { discard; }`, personal, "discard"},
		{"rfc 5228 5.4 envelope to domain", `require "envelope"; if envelope :domain :is "to" "example.com" { discard; }`, personal, "discard"},
		{"rfc 5228 5.5 exists", `if not exists ["From","Date"] { discard; }`, noDate, "discard"},
		{"rfc 5228 5.7 header :comparator i;octet", `if header :contains :comparator "i;octet" "Subject" "MAKE MONEY FAST" { discard; }`, spam, "keep"},
		{"rfc 5228 5.9 size :over", `if size :over 500K { discard; }`, big, "discard"},
		{"rfc 5228 5.3 anyof", `if anyof (false, header :matches "subject" "d?nner") { discard; }`, personal, "discard"},
		{"rfc 5228 5.2 allof", `if allof (true, header :is "subject" "other") { discard; }`, personal, "keep"},
		{"matches with escapes", `if header :matches "subject" "\\$\\$\\$*" { discard; }`, coyote, "discard"},
		{"rfc 3894 fileinto :copy", `require ["fileinto","copy"]; fileinto :copy "Archive";`, personal, "fileinto Archive; keep"},
		{"seed: forward and retain", `require ["copy"];
# rule:[Forward to OldMailProvider and retain]
if true
{
	redirect :copy "old@oldprovider.example";
}`, personal, "redirect old@oldprovider.example; keep"},
		{"seed: rule disabled", `require ["copy"];
# rule:[Forward to OldMailProvider and retain]
if false # true
{
	redirect :copy "old@oldprovider.example";
}`, personal, "keep"},
		{"rfc 5232 imap4flags", `require ["imap4flags","fileinto"];
if header :contains "from" "boss@example.com" { setflag "\\Flagged"; fileinto "work"; }
addflag ["$Important \\Seen", "\\Seen"]; removeflag "$Important";`, colleague, `fileinto work [\Flagged]`},
		{"rfc 5232 implicit keep takes the flags", `require ["imap4flags"]; addflag ["$Important \\Seen", "\\Seen"]; removeflag "$Important";`, personal, `keep [\Seen]`},
		{"rfc 5232 hasflag", `require "imap4flags"; addflag "\\Seen"; if hasflag :is "\\seen" { discard; }`, personal, "discard"},
		{"rfc 5232 keep :flags", `require "imap4flags"; keep :flags "\\Answered";`, personal, `keep [\Answered]`},
		{"rfc 5230 vacation", `require "vacation";
if header :contains "subject" "dinner" {
  vacation :days 23 :addresses ["me@example.com", "me@other.example"] :subject "Away" "I'm away until October 19.";
}`, personal, `vacation 23d "Away" "I'm away until October 19."; keep`},
		{"rfc 5230 vacation days capped", `require "vacation"; vacation :days 365 "x";`, personal, `vacation 30d "" "x"; keep`},
		{"rfc 5173 body :text", `require "body"; if body :text :contains "secret word is frog" { discard; }`, mime, "discard"},
		{"rfc 5173 body :content html", `require "body"; if body :content "text/html" :contains "secret" { discard; }`, mime, "keep"},
		{"rfc 5173 body :raw", `require "body"; if body :raw :contains "=20word" { discard; }`, mime, "discard"},
		{"rfc 5231 relational :count", `require "relational"; require "comparator-i;ascii-numeric";
if header :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["1"] { discard; }`, colleague, "discard"},
		{"rfc 5231 :value numeric", `require ["relational", "comparator-i;ascii-numeric"];
if header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "5" { discard; }`, msg("X-Spam-Score: 12\n", ""), "discard"},
		{"rfc 5260 currentdate", `require ["date", "relational"];
if allof(currentdate :value "ge" "date" "2026-11-01", currentdate :value "le" "date" "2026-11-30") { discard; }`, personal, "discard"},
		{"list header", `if exists "list-id" { fileinto "Lists"; }`, list, "error"},
		{"duplicates collapse", `require "fileinto"; keep; fileinto "INBOX"; redirect "a@b.test"; redirect "A@b.test";`, personal, "keep; redirect a@b.test"},
		{"encoded subject", `if header :is "subject" "café" { discard; }`, msg("Subject: =?utf-8?q?caf=C3=A9?=\n", ""), "discard"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse(c.script)
			if err != nil {
				if c.want == "error" {
					return
				}
				t.Fatalf("parse: %v", err)
			}
			if c.want == "error" {
				t.Fatal("parsed a script that should fail")
			}
			acts, err := s.Run(c.m, RunOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(acts); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestParseErrors: a script that does not parse names the line and
// column of the problem.
func TestParseErrors(t *testing.T) {
	cases := []struct{ script, want string }{
		{`keep`, `line 1:5: expected ';' or '{' after keep, got end of script`},
		{`fileinto "x";`, `line 1:1: command fileinto needs require "fileinto"`},
		{`require "regex";`, `line 1:9: unsupported extension "regex"`},
		{"keep;\nrequire \"fileinto\";", `line 2:1: require must come before any other command`},
		{`frobnicate;`, `line 1:1: unknown command "frobnicate"`},
		{`if frob { keep; }`, `line 1:4: unknown test "frob"`},
		{`if keep { stop; }`, `line 1:4: keep is a command, not a test`},
		{`if true keep;`, `line 1:9: keep is a command, not a test`},
		{`if true { keep;`, `line 1:16: missing '}' at the end of a block`},
		{`keep; }`, `line 1:7: unexpected '}'`},
		{`else { keep; }`, `line 1:1: else without a preceding if`},
		{`if header :is "from" { keep; }`, `line 1:4: header: missing argument: a string or a string list`},
		{`if header :frob "a" "b" { keep; }`, `line 1:11: header: unknown tag :frob`},
		{`if header :is :contains "a" "b" { keep; }`, `line 1:15: header: :is and :contains cannot be used together`},
		{`if header :comparator "i;foo" "a" "b" { keep; }`, `line 1:23: unknown comparator "i;foo"`},
		{`if size 100 { keep; }`, `line 1:4: size needs :over or :under`},
		{`if size :over "x" { keep; }`, `line 1:15: size: argument 1 must be a number`},
		{`redirect "not an address";`, `line 1:10: redirect: "not an address" is not an email address`},
		{`redirect;`, `line 1:1: redirect: missing argument: a string`},
		{"keep;\n  \"unterminated", `line 2:3: unterminated string`},
		{"/* open", `line 1:1: unterminated comment`},
		{"require \"vacation\";\nvacation text:\nno end", `line 2:10: unterminated text: string (a line with a single '.' ends it)`},
		{`if header :count "ge" "to" "1" { keep; }`, `line 1:11: header: tag :count needs require "relational"`},
		{`require "relational"; if header :value "big" "to" "1" { keep; }`, `line 1:40: relational operator "big" is not one of gt, ge, lt, le, eq, ne`},
		{`if allof true { keep; }`, `line 1:4: allof needs a test list ( ... )`},
		{`if (true) { keep; }`, `line 1:1: if needs exactly one test`},
		{`keep 1;`, `line 1:6: keep: too many arguments`},
		{`stop { keep; }`, `line 1:1: stop takes no block`},
		{`if size :over 99999999999999999999 { keep; }`, `line 1:15: number too large`},
		{`if true { ] }`, `line 1:11: expected a command, got "]"`},
		{"require [\"fileinto\" \"copy\"];", `line 1:21: expected ',' or ']' in a string list, got string`},
	}
	for _, c := range cases {
		_, err := Parse(c.script)
		if err == nil {
			t.Errorf("%q parsed", c.script)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%q:\n got  %s\n want %s", c.script, err, c.want)
		}
	}
}

// TestRunErrors: a script that fails at run time returns an error, and
// the caller keeps the message.
func TestRunErrors(t *testing.T) {
	var b strings.Builder
	for i := range 11 {
		fmt.Fprintf(&b, "redirect :copy \"a%d@example.org\";\n", i)
	}
	s, err := Parse("require \"copy\";\n" + b.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(msg("Subject: x\n", ""), RunOptions{}); err == nil || !strings.Contains(err.Error(), "more than 10 redirects") {
		t.Fatalf("got %v", err)
	}
	if _, err := s.Run(msg("Subject: x\n", ""), RunOptions{MaxRedirects: 20}); err != nil {
		t.Fatalf("with a higher limit: %v", err)
	}
	s, _ = Parse(`require "vacation"; vacation "a"; vacation "b";`)
	if _, err := s.Run(msg("Subject: x\n", ""), RunOptions{}); err == nil {
		t.Fatal("two vacations ran")
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		s, p string
		ok   bool
	}{
		{"hello", "h*o", true}, {"hello", "h?llo", true}, {"hello", "*", true}, {"", "*", true},
		{"hello", "h*x", false}, {"a*b", "a\\*b", true}, {"axb", "a\\*b", false}, {"ab", "a*b*", true},
		{"héllo", "h?llo", true}, {strings.Repeat("a", 1000), strings.Repeat("*a", 20) + "b", false},
	} {
		if got := globMatch(c.s, c.p); got != c.ok {
			t.Errorf("glob(%q, %q) = %v", c.s, c.p, got)
		}
	}
}

// globMatch runs a :matches pattern with an unlimited budget.
func globMatch(s, p string) bool {
	st := &state{work: 1 << 62, deadline: time.Now().Add(time.Hour)}
	return st.glob(s, compileGlob(p))
}

func FuzzParse(f *testing.F) {
	f.Add(rfcExample)
	f.Add("require [\"vacation\", \"copy\"];\nvacation :days 3 text:\nhi\n.\n;\nredirect :copy \"a@b.c\";")
	f.Add(`require ["imap4flags", "relational", "comparator-i;ascii-numeric"]; if header :count "gt" :comparator "i;ascii-numeric" "to" "3" { addflag "x"; }`)
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse(src)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		s.Run(msg("From: a@b.test\nSubject: x\n", "body\r\n"), RunOptions{})
	})
}

// FuzzRun runs hostile scripts on hostile messages: parse, validate and
// run with a small budget. A run ends within its budget, never panics,
// and what a script that passed Validate puts in a vacation action is
// header-safe.
func FuzzRun(f *testing.F) {
	f.Add(rfcExample, []byte("From: a@b.test\r\nTo: me@example.com\r\nSubject: Make money fast\r\n\r\nhi\r\n"))
	f.Add("require [\"vacation\"];\nvacation :from \"ceo@example.test\r\nBcc: x@evil.test\" :subject \"Invoice\" :mime \"From: x\r\n\r\npay\";",
		[]byte("From: a@b.test\r\n\r\nx"))
	f.Add(`require "body"; if body :text :matches "*a?b*c\\*" { discard; }`,
		[]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\nYWJj\r\n--x\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n--y\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc\r\n--y--\r\n--x--\r\n"))
	f.Add(`require ["body", "relational", "comparator-i;ascii-numeric", "imap4flags"]; if anyof (body :raw :count "gt" :comparator "i;ascii-numeric" "1", header :value "ge" "subject" "m") { addflag "$x"; }`,
		[]byte("Subject: m\n\nbody"))
	f.Fuzz(func(t *testing.T, src string, data []byte) {
		s, err := Parse(src)
		if err != nil {
			return
		}
		valid := s.Validate() == nil
		start := time.Now()
		acts, err := s.Run(ParseMessage(data, "a@b.test", "me@example.com"), RunOptions{MaxWork: 1 << 20, Timeout: 200 * time.Millisecond, MaxBodyBytes: 64 << 10})
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("a run took %v", d)
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("run error of type %T: %v", err, err)
			}
			return
		}
		if len(acts) == 0 {
			t.Fatal("no action at all")
		}
		for _, a := range acts {
			v, ok := a.(Vacation)
			if !ok {
				continue
			}
			if headerTextProblem(v.Subject) != "" || v.From != "" && func() bool { _, p := senderProblem(v.From); return p != "" }() {
				t.Fatalf("unsafe vacation: %+v", v)
			}
			if valid && (len(v.Problems) > 0 || v.Refused != "") {
				t.Fatalf("a validated script's vacation had problems: %+v", v)
			}
		}
	})
}
