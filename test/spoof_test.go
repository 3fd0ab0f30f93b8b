package test

// Sender spoofing, as an outsider and as a family member with an
// account: malformed and doubled From fields naming the box's domains,
// a catch-all alias's permit, +tag addresses that are accounts of their
// own, Sender and Resent-From on submission, forged
// Authentication-Results naming the box, and outbound mail steered at
// the box's own loopback by an MX record.

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"boxmail/internal/resolver"
	"boxmail/internal/testutil"
)

// swaksData sends the message in data (CRLF added where missing) with
// swaks, from the source address src to the port; with user set it
// authenticates as user (password b.Password or the kid's).
func (b *Box) swaksData(src string, port int, user, envFrom, to, data string) (string, int) {
	b.t.Helper()
	file := filepath.Join(b.t.TempDir(), "msg.eml")
	data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\n", "\r\n")
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		b.t.Fatal(err)
	}
	args := []string{"--server", fmt.Sprintf("127.0.0.1:%d", port), "--local-interface", src, "--from", envFrom, "--to", to, "--data", "@" + file}
	if user != "" {
		pw := b.Password
		if user != b.Admin {
			pw = kidPassword
		}
		args = append(args, "--tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", pw)
	}
	return b.Swaks(args...)
}

// refusedWith reports whether a swaks transcript shows a refusal with
// the reply code (over TLS swaks marks it "<~*", in plaintext "<**").
func refusedWith(out, code string) bool {
	return strings.Contains(out, "<** "+code) || strings.Contains(out, "<~* "+code)
}

const kidPassword = "kid-secret-4242"

// addKid creates the account kid@example.test.
func (b *Box) addAccount(email string) {
	b.t.Helper()
	if _, errs, code := b.Cmd(kidPassword+"\n", "user", "add", email); code != 0 {
		b.t.Fatalf("user add %s: %s", email, errs)
	}
}

