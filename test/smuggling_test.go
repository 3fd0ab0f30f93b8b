package test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// The end-of-data variants of the 2023 SMTP smuggling attacks: none may
// end a message early, here or at the next hop.
var smuggleEnds = map[string]string{
	"LF.LF":     "\n.\n",
	"CR.CR":     "\r.\r",
	"LF.CRLF":   "\n.\r\n",
	"CRLF.LF":   "\r\n.\n",
	"CR.CRLF":   "\r.\r\n",
	"CRLF.CR":   "\r\n.\r",
	"LF.CR":     "\n.\r",
	"CRLF.CRCR": "\r\n.\r\r\n",
}

func smugglePayload(name, end string) string {
	return "Subject: carrier " + name + "\r\n\r\nfirst part" + end +
		"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<me@example.test>\r\nDATA\r\nFrom: ceo@example.test\r\nSubject: smuggled " + name + "\r\n\r\nwire the money\r\n"
}

func hasBareLineEnding(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 >= len(b) || b[i+1] != '\n') || c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

func TestSMTPSmugglingNeverEndsAMessageEarly(t *testing.T) {
	b := newBox(t)
	n := 0
	for name, end := range smuggleEnds {
		c := b.Dial(b.SMTP)
		c.Expect("^220 ")
		c.Send("EHLO attacker.example")
		c.Expect("^250 ")
		c.Send("MAIL FROM:<attacker@elsewhere.example>")
		c.Expect("^250 ")
		c.Send("RCPT TO:<me@example.test>")
		c.Expect("^250 ")
		c.Send("DATA")
		c.Expect("^354 ")
		c.c.Write([]byte(smugglePayload(name, end) + "\r\n.\r\n"))
		c.Expect(`^250 `)
		c.Send("QUIT")
		c.Expect("^221 ")
		n++
		msgs := b.Mailbox("me@example.test", "INBOX")
		if len(msgs) != n {
			t.Fatalf("%s: inbox holds %d messages after %d sessions: the smuggled one was split off", name, len(msgs), n)
		}
		last := msgs[n-1]
		if !bytes.Contains(last, []byte("smuggled "+name)) || !bytes.Contains(last, []byte("wire the money")) {
			t.Errorf("%s: the carrier lost its smuggled part:\n%q", name, last)
		}
		if hasBareLineEnding(last) {
			t.Errorf("%s: stored with bare CR or LF:\n%q", name, last)
		}
	}
}

// Through the outbound queue to a real Postfix: the friend's provider gets
// exactly one message per carrier, never the smuggled one on its own.
func TestTheBoxDoesNotRelaySmuggledMessages(t *testing.T) {
	p := startPostfix(t, "anna")
	b := newBoxWith(t, map[string]string{"transports": "friends.example=" + p.Addr, "retry_schedule": "1s"})
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + b.Admin + "\x00" + b.Password))
	for name, end := range smuggleEnds {
		c := b.Dial(b.Submission)
		c.Expect("^220 ")
		c.Send("EHLO laptop.example")
		c.Expect("^250 ")
		c.Send("STARTTLS")
		c.Expect("^220 ")
		tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c = &Conn{t: t, c: tc, r: bufio.NewReader(tc)}
		c.Send("EHLO laptop.example")
		c.Expect("^250 ")
		c.Send("AUTH PLAIN " + auth)
		c.Expect("^235 ")
		c.Send("MAIL FROM:<me@example.test>")
		c.Expect("^250 ")
		c.Send("RCPT TO:<anna@friends.example>")
		c.Expect("^250 ")
		c.Send("DATA")
		c.Expect("^354 ")
		c.c.Write([]byte("From: me@example.test\r\n" + smugglePayload(name, end) + "\r\n.\r\n"))
		c.Expect(`^250 `)
		c.Send("QUIT")
		c.Expect("^221 ")
	}
	testutil.WaitFor(t, "Postfix to get every carrier", 30*time.Second, func() bool { return len(p.Mail("anna")) >= len(smuggleEnds) })
	time.Sleep(500 * time.Millisecond)
	got := p.Mail("anna")
	if len(got) != len(smuggleEnds) {
		t.Fatalf("the friend's provider got %d messages for %d carriers", len(got), len(smuggleEnds))
	}
	for _, m := range got {
		if strings.HasPrefix(strings.TrimSpace(m[strings.Index(m, "\n\n")+2:]), "wire the money") {
			t.Errorf("a smuggled message arrived on its own:\n%s", m)
		}
	}
	if q := b.Queue(); len(q) != 0 {
		t.Errorf("queue not empty: %+v", q)
	}
}
