package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

func TestHeaderSenderAddresses(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		want  []string // FIELD=address
		froms int
		err   bool
	}{
		{"From: me@example.net\r\n\r\nbody", []string{"From=me@example.net"}, 1, false},
		{"From: \"Me, Myself\" <me@example.net>, kid@example.net\r\n\r\n", []string{"From=me@example.net", "From=kid@example.net"}, 1, false},
		{"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.net>\r\n\r\n", []string{"From=jorg@example.net"}, 1, false},
		{"From: =?windows-1252?q?J=F6rg?= <jorg@example.net>\r\n\r\n", []string{"From=jorg@example.net"}, 1, false},
		{"Subject: none\r\n\r\n", nil, 0, false},
		{"From: <<<\r\n\r\n", nil, 0, true},
		{"no header at all", nil, 0, true},
		{"From: a@x.example\r\nsender: B <b@x.example>\r\nRESENT-FROM: c@x.example\r\nResent-Sender:\r\n d@x.example\r\n\r\n",
			[]string{"From=a@x.example", "Sender=b@x.example", "Resent-From=c@x.example", "Resent-Sender=d@x.example"}, 1, false},
		{"From: a@x.example\r\nFrom: b@x.example\r\n\r\n", []string{"From=a@x.example", "From=b@x.example"}, 2, false},
		{"From: a@x.example\r\nSender: b@x.example (x\r\n\r\n", nil, 0, true},
		{"From: a@x.example\r\nSender: \r\n\r\n", nil, 0, true},
		{"From: a@x.example\r\nResent-From: undisclosed:;\r\n\r\n", nil, 0, true},
		{"From: a@x.example\r\nResent-Date: x\r\nX-Sender: b@y.example\r\n\r\n", []string{"From=a@x.example"}, 1, false},
	} {
		addrs, froms, err := headerSenderAddresses([]byte(tc.msg))
		var got []string
		for _, a := range addrs {
			got = append(got, a.Field+"="+a.Address)
		}
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) || froms != tc.froms {
			t.Errorf("headerSenderAddresses(%q) = %v, %d, %v; want %v, %d (error %v)", tc.msg, got, froms, err, tc.want, tc.froms, tc.err)
		}
	}
}

func TestLoginMechanism(t *testing.T) {
	var gotU, gotP string
	s := newLoginServer(func(u, p string) error { gotU, gotP = u, p; return nil })
	c, done, err := s.Next(nil)
	if string(c) != "Username:" || done || err != nil {
		t.Fatalf("step 1: %q %v %v", c, done, err)
	}
	c, done, err = s.Next([]byte("me@example.net"))
	if string(c) != "Password:" || done || err != nil {
		t.Fatalf("step 2: %q %v %v", c, done, err)
	}
	if _, done, err = s.Next([]byte("secret")); !done || err != nil || gotU != "me@example.net" || gotP != "secret" {
		t.Fatalf("step 3: %v %v %q %q", done, err, gotU, gotP)
	}
	if _, _, err = s.Next([]byte("more")); err == nil {
		t.Error("LOGIN accepted a fourth step")
	}
	// With an initial response the username comes first.
	s = newLoginServer(func(u, p string) error { gotU = u; return nil })
	if c, _, _ := s.Next([]byte("kid@example.net")); string(c) != "Password:" {
		t.Errorf("initial response: challenge %q", c)
	}
}

func FuzzHeaderFrom(f *testing.F) {
	f.Add([]byte("From: a@b.c\r\n\r\n"))
	f.Add([]byte("From: \"x\" <a@b.c>, (c) d@e.f\r\nFrom: g@h.i\r\n\r\nbody"))
	f.Add([]byte("From: =?x?b?=?= <a@b>\r\n"))
	f.Add([]byte("From: a@b\r\nSender: c@d (e\r\nResent-From: g:;\r\nResent-Sender: <h@i>\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		addrs, froms, err := headerSenderAddresses(msg)
		if err != nil && (addrs != nil || froms != 0) {
			t.Fatalf("error %v with %d addresses", err, len(addrs))
		}
		for _, a := range addrs {
			if a.Address == "" || a.Field == "" {
				t.Fatalf("empty address or field: %+v", a)
			}
		}
	})
}

// newTestServer runs an inbound server over a temp store on loopback.
func newTestServer(t testing.TB, mode Mode, change ...func(*Options)) (addr string, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	st = testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	st.AddAccount(ctx, "me@example.net", "pw-pw-pw-pw", true)
	o := Options{Mode: mode, Deliverer: delivery.New(delivery.Options{Store: st}), Store: st, Hostname: "mx.example.net",
		MaxMessageBytes: 64 << 10, MaxRecipients: 5, ReadTimeout: 2 * time.Second}
	for _, f := range change {
		f(&o)
	}
	srv := New(o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	})
	return l.Addr().String(), st
}

// talk sends a raw client script and returns everything the server said.
func talk(t testing.TB, addr string, script []byte) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	go func() {
		c.Write(script)
		c.(*net.TCPConn).CloseWrite()
	}()
	var out bytes.Buffer
	io.Copy(&out, bufio.NewReader(c))
	return out.String()
}