func spoofZone() *resolver.Fake {
	return resolver.NewFake(
		`example.test. 300 IN MX 10 mail.example.test.`,
		`mail.example.test. 300 IN A 127.0.0.1`,
		`example.test. 300 IN TXT "v=spf1 mx -all"`,
		`spf-pass.example. 300 IN MX 10 mx.spf-pass.example.`,
		`mx.spf-pass.example. 300 IN A 127.0.0.2`,
		`spf-pass.example. 300 IN TXT "v=spf1 mx -all"`,
		`spf-fail.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
	)
}

// The box publishes no DMARC record of its own yet (a fresh install):
// its rule that its own domains must pass DMARC is all that stands
// between an outsider and a From in example.test.
func TestOutsidersCannotSpoofTheBoxsDomainsWithAMalformedOrDoubledFrom(t *testing.T) {
	b := newBoxWith(t, map[string]string{"resolvers": dnsServer(t, spoofZone())})
	for i, c := range []struct{ name, header, want string }{
		{"two From fields, ours first", "From: me@example.test\nFrom: a@spf-pass.example\n", "550 5.7.1"},
		{"two From fields, ours second", "From: a@spf-pass.example\nFrom: me@example.test\n", "550 5.7.1"},
		{"two From fields, different case", "From: a@spf-pass.example\nFROM: me@example.test\n", "550 5.7.1"},
		{"unterminated comment", "From: me@example.test (CEO\n", "550 5.7.1"},
		{"junk after the angle address", "From: \"CEO\" <me@example.test> x\n", "550 5.7.1"},
		{"semicolon after the address", "From: CEO <me@example.test>;\n", "550 5.7.1"},
		{"unterminated angle address", "From: CEO <me@example.test\n", "550 5.7.1"},
		{"no From at all", "", "550 5.7.1"},
		{"empty From", "From: \n", "550 5.7.1"},
		{"empty group", "From: undisclosed-recipients:;\n", "550 5.7.1"},
		{"addresses in two domains", "From: a@spf-pass.example, me@example.test\n", "550 5.7.1"},
		{"a subdomain of ours", "From: CEO <ceo@mail.example.test>\n", "550 5.7.1"},
		{"ours in the display name", "From: \"me@example.test\" <a@spf-fail.example>\n", "550 5.7.1"},
		{"ours in an encoded display name", "From: =?utf-8?q?me=40example=2Etest?= <a@spf-fail.example>\n", "550 5.7.1"},
		{"ours in a comment", "From: a@spf-fail.example (me@EXAMPLE.test)\n", "550 5.7.1"},
		{"ours in upper case", "From: CEO <me@EXAMPLE.TEST>\n", "550 5.7.1"},
		{"folded From", "From: CEO\n <me@example.test>\n", "550 5.7.1"},
		{"an honest friend", "From: Friend <a@spf-pass.example>\n", "INBOX"},
		{"an honest couple", "From: \"Ann, Bob\" <ann@spf-pass.example>, bob@spf-pass.example\n", "INBOX"},
		{"an honest friend with an encoded name", "From: =?utf-8?q?J=C3=B6rg?= <a@spf-pass.example>\n", "INBOX"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = t }()
			subject := fmt.Sprintf("spoof %d", i)
			msg := c.header + "To: me@example.test\nSubject: " + subject + "\nDate: Mon, 2 Jun 2025 10:00:00 +0000\n" +
				"Message-ID: <spoof" + fmt.Sprint(i) + "@test>\n\nPlease pay the invoice today.\n"
			out, code := b.swaksData("127.0.0.2", b.SMTP, "", "a@spf-pass.example", b.Admin, msg)
			if c.want == "INBOX" {
				if code != 0 {
					t.Fatalf("an honest message was refused: exit %d\n%s", code, out)
				}
				if findMessage(b, "INBOX", subject) == nil {
					t.Fatalf("message not in INBOX")
				}
				return
			}
			if code == 0 || !refusedWith(out, c.want) {
				t.Fatalf("want %s, got exit %d:\n%s", c.want, code, out)
			}
			for _, mb := range []string{"INBOX", "Junk"} {
				if findMessage(b, mb, subject) != nil {
					t.Errorf("the spoof was stored in %s", mb)
				}
			}
		})
	}
	b.t = t
	// From a trusted network (the box's own host) nothing changes.
	out, code := b.swaksData("127.0.0.1", b.SMTP, "", "a@spf-pass.example", b.Admin,
		"From: a@spf-pass.example\nFrom: other@spf-pass.example\nSubject: trusted\n\nhi\n")
	if code != 0 {
		t.Errorf("trusted client refused: %s", out)
	}
}

func TestACatchAllPermitLetsItsUserSendOnlyAsAddressesThatReachIt(t *testing.T) {
	b := newBox(t)
	b.addAccount("kid@example.test")
	mustRun(t, "", "alias", "add", "family@example.test", "me@example.test", "--dir", b.Dir)
	mustRun(t, "", "alias", "add", "@example.test", "kid@example.test", "--permit", "kid@example.test", "--dir", b.Dir)
	for _, c := range []struct {
		from string
		ok   bool
	}{
		{"anything@example.test", true},
		{"kid+shop@example.test", true},
		{"me@example.test", false},
		{"me+tag@example.test", false},
		{"ME@Example.Test", false},
		{"postmaster@example.test", false},
		{"abuse@example.test", false},
		{"family@example.test", false},
	} {
		// As envelope sender...
		out, code := b.swaksData("127.0.0.1", b.Submission, "kid@example.test", c.from, b.Admin,
			"From: kid@example.test\nSubject: as "+c.from+"\n\nhello\n")
		if c.ok != (code == 0) {
			t.Errorf("MAIL FROM:<%s> by the catch-all's user: exit %d, want ok=%v\n%s", c.from, code, c.ok, out)
		}
		if !c.ok && !refusedWith(out, "550 5.7.1") {
			t.Errorf("MAIL FROM:<%s>: want 550 5.7.1\n%s", c.from, out)
		}
		// ...and as From.
		out, code = b.swaksData("127.0.0.1", b.Submission, "kid@example.test", "kid@example.test", b.Admin,
			"From: Someone <"+c.from+">\nSubject: as "+c.from+"\n\nhello\n")
		if c.ok != (code == 0) {
			t.Errorf("From: %s by the catch-all's user: exit %d, want ok=%v\n%s", c.from, code, c.ok, out)
		}
	}
}

func TestAPlusTagDoesNotLetAUserSendAsAnAccountNamedLikeIt(t *testing.T) {
	b := newBox(t)
	b.addAccount("me+boss@example.test")
	b.addAccount("kid@example.test")
	mustRun(t, "", "alias", "add", "me+news@example.test", "kid@example.test", "--dir", b.Dir)
	for _, c := range []struct {
		from string
		ok   bool
	}{
		{"me+shop@example.test", true},
		{"me+boss@example.test", false}, // an account of its own
		{"me+news@example.test", false}, // an alias that does not permit me
	} {
		out, code := b.swaksData("127.0.0.1", b.Submission, b.Admin, c.from, "kid@example.test",
			"From: "+c.from+"\nSubject: tagged\n\nhello\n")
		if c.ok != (code == 0) || !c.ok && !refusedWith(out, "550 5.7.1") {
			t.Errorf("me sending as %s: exit %d, want ok=%v\n%s", c.from, code, c.ok, out)
		}
	}
}

func TestSubmissionChecksSenderAndResentFieldsLikeFrom(t *testing.T) {
	b := newBox(t)
	b.addAccount("kid@example.test")
	for _, c := range []struct {
		name, header string
		ok           bool
	}{
		{"Sender of another account", "From: kid@example.test\nSender: me@example.test\n", false},
		{"Resent-From of another account", "From: kid@example.test\nResent-From: Me <me@example.test>\n", false},
		{"Resent-Sender of another account", "From: kid@example.test\nResent-From: kid@example.test\nresent-sender: me@example.test\n", false},
		{"Sender outside", "From: kid@example.test\nSender: boss@bank.example\n", false},
		{"second Resent block", "From: kid@example.test\nResent-From: kid@example.test\nResent-From: me@example.test\n", false},
		{"unparseable Sender", "From: kid@example.test\nSender: me@example.test (x\n", false},
		{"Sender of one's own", "From: kid@example.test\nSender: Kid <kid+school@example.test>\n", true},
		{"Resent-From of one's own", "From: friend@elsewhere.example\nResent-From: kid@example.test\n", false}, // From still counts
		{"all one's own", "From: kid@example.test\nResent-From: kid@example.test\nResent-Sender: kid@example.test\n", true},
	} {
		out, code := b.swaksData("127.0.0.1", b.Submission, "kid@example.test", "kid@example.test", b.Admin,
			c.header+"Subject: "+c.name+"\n\nhello\n")
		if c.ok != (code == 0) {
			t.Errorf("%s: exit %d, want ok=%v\n%s", c.name, code, c.ok, out)
		}
		if !c.ok && !refusedWith(out, "550 5.7.1") && !refusedWith(out, "550 5.6.0") {
			t.Errorf("%s: want 550 5.7.1\n%s", c.name, out)
		}
	}
}

func TestForgedAuthenticationResultsNamingTheBoxDoNotSurviveAnyPath(t *testing.T) {
	b := newBoxWith(t, map[string]string{"transports": "friends.example=127.0.0.2:1", "retry_schedule": "1h"})
	forged := "Authentication-Results: mail.example.test; dmarc=pass header.from=bank.example\n" +
		"authentication-results:\n\tMAIL.Example.TEST.;\n\tspf=pass smtp.mailfrom=bank.example\n" +
		"Authentication-Results: (looks official) mail.example.test 1; dkim=pass header.d=bank.example\n" +
		"Authentication-Results : \"mail.example.test\"; arc=pass\n" +
		"Authentication-Results: mx.elsewhere.example; spf=pass\n"
	out, code := b.swaksData("127.0.0.1", b.Submission, b.Admin, b.Admin, b.Admin+",anna@friends.example",
		forged+"From: me@example.test\nTo: me@example.test\nSubject: forged results\n\nhello\n")
	if code != 0 {
		t.Fatalf("submission: %s", out)
	}
	// Inbound from outside too.
	out, code = b.swaksData("127.0.0.2", b.SMTP, "", "a@elsewhere.example", b.Admin,
		forged+"From: a@elsewhere.example\nSubject: forged inbound\n\nhello\n")
	if code != 0 {
		t.Fatalf("inbound: %s", out)
	}
	check := func(where string, msg []byte) {
		t.Helper()
		hdr, _, _ := strings.Cut(string(msg), "\r\n\r\n")
		low := strings.ToLower(hdr)
		if n := strings.Count(low, "authentication-results"); n != 2 {
			t.Errorf("%s: %d Authentication-Results, want ours and mx.elsewhere.example's:\n%s", where, n, hdr)
		}
		for _, w := range []string{"bank.example", "arc=pass"} {
			if strings.Contains(low, w) {
				t.Errorf("%s: a forged result (%s) survived:\n%s", where, w, hdr)
			}
		}
		if !strings.Contains(hdr, "Authentication-Results: mx.elsewhere.example; spf=pass") {
			t.Errorf("%s: someone else's result was removed:\n%s", where, hdr)
		}
	}
	sub := findMessage(b, "INBOX", "forged results")
	if sub == nil {
		t.Fatal("submitted message not delivered")
	}
	check("submitted, local copy", sub)
	in := findMessage(b, "INBOX", "forged inbound")
	if in == nil {
		t.Fatal("inbound message not delivered")
	}
	check("inbound", in)
	q := b.Queue()
	if len(q) != 1 {
		t.Fatalf("queue holds %d entries, want 1", len(q))
	}
	st := b.OpenStore()
	body, err := st.Body(t.Context(), q[0].BodyID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	check("queued for friends.example", body)
}

// sink is an SMTP server on a fixed address that counts connections and
// keeps the messages it is given.
type sink struct {
	conns atomic.Int32
	msgs  atomic.Int32
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.conns.Add(1)
	return sinkSession{s}, nil
}

type sinkSession struct{ s *sink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x sinkSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	x.s.msgs.Add(1)
	return nil
}
func (sinkSession) Reset()        {}
func (sinkSession) Logout() error { return nil }

// startSink serves on addr; nil (and a log line) when it cannot listen
// there (port 25 without the privilege).
func startSink(t *testing.T, addr string) (*sink, string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Logf("cannot listen on %s: %v", addr, err)
		return nil, ""
	}
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "mx.inside.example"
	srv.ErrorLog = silentLog{}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s, l.Addr().String()
}

type silentLog struct{}

func (silentLog) Printf(string, ...any) {}
func (silentLog) Println(...any)        {}

// A domain whose MX points at the box's own loopback (or the LAN) would
// let anyone with a DNS zone make the box talk to services behind its
// firewall. Only the transports setting may send mail there.
func TestOutboundMailIsNotSteeredAtLoopbackOrPrivateAddressesByDNS(t *testing.T) {
	// The MX the DNS names, where the box's outbound port 25 would go
	// (when the test may listen there: it then sees any connection), and
	// the next hop the transports setting names.
	mx, _ := startSink(t, "127.0.0.77:25")
	hop, hopAddr := startSink(t, "127.0.0.77:0")
	fake := resolver.NewFake(
		`evil.example. 300 IN MX 10 mx.evil.example.`,
		`mx.evil.example. 300 IN A 127.0.0.77`,
		`lan.example. 300 IN MX 10 mx.lan.example.`,
		`mx.lan.example. 300 IN A 10.11.12.13`,
		`mx.lan.example. 300 IN AAAA fe80::1`,
		`nomx.example. 300 IN A 127.0.0.77`,
		`inside.example. 300 IN MX 10 mx.evil.example.`,
	)
	b := newBoxWith(t, map[string]string{"resolvers": dnsServer(t, fake), "transports": "inside.example=" + hopAddr, "retry_schedule": "1h"})
	for _, to := range []string{"x@evil.example", "y@lan.example", "z@nomx.example", "w@inside.example"} {
		out, code := b.swaksData("127.0.0.1", b.Submission, b.Admin, b.Admin, to, "From: me@example.test\nSubject: to "+to+"\n\nhello\n")
		if code != 0 {
			t.Fatalf("submission to %s: %s", to, out)
		}
	}
	// The transport names inside.example: its mail is delivered there.
	testutil.WaitFor(t, "delivery through the transport", 15*time.Second, func() bool { return hop.msgs.Load() == 1 })
	testutil.WaitFor(t, "three bounces", 15*time.Second, func() bool { return len(b.Mailbox(b.Admin, "INBOX")) == 3 })
	if mx != nil && mx.conns.Load() != 0 {
		t.Errorf("the box connected %d times to the loopback MX the DNS named", mx.conns.Load())
	}
	for _, m := range b.Mailbox(b.Admin, "INBOX") {
		if !strings.Contains(string(m), "5.4.4") || !strings.Contains(string(m), "private or loopback address") {
			t.Errorf("bounce without the reason:\n%s", m)
		}
	}
	if q := b.Queue(); len(q) != 0 {
		t.Errorf("queue still holds %d entries", len(q))
	}
}
