package smtpd

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/delivery"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// newCheckingServer runs an inbound server that checks mail through fake
// DNS; 127.0.0.1 is trusted only when trusted is set.
func newCheckingServer(t *testing.T, fake *resolver.Fake, trusted bool) (string, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	st.AddAccount(ctx, "me@example.net", "pw-pw-pw-pw", true)
	o := Options{Mode: Inbound, Deliverer: delivery.New(delivery.Options{Store: st}), Store: st, Hostname: "mx.example.net",
		ReadTimeout: 2 * time.Second, Resolver: fake}
	if trusted {
		o.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
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

func mailbox(t *testing.T, st *store.Store, name string) []string {
	t.Helper()
	ctx := context.Background()
	acc, err := st.AccountByEmail(ctx, "me@example.net")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.MailboxByName(ctx, acc.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := st.Body(ctx, m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func send(t *testing.T, addr, from, header string) string {
	t.Helper()
	return talk(t, addr, []byte("EHLO client.example\r\nMAIL FROM:<"+from+">\r\nRCPT TO:<me@example.net>\r\nDATA\r\n"+
		header+"Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n"))
}

var outsideZone = []string{
	`reject.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
	`_dmarc.reject.example. 300 IN TXT "v=DMARC1; p=reject"`,
	`quarantine.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
	`_dmarc.quarantine.example. 300 IN TXT "v=DMARC1; p=quarantine"`,
	`friendly.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
	`_dmarc.friendly.example. 300 IN TXT "v=DMARC1; p=reject"`,
}

func TestInboundDMARCPolicies(t *testing.T) {
	fake := resolver.NewFake(outsideZone...)
	fake.Fail("_dmarc.example.net", dns.TypeTXT)
	fake.Fail("broken.example", dns.TypeTXT)
	fake.Fail("_dmarc.broken.example", dns.TypeTXT)
	addr, st := newCheckingServer(t, fake, false)

	out := send(t, addr, "a@reject.example", "From: a@reject.example\r\n")
	if !strings.Contains(out, "550 5.7.1") {
		t.Errorf("p=reject: %s", out)
	}
	out = send(t, addr, "a@quarantine.example", "From: a@quarantine.example\r\n")
	if !strings.Contains(out, "250 2.0.0") {
		t.Errorf("p=quarantine: %s", out)
	}
	// SPF passes for the envelope and aligns: delivered, with forged
	// results claiming our name removed and others kept.
	out = send(t, addr, "a@friendly.example", "Authentication-Results: mx.example.net; dmarc=pass\r\n"+
		"Authentication-Results: mx.friendly.example; spf=pass\r\nFrom: a@friendly.example\r\n")
	if !strings.Contains(out, "250 2.0.0") {
		t.Errorf("SPF pass: %s", out)
	}
	// DNS failure for an outside domain: temperror, delivered.
	out = send(t, addr, "a@broken.example", "From: a@broken.example\r\n")
	if !strings.Contains(out, "250 2.0.0") {
		t.Errorf("temperror: %s", out)
	}
	// Our own domain from outside: refused; temporarily when DNS fails.
	out = send(t, addr, "me@example.net", "From: me@example.net\r\n")
	if !strings.Contains(out, "451 4.7.5") {
		t.Errorf("own domain, DNS failing: %s", out)
	}

	junk := mailbox(t, st, "Junk")
	if len(junk) != 1 || !strings.Contains(junk[0], "From: a@quarantine.example") || !strings.Contains(junk[0], "dmarc=fail") {
		t.Errorf("Junk = %q", junk)
	}
	inbox := mailbox(t, st, "INBOX")
	if len(inbox) != 2 {
		t.Fatalf("INBOX has %d messages", len(inbox))
	}
	m := inbox[0]
	if !strings.HasPrefix(m, "Return-Path: <a@friendly.example>\r\nDelivered-To: me@example.net\r\nAuthentication-Results: mx.example.net;\r\n\tspf=pass smtp.mailfrom=a@friendly.example;\r\n\tdkim=none;\r\n\tdmarc=pass") ||
		strings.Count(m, "Authentication-Results: mx.example.net") != 1 || !strings.Contains(m, "Authentication-Results: mx.friendly.example; spf=pass") {
		t.Errorf("message:\n%s", m)
	}
	if !strings.Contains(inbox[1], "spf=temperror") || !strings.Contains(inbox[1], "dmarc=temperror") {
		t.Errorf("temperror message:\n%s", inbox[1])
	}

	// Once DNS answers, the spoof is refused for good.
	addr2, _ := newCheckingServer(t, resolver.NewFake(outsideZone...), false)
	out = send(t, addr2, "me@example.net", "From: me@example.net\r\n")
	if !strings.Contains(out, "550 5.7.1") {
		t.Errorf("own domain: %s", out)
	}
}

func TestTrustedClientsAreNotChecked(t *testing.T) {
	addr, st := newCheckingServer(t, resolver.NewFake(outsideZone...), true)
	out := send(t, addr, "a@reject.example", "Authentication-Results: mx.example.net; dmarc=pass\r\nFrom: a@reject.example\r\n")
	if !strings.Contains(out, "250 2.0.0") {
		t.Errorf("trusted: %s", out)
	}
	inbox := mailbox(t, st, "INBOX")
	if len(inbox) != 1 || !strings.HasPrefix(inbox[0], "Return-Path: <a@reject.example>\r\nDelivered-To: me@example.net\r\nAuthentication-Results: mx.example.net; (trusted network) none\r\nReceived: ") ||
		strings.Count(inbox[0], "Authentication-Results") != 1 {
		t.Errorf("INBOX = %q", inbox)
	}
}

// From outside, a message must have exactly one author domain, and one
// claiming the box's domain (example.net, its hostname mx.example.net or
// a subdomain), however it is written, must pass DMARC.
func TestInboundMailNeedsOneAuthorDomainAndOwnDomainsMustPass(t *testing.T) {
	addr, st := newCheckingServer(t, resolver.NewFake(outsideZone...), false)
	for _, c := range []struct{ header, want string }{
		{"", "550 5.7.1 Message rejected: the message has no From field"},
		{"From: a@friendly.example\r\nFrom: me@example.net\r\n", "550 5.7.1 Message rejected: the message has 2 From fields"},
		{"From: me@example.net (CEO\r\n", "550 5.7.1 Message rejected: the From field cannot be parsed"},
		{"From: \"CEO\" <me@example.net> x\r\n", "550 5.7.1"},
		{"From: CEO <me@example.net>;\r\n", "550 5.7.1"},
		{"From: CEO <me@example.net\r\n", "550 5.7.1"},
		{"From: undisclosed-recipients:;\r\n", "550 5.7.1 Message rejected: the From field names no address"},
		{"From: a@friendly.example, me@example.net\r\n", "550 5.7.1 Message rejected: the From field names addresses in different domains"},
		{"From: Boss <boss@Mail.Example.NET>\r\n", "550 5.7.1 Message rejected: its From domain mail.example.net"},
		{"From: postmaster@mx.example.net\r\n", "550 5.7.1 Message rejected: its From domain mx.example.net"},
		{"From: \"me@example.net\" <a@quarantine.example>\r\n", "550 5.7.1"},
		{"From: =?utf-8?b?bWVAZXhhbXBsZS5uZXQ=?= <a@quarantine.example>\r\n", "550 5.7.1"},
		{"From: a@quarantine.example (me@EXAMPLE.net)\r\n", "550 5.7.1"},
		{"From: Friend <a@friendly.example>\r\n", "250 2.0.0"},
		{"From: \"Friend (me@example.net)\" <a@friendly.example>\r\n", "250 2.0.0"}, // own-domain rule, but DMARC passes
		{"From: =?koi8-r?b?8NLJ18XU?= <a@friendly.example>\r\n", "250 2.0.0"},
	} {
		if out := send(t, addr, "a@friendly.example", c.header); !strings.Contains(out, c.want) {
			t.Errorf("%q: want %q in\n%s", c.header, c.want, out)
		}
	}
	if n := len(mailbox(t, st, "INBOX")); n != 3 {
		t.Errorf("INBOX holds %d messages, want the 3 honest ones", n)
	}
}

// Mail from a trusted client loses the Authentication-Results fields
// that claim the box's name, folded, commented or in another case, and
// keeps everyone else's (submission: test/spoof_test.go).
func TestTrustedMailLosesForgedAuthenticationResults(t *testing.T) {
	addr, st := newCheckingServer(t, resolver.NewFake(outsideZone...), true)
	out := send(t, addr, "a@friendly.example", "Authentication-Results: MX.example.net.; dmarc=pass\r\n"+
		"Authentication-Results:\r\n (forged)\r\n mx.example.net; spf=pass\r\nAuthentication-Results: mx.friendly.example; spf=pass\r\nFrom: a@friendly.example\r\n")
	if !strings.Contains(out, "250 2.0.0") {
		t.Fatalf("trusted: %s", out)
	}
	inbox := mailbox(t, st, "INBOX")
	if len(inbox) != 1 || strings.Count(strings.ToLower(inbox[0]), "authentication-results: mx.example.net") != 1 ||
		strings.Contains(inbox[0], "forged") || !strings.Contains(inbox[0], "Authentication-Results: mx.friendly.example; spf=pass\r\n") {
		t.Errorf("INBOX = %q", inbox)
	}
}