func TestMalformedCommandsGetErrorsAndTheSessionGoesOn(t *testing.T) {
	addr, st := newTestServer(t, Inbound)
	out := talk(t, addr, []byte("EHLO c.example\r\nMAIL FROM:<bad address>\r\nMAIL FROM<x@y.z>\r\nRCPT TO:<me@example.net>\r\n"+
		"FOO bar\r\nMAIL FROM:<a..b@elsewhere.example>\r\nMAIL FROM:<friend@elsewhere.example>\r\nRCPT TO:<me@example.net>\r\n"+
		"DATA\r\nSubject: ok\r\n\r\nstill works\r\n.\r\nQUIT\r\n"))
	for _, want := range []string{"501 5.5.2", "502 5.5.1", "553 5.1.7", "250 2.0.0 OK", "221 2.0.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("reply %q missing in:\n%s", want, out)
		}
	}
	acc, _ := st.AccountByEmail(context.Background(), "me@example.net")
	mb, _ := st.MailboxByName(context.Background(), acc.ID, "INBOX")
	if snap, _ := st.Snapshot(context.Background(), mb.ID); len(snap) != 1 {
		t.Errorf("inbox has %d messages, want 1", len(snap))
	}
}

// HTML newsletters often carry lines far beyond RFC 5321's 1000 bytes:
// a 5000-byte line is taken as it is, as Postfix takes it. A line beyond
// maxLineLength is refused for good (a retry would fail the same way)
// and nothing of that message is kept.
func TestALongLineIsTakenAndATooLongOneRefusedForGood(t *testing.T) {
	addr, st := newTestServer(t, Inbound, func(o *Options) { o.MaxMessageBytes = 1 << 20 })
	long := strings.Repeat("<td>z</td>", 500)
	out := talk(t, addr, []byte("EHLO c.example\r\nMAIL FROM:<f@elsewhere.example>\r\nRCPT TO:<me@example.net>\r\nDATA\r\nSubject: x\r\n\r\n"+
		long+"\r\n.\r\nQUIT\r\n"))
	if !strings.Contains(out, "250 2.0.0") {
		t.Errorf("a 5000-byte line was refused:\n%s", out)
	}
	acc, _ := st.AccountByEmail(context.Background(), "me@example.net")
	mb, _ := st.MailboxByName(context.Background(), acc.ID, "INBOX")
	msgs, _ := st.Messages(context.Background(), mb.ID, 1, 0)
	if len(msgs) != 1 {
		t.Fatalf("INBOX holds %d messages, want 1", len(msgs))
	}
	if body, _ := st.Body(context.Background(), msgs[0].BodyID); !strings.HasSuffix(string(body), "\r\n\r\n"+long+"\r\n") {
		t.Errorf("the long line was changed")
	}
	out = talk(t, addr, []byte("EHLO c.example\r\nMAIL FROM:<f@elsewhere.example>\r\nRCPT TO:<me@example.net>\r\nDATA\r\nSubject: x\r\n\r\n"+
		strings.Repeat("z", maxLineLength+10)+"\r\n.\r\nQUIT\r\n"))
	if !strings.Contains(out, "500 5.6.0") {
		t.Errorf("no permanent refusal of a %d-byte line:\n%s", maxLineLength+10, out)
	}
	if msgs, _ := st.Messages(context.Background(), mb.ID, 1, 0); len(msgs) != 1 {
		t.Errorf("part of the refused message was stored")
	}
}

func TestAnOversizedMessageIsRefusedAndNothingStored(t *testing.T) {
	addr, st := newTestServer(t, Inbound)
	big := strings.Repeat(strings.Repeat("y", 998)+"\r\n", 100) // ~100 KB > 64 KiB limit
	out := talk(t, addr, []byte("EHLO c.example\r\nMAIL FROM:<f@elsewhere.example>\r\nRCPT TO:<me@example.net>\r\nDATA\r\n"+big+".\r\nQUIT\r\n"))
	if !strings.Contains(out, "552 5.3.4") {
		t.Errorf("no 552 5.3.4:\n%s", out)
	}
	acc, _ := st.AccountByEmail(context.Background(), "me@example.net")
	mb, _ := st.MailboxByName(context.Background(), acc.ID, "INBOX")
	if snap, _ := st.Snapshot(context.Background(), mb.ID); len(snap) != 0 {
		t.Errorf("oversized message stored")
	}
}

// FuzzSession feeds arbitrary client bytes to a real inbound session: the
// server must never crash, and whatever it stores is a whole message.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<me@example.net>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
		"HELO a\r\nMAIL FROM:<> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<postmaster>\r\nBDAT 3 LAST\r\nabc",
		"EHLO a\r\nSTARTTLS\r\n", "EHLO a\r\nAUTH PLAIN AGFAYg==\r\n", "\x00\xff\r\n\r\n.\r\n", "RSET\r\nNOOP\r\nVRFY x\r\n",
	} {
		f.Add([]byte(s))
	}
	addr, _ := newTestServer(f, Inbound)
	f.Fuzz(func(t *testing.T, script []byte) {
		talk(t, addr, script)
	})
}
