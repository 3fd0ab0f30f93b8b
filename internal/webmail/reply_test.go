package webmail

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"boxmail/internal/mailmsg"
)

func addrs(t *testing.T, l []*mail.Address) string {
	t.Helper()
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.Address
	}
	return strings.Join(out, ",")
}

func TestReplyRecipients(t *testing.T) {
	mine := func(a string) bool {
		return a == "me@example.net" || a == "family@example.net" || a == "alias@example.net"
	}
	for _, c := range []struct {
		name, hdr  string
		all        bool
		wantTo, cc string
	}{
		{"reply to From", "From: A <a@x.test>\r\nTo: me@example.net, b@x.test\r\nCc: c@x.test\r\n", false, "a@x.test", ""},
		{"reply honours Reply-To", "From: a@x.test\r\nReply-To: list@x.test\r\nTo: me@example.net\r\n", false, "list@x.test", ""},
		{"reply-all adds To and Cc, drops mine", "From: a@x.test\r\nTo: me@example.net, b@x.test, Family <family@example.net>\r\nCc: c@x.test, ALIAS@example.net\r\n", true, "a@x.test", "b@x.test,c@x.test"},
		{"reply-all with Reply-To", "From: a@x.test\r\nReply-To: r@x.test\r\nTo: me@example.net, r@x.test\r\nCc: a@x.test\r\n", true, "r@x.test", "a@x.test"},
		{"reply-all drops duplicates, any case", "From: a@x.test\r\nTo: A@X.test, b@x.test, B@x.test\r\n", true, "a@x.test", "b@x.test"},
		{"reply to my own message goes to its To", "From: me@example.net\r\nTo: b@x.test\r\nCc: c@x.test\r\n", false, "b@x.test", ""},
		{"reply-all to my own message", "From: me@example.net\r\nTo: b@x.test, d@x.test\r\nCc: c@x.test, me@example.net\r\n", true, "b@x.test,d@x.test", "c@x.test"},
		{"a From that does not parse", "From: <<<\r\nTo: me@example.net\r\nCc: c@x.test\r\n", true, "c@x.test", ""},
	} {
		o := readOriginal([]byte(c.hdr + "\r\n"))
		to, cc := replyRecipients(o, mine, c.all)
		if got := addrs(t, to); got != c.wantTo {
			t.Errorf("%s: To %q, want %q", c.name, got, c.wantTo)
		}
		if got := addrs(t, cc); got != c.cc {
			t.Errorf("%s: Cc %q, want %q", c.name, got, c.cc)
		}
	}
}

