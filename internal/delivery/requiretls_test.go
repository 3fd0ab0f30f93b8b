package delivery

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// startRemoteOffering is startRemote whose server offers REQUIRETLS
// (RFC 8689) when requireTLS.
func startRemoteOffering(t *testing.T, requireTLS bool) (*remote, string) {
	t.Helper()
	r := &remote{refuse: map[string]*smtp.SMTPError{}, conns: map[string]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	srv := smtp.NewServer(r)
	srv.Domain = "mx.remote.example"
	srv.TLSConfig = testTLSConfig(t)
	srv.EnableREQUIRETLS = requireTLS
	srv.ErrorLog = nopLogger{}
	r.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	leaf, err := x509.ParseCertificate(srv.TLSConfig.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return r, hex.EncodeToString(spki[:])
}

// commit sends data from me@example.net to anna@friends.example as an
// authenticated user's submission, REQUIRETLS when reqTLS.
func (f *queueFixture) commit(t *testing.T, data string, reqTLS bool) {
	t.Helper()
	txn := f.d.Begin("me@example.net")
	if reqTLS {
		txn.RequireTLS()
	}
	if _, err := txn.AddRecipient(context.Background(), "anna@friends.example", true); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(context.Background(), []byte(data)); err != nil {
		t.Fatal(err)
	}
}

// A message whose sender said "TLS-Required: No" goes to a host the
// DANE policy refuses (a TLSA mismatch), header kept; the same message
// without the header, or with REQUIRETLS too, stays deferred.
func TestTLSRequiredNoIsDeliveredWhereThePolicyDefers(t *testing.T) {
	r, _ := startRemoteOffering(t, false)
	name := fmt.Sprintf("_%d._tcp.mx.friends.example.", portOf(r.addr))
	f := newQueueFixture(t, portOf(r.addr), "friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1",
		name+" TLSA 3 1 1 "+strings.Repeat("ab", 32))
	f.res.Secure("friends.example")
	f.commit(t, "From: me@example.net\r\nSubject: strict\r\n\r\nhi\r\n", false)
	f.commit(t, "From: me@example.net\r\nTLS-Required: No\r\nSubject: relaxed\r\n\r\nhi\r\n", false)
	f.commit(t, "From: me@example.net\r\nTLS-Required: no\r\nSubject: both\r\n\r\nhi\r\n", true)
	waitFor(t, "the relaxed message", func() bool { return len(r.messages()) == 1 })
	got := r.messages()[0].data
	if !strings.Contains(got, "Subject: relaxed") || !strings.Contains(got, "TLS-Required: No\r\n") {
		t.Errorf("delivered:\n%s", got)
	}
	waitFor(t, "two deferrals", func() bool {
		q := f.queue(t)
		return len(q) == 2 && q[0].Attempts > 0 && q[1].Attempts > 0
	})
	for _, it := range f.queue(t) {
		if !strings.Contains(it.LastError, "DANE") {
			t.Errorf("queue entry %d: last error %q", it.ID, it.LastError)
		}
	}
	if n := len(r.messages()); n != 1 {
		t.Errorf("%d messages delivered, want only the relaxed one", n)
	}
}

// A REQUIRETLS message goes only to a next hop that DANE (or MTA-STS)
// authenticates, over a verified connection, and that offers
// REQUIRETLS; otherwise it bounces with the reason.
func TestRequireTLSNeedsAStrictNextHop(t *testing.T) {
	for _, c := range []struct {
		name         string
		offers, dane bool
		delivered    bool
		bounceSays   string
	}{
		{name: "DANE and REQUIRETLS", offers: true, dane: true, delivered: true},
		{name: "no REQUIRETLS", dane: true, bounceSays: "does not offer REQUIRETLS"},
		{name: "no policy", offers: true, bounceSays: "mx.friends.example offered a certificate no trusted authority signed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, spki := startRemoteOffering(t, c.offers)
			zone := []string{"friends.example. MX 10 mx.friends.example.", "mx.friends.example. A 127.0.0.1"}
			if c.dane {
				zone = append(zone, fmt.Sprintf("_%d._tcp.mx.friends.example. TLSA 3 1 1 %s", portOf(r.addr), spki))
			}
			f := newQueueFixture(t, portOf(r.addr), zone...)
			if c.dane {
				f.res.Secure("friends.example")
			}
			f.commit(t, "From: me@example.net\r\nSubject: secret\r\n\r\nhi\r\n", true)
			if c.delivered {
				waitFor(t, "delivery", func() bool { return len(r.messages()) == 1 })
				return
			}
			waitFor(t, "the bounce", func() bool { return len(f.inbox(t)) == 1 })
			dsn := strings.Join(strings.Fields(f.inbox(t)[0]), " ")
			for _, want := range []string{"5.7.30", "REQUIRETLS", c.bounceSays} {
				if !strings.Contains(dsn, want) {
					t.Errorf("bounce lacks %q:\n%s", want, dsn)
				}
			}
			if len(r.messages()) != 0 {
				t.Error("delivered")
			}
		})
	}
}

// The rules of RFC 8689 4.2.1, one at a time: TLS, a verified
// certificate, a next hop DANE or MTA-STS names, REQUIRETLS offered.
func TestRequireTLSRefusalReasons(t *testing.T) {
	sts := &stsPolicy{Mode: "testing", MX: []string{"mx.friends.example"}}
	good := func() *smtpClient {
		return &smtpClient{tls: true, ext: map[string]string{"REQUIRETLS": ""}, check: &tlsCheck{verified: true}}
	}
	noTLS, unverified, noExt := good(), good(), good()
	noTLS.tls = false
	unverified.check = &tlsCheck{detail: "mx.friends.example offered a certificate for other.example"}
	delete(noExt.ext, "REQUIRETLS")
	dane := tlsPolicy{mode: tlsDANE, domain: "friends.example", host: "mx.friends.example"}
	for _, c := range []struct {
		p         tlsPolicy
		host      string
		c         *smtpClient
		smarthost bool
		want      string // "" for no refusal
	}{
		{dane, "mx.friends.example", good(), false, ""},
		{tlsPolicy{mode: tlsSTSTesting, domain: "friends.example", sts: sts}, "mx.friends.example", good(), false, ""},
		{tlsPolicy{domain: "friends.example"}, "smarthost.example", good(), true, ""},
		{dane, "mx.friends.example", noTLS, false, "mx.friends.example does not offer STARTTLS"},
		{dane, "mx.friends.example", unverified, false, "offered a certificate for other.example"},
		{tlsPolicy{domain: "friends.example"}, "mx.friends.example", good(), false, "neither DANE (TLSA records in a signed zone) nor an MTA-STS policy of friends.example names mx.friends.example"},
		{tlsPolicy{mode: tlsSTSTesting, domain: "friends.example", sts: sts}, "mx2.friends.example", good(), false, "the MTA-STS policy of friends.example does not list mx2.friends.example"},
		{dane, "mx.friends.example", noExt, false, "mx.friends.example does not offer REQUIRETLS"},
	} {
		got := requireTLSRefusal(c.p, c.host, c.c, c.smarthost)
		if c.want == "" && got != "" || c.want != "" && (!strings.HasPrefix(got, "550 5.7.30 ") || !strings.Contains(got, c.want)) {
			t.Errorf("%+v to %s: %q, want %q", c.p, c.host, got, c.want)
		}
	}
}