func TestSubjectPrefixesAreNotDoubled(t *testing.T) {
	for in, want := range map[string]string{
		"Lunch": "Re: Lunch", "Re: Lunch": "Re: Lunch", "RE: Lunch": "RE: Lunch", "re[2]: Lunch": "re[2]: Lunch",
		"AW: Essen": "AW: Essen", "": "Re:", "Reply soon": "Re: Reply soon", "  Re: x ": "Re: x",
	} {
		if got := replySubject(in); got != want {
			t.Errorf("replySubject(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Lunch": "Fwd: Lunch", "Fwd: Lunch": "Fwd: Lunch", "FW: Lunch": "FW: Lunch", "Re: Lunch": "Fwd: Re: Lunch"} {
		if got := forwardSubject(in); got != want {
			t.Errorf("forwardSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestThreadingAndQuote(t *testing.T) {
	o := readOriginal([]byte("From: A <a@x.test>\r\nMessage-ID: <3@x>\r\nReferences: <1@x>\r\n <2@x>\r\nDate: Sat, 5 Dec 2026 10:00:00 +0000\r\n\r\n"))
	if irt, refs := threading(o); irt != "<3@x>" || refs != "<1@x> <2@x> <3@x>" {
		t.Errorf("threading = %q, %q", irt, refs)
	}
	if irt, _ := threading(readOriginal([]byte("Message-ID: <a b@x>\r\n\r\n"))); irt != "" {
		t.Errorf("an invalid Message-ID is used: %q", irt)
	}
	q := quote(o, "hi\r\n> earlier\r\n")
	if !strings.Contains(q, "On Sat, 5 Dec 2026 10:00, A <a@x.test> wrote:\n> hi\n>> earlier\n") {
		t.Errorf("quote:\n%s", q)
	}
}

// parsed is a built message read back with the standard library.
func parseBuilt(t *testing.T, msg []byte) (*mail.Message, []*multipart.Part, [][]byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("built message does not parse: %v\n%s", err, msg)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return m, nil, nil
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var ps []*multipart.Part
	var bodies [][]byte
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ps, bodies = append(ps, p), append(bodies, b)
	}
	return m, ps, bodies
}

func TestBuildMessage(t *testing.T) {
	from := &mail.Address{Name: "Zoë Müller", Address: "me@example.net"}
	to := []*mail.Address{{Name: "Bob", Address: "b@x.test"}}
	inner := []byte("From: a@x.test\r\nSubject: inner\r\n\r\nbody ü\r\n")
	for _, c := range []struct {
		name  string
		o     outgoing
		check func(t *testing.T, m *mail.Message, ps []*multipart.Part, bodies [][]byte)
	}{
		{"plain text, encoded subject and name", outgoing{From: from, To: to, Subject: "Grüße " + strings.Repeat("lang ", 40), Text: "Hallo\nWelt"},
			func(t *testing.T, m *mail.Message, ps []*multipart.Part, _ [][]byte) {
				dec := new(mime.WordDecoder)
				if s, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || !strings.HasPrefix(s, "Grüße lang") {
					t.Errorf("subject %q %v", s, err)
				}
				if f, err := mail.ParseAddress(m.Header.Get("From")); err != nil || f.Name != "Zoë Müller" {
					t.Errorf("From %v %v", f, err)
				}
				if ps != nil || m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
					t.Error("not a single text part")
				}
			}},
		{"attachments: RFC 2231 names, base64, rfc822 kept", outgoing{From: from, To: to, Subject: "files", Text: "see",
			Files: []file{{Name: "../../Übersicht ä.pdf", Type: "application/pdf", Data: []byte("%PDF-1.4 \x00\xff")}, {Name: "fwd.eml", Type: "message/rfc822", Data: inner}}},
			func(t *testing.T, m *mail.Message, ps []*multipart.Part, bodies [][]byte) {
				if len(ps) != 3 {
					t.Fatalf("%d parts", len(ps))
				}
				_, dp, err := mime.ParseMediaType(ps[1].Header.Get("Content-Disposition"))
				if err != nil || dp["filename"] != "Übersicht ä.pdf" || !strings.Contains(ps[1].Header.Get("Content-Disposition"), "filename*=utf-8''") {
					t.Errorf("disposition %q (%v)", ps[1].Header.Get("Content-Disposition"), err)
				}
				data, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(bodies[1]), "\r\n", ""))
				if err != nil || string(data) != "%PDF-1.4 \x00\xff" {
					t.Errorf("base64 body %q %v", data, err)
				}
				if ps[2].Header.Get("Content-Type") != "message/rfc822; name=fwd.eml" || !bytes.Equal(bodies[2], inner) {
					t.Errorf("rfc822 part %q:\n%q", ps[2].Header.Get("Content-Type"), bodies[2])
				}
			}},
		{"threading fields only when valid", outgoing{From: from, To: to, InReplyTo: "<a@x>\r\nBcc: e@x", Refs: "<a@x>"},
			func(t *testing.T, m *mail.Message, _ []*multipart.Part, _ [][]byte) {
				if m.Header.Get("In-Reply-To") != "" || m.Header.Get("Bcc") != "" {
					t.Errorf("In-Reply-To %q", m.Header.Get("In-Reply-To"))
				}
			}},
		{"Bcc only in a draft", outgoing{From: from, To: to, Bcc: []*mail.Address{{Address: "hidden@x.test"}}},
			func(t *testing.T, m *mail.Message, _ []*multipart.Part, _ [][]byte) {
				if m.Header.Get("Bcc") != "" {
					t.Error("Bcc in a sent message")
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Date = time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
			msg := c.o.build()
			for l := range strings.SplitSeq(string(msg[:mailmsg.HeaderEnd(msg)]), "\r\n") {
				if len(l) > 998 {
					t.Errorf("header line of %d bytes", len(l))
				}
			}
			m, ps, bodies := parseBuilt(t, msg)
			c.check(t, m, ps, bodies)
		})
	}
}

func TestUserInputNeverBecomesAHeaderUnchecked(t *testing.T) {
	for _, v := range []string{"a@x.test\r\nBcc: e@x.test", "a@x.test\nX: y", "\"Evil\r\n\" <a@x.test>", "a@x.test\x00"} {
		if _, err := parseRecipients(v); err == nil {
			t.Errorf("parseRecipients(%q) accepted", v)
		}
	}
	if _, err := cleanSubject("hi\r\nBcc: e@x.test"); err == nil {
		t.Error("subject with CRLF accepted")
	}
	for in, want := range map[string]string{"../../etc/passwd": "passwd", `C:\x\a.txt`: "a.txt", "": "attachment", "a\"b\r\n.txt": "a_b__.txt"} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
	if mediaType("text/html\r\nX: y") != "application/octet-stream" || mediaType("multipart/mixed") != "application/octet-stream" || mediaType("image/png") != "image/png" {
		t.Error("mediaType lets a bad type through")
	}
}

func FuzzParseRecipients(f *testing.F) {
	for _, s := range []string{"a@x.test", "A <a@x.test>, b@y.test", "\"q, r\" <a@x.test>", "a@x.test\r\nBcc: e", "=?utf-8?q?x?= <a@b.c>", "<>", "a@[127.0.0.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		l, err := parseRecipients(v)
		if err != nil {
			return
		}
		for _, a := range l {
			s := (&mail.Address{Name: a.Name, Address: a.Address}).String()
			if strings.ContainsAny(s, "\r\n\x00") {
				t.Fatalf("%q gives header text %q", v, s)
			}
		}
		m, err := mail.ReadMessage(strings.NewReader("To: " + addressList(l) + "\r\n\r\n"))
		if err != nil || len(m.Header) != 1 {
			t.Fatalf("%q: the To field reads back as %v (%v)", v, m, err)
		}
	})
}

func TestHTMLText(t *testing.T) {
	got := htmlText(`<html><head><title>t</title><style>p{}</style></head><body><p>Hallo   <b>Welt</b>,</p><div>Zeile<br>zwei</div>` +
		`<script>alert(1)</script><p>Mehr: <a href="https://example.org/x">hier</a></p><ul><li>eins</li><li>zwei</li></ul></body></html>`)
	want := "Hallo Welt,\nZeile\nzwei\nMehr: hier <https://example.org/x>\neins\nzwei"
	if got != want {
		t.Errorf("htmlText = %q, want %q", got, want)
	}
}
