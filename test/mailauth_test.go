package test

// End-to-end tests of message authentication: a DNS server started by
// the test serves SPF, DKIM and DMARC records for outside domains and for
// the box's own; swaks plays outside senders from 127.0.0.2 (outside the
// default trusted_networks), and Debian's python3-dkim checks boxmail's
// signatures independently.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// dnsServer answers from fake on a loopback UDP and TCP port, as an
// authoritative server would, and returns its address.
func dnsServer(t *testing.T, fake *resolver.Fake) string {
	return testutil.ServeDNS(t, fake, fake)
}

// txtRecord is a zone line for a long TXT value, split into strings.
func txtRecord(name, value string) string {
	var parts []string
	for len(value) > 200 {
		parts = append(parts, `"`+value[:200]+`"`)
		value = value[200:]
	}
	parts = append(parts, `"`+value+`"`)
	return name + " 300 IN TXT " + strings.Join(parts, " ")
}

// publishBoxKeys adds the box's DKIM records to the zone.
func publishBoxKeys(t *testing.T, b *Box, fake *resolver.Fake) {
	t.Helper()
	st := b.OpenStore()
	defer st.Close()
	keys, err := st.DKIMKeys(context.Background(), b.Domain)
	if err != nil || len(keys) == 0 {
		t.Fatalf("DKIM keys: %v %v", keys, err)
	}
	for _, k := range keys {
		rec, err := mailauth.DKIMRecord(k.Private)
		if err != nil {
			t.Fatal(err)
		}
		if err := fake.Add(txtRecord(k.Selector+"._domainkey."+k.Domain+".", rec)); err != nil {
			t.Fatal(err)
		}
	}
}

// dkimPython returns a python3 that has Debian's dkim and dns modules.
func dkimPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import dkim, dns.query").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3-dkim and python3-dnspython are required in CI but not installed")
	}
	t.Skip("python3-dkim not installed")
	return ""
}

// findMessage returns the message with the subject from a mailbox.
func findMessage(b *Box, mailbox, subject string) []byte {
	for _, m := range b.Mailbox(b.Admin, mailbox) {
		if bytes.Contains(m, []byte("\nSubject: "+subject+"\r\n")) || bytes.HasPrefix(m, []byte("Subject: "+subject+"\r\n")) {
			return m
		}
	}
	return nil
}

func TestInboundMailIsCheckedLikeGmailWould(t *testing.T) {
	outsideKey, err := mailauth.NewDKIMKey(mailauth.AlgRSA)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := mailauth.ParseDKIMKey(outsideKey)
	outsideRec, _ := mailauth.DKIMRecord(outsideKey)
	fake := resolver.NewFake(
		`example.test. 300 IN MX 10 mail.example.test.`,
		`mail.example.test. 300 IN A 127.0.0.1`,
		`example.test. 300 IN TXT "v=spf1 mx -all"`,
		`_dmarc.example.test. 300 IN TXT "v=DMARC1; p=quarantine"`,
		`spf-pass.example. 300 IN MX 10 mx.spf-pass.example.`,
		`mx.spf-pass.example. 300 IN A 127.0.0.2`,
		`spf-pass.example. 300 IN TXT "v=spf1 mx -all"`,
		`spf-fail.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`spf-soft.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 ~all"`,
		`signed.example. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.signed.example. 300 IN TXT "v=DMARC1; p=reject"`,
		txtRecord("s1._domainkey.signed.example.", outsideRec),
		`reject.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.reject.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`quarantine.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.quarantine.example. 300 IN TXT "v=DMARC1; p=quarantine"`,
		`none.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.none.example. 300 IN TXT "v=DMARC1; p=none"`,
		`junk.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.junk.example. 300 IN TXT "v=DMARC1; p=whatever; pct=lots"`,
		`dnsfail.example. 300 IN A 192.0.2.9`,
	)
	fake.Fail("dnsfail.example", dns.TypeTXT)
	fake.Fail("_dmarc.dnsfail.example", dns.TypeTXT)
	b := newBoxWith(t, map[string]string{"resolvers": dnsServer(t, fake)})
	publishBoxKeys(t, b, fake)
	dir := t.TempDir()

	type tc struct {
		name, envFrom, from string
		extraHeader         string
		sign                bool // with s1._domainkey.signed.example
		tamper              bool // change the body after signing
		local               string
		want                string // "INBOX", "Junk" or an SMTP reply code
		ar                  []string
	}
	for i, c := range []tc{
		{name: "SPF pass", envFrom: "a@spf-pass.example", from: "a@spf-pass.example", want: "INBOX",
			ar: []string{"spf=pass smtp.mailfrom=a@spf-pass.example", "dkim=none", "dmarc=none header.from=spf-pass.example"}},
		{name: "SPF fail", envFrom: "a@spf-fail.example", from: "a@spf-fail.example", want: "INBOX", ar: []string{"spf=fail", "dmarc=none"}},
		{name: "SPF softfail", envFrom: "a@spf-soft.example", from: "a@spf-soft.example", want: "INBOX", ar: []string{"spf=softfail"}},
		{name: "DKIM pass", envFrom: "a@signed.example", from: "a@signed.example", sign: true, want: "INBOX",
			ar: []string{"spf=fail", "dkim=pass header.b=", "header.d=signed.example header.s=s1", "dmarc=pass"}},
		{name: "DKIM fail", envFrom: "a@signed.example", from: "a@signed.example", sign: true, tamper: true, want: "550 5.7.1"},
		{name: "DKIM pass, envelope elsewhere", envFrom: "bounce@spf-fail.example", from: "a@signed.example", sign: true, want: "INBOX",
			ar: []string{"spf=fail smtp.mailfrom=bounce@spf-fail.example", "dkim=pass", "dmarc=pass"}},
		{name: "DMARC reject", envFrom: "a@reject.example", from: "a@reject.example", want: "550 5.7.1"},
		{name: "DMARC quarantine", envFrom: "a@quarantine.example", from: "a@quarantine.example", want: "Junk",
			ar: []string{"spf=fail", "dmarc=fail", "header.from=quarantine.example"}},
		{name: "DMARC none", envFrom: "a@none.example", from: "a@none.example", want: "INBOX", ar: []string{"dmarc=fail"}},
		{name: "DMARC record with junk", envFrom: "a@junk.example", from: "a@junk.example", want: "INBOX", ar: []string{"dmarc=permerror"}},
		{name: "unparseable DKIM-Signature", envFrom: "a@spf-pass.example", from: "a@spf-pass.example",
			extraHeader: "DKIM-Signature: v=1; this is = not; a signature\r\n", want: "INBOX", ar: []string{"dkim=permerror", "spf=pass"}},
		{name: "DNS failure", envFrom: "a@dnsfail.example", from: "a@dnsfail.example", want: "INBOX", ar: []string{"spf=temperror", "dmarc=temperror"}},
		{name: "spoofing the box's own domain", envFrom: "a@spf-pass.example", from: "me@example.test", want: "550 5.7.1"},
		{name: "forged results", envFrom: "a@spf-pass.example", from: "a@spf-pass.example",
			extraHeader: "Authentication-Results: mail.example.test; dmarc=pass header.from=example.test\r\n", want: "INBOX", ar: []string{"spf=pass"}},
		{name: "trusted network", envFrom: "a@reject.example", from: "a@reject.example", local: "127.0.0.1", want: "INBOX",
			ar: []string{"mail.example.test; (trusted network) none"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.t = t
			subject := fmt.Sprintf("case %d", i)
			msg := c.extraHeader + "From: <" + c.from + ">\r\nTo: me@example.test\r\nSubject: " + subject +
				"\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\nMessage-ID: <" + subject[5:] + "@test>\r\n\r\nHello from outside.\r\n"
			if c.sign {
				sig, err := mailauth.Sign([]byte(msg), "signed.example", []mailauth.SigningKey{{Selector: "s1", Signer: signer}})
				if err != nil {
					t.Fatal(err)
				}
				msg = string(sig) + msg
			}
			if c.tamper {
				msg = strings.Replace(msg, "Hello", "Goodbye", 1)
			}
			file := filepath.Join(dir, fmt.Sprintf("%d.eml", i))
			os.WriteFile(file, []byte(msg), 0o600)
			local := c.local
			if local == "" {
				local = "127.0.0.2"
			}
			out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--local-interface", local,
				"--from", c.envFrom, "--to", "me@example.test", "--data", file)
			if c.want != "INBOX" && c.want != "Junk" {
				if code == 0 || !strings.Contains(out, "<** "+c.want) {
					t.Fatalf("want %s, got exit %d:\n%s", c.want, code, out)
				}
				return
			}
			if code != 0 {
				t.Fatalf("swaks exit %d:\n%s", code, out)
			}
			got := findMessage(b, c.want, subject)
			if got == nil {
				t.Fatalf("message not in %s", c.want)
			}
			if n := bytes.Count(got, []byte("Authentication-Results: mail.example.test")); n != 1 || !bytes.HasPrefix(withoutTrace(got), []byte("Authentication-Results: mail.example.test")) {
				t.Errorf("%d Authentication-Results of ours (want 1, first):\n%s", n, got)
			}
			hdr, _, _ := bytes.Cut(got, []byte("\r\nReceived: "))
			for _, w := range c.ar {
				if !bytes.Contains(hdr, []byte(w)) {
					t.Errorf("Authentication-Results lacks %q:\n%s", w, hdr)
				}
			}
		})
	}
	b.t = t
}

func TestSubmittedMailIsSignedAndVerifiesIndependently(t *testing.T) {
	py := dkimPython(t)
	fake := resolver.NewFake(
		`example.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	dnsAddr := dnsServer(t, fake)
	b := newBoxWith(t, map[string]string{"resolvers": dnsAddr})
	// An Ed25519 key signs alongside the RSA one (RFC 8463).
	ed, err := mailauth.NewDKIMKey(mailauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	st := b.OpenStore()
	err = st.AddDKIMKey(context.Background(), store.DKIMKey{Domain: b.Domain, Selector: "ed", Algorithm: mailauth.AlgEd25519, Private: ed, Active: true})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	publishBoxKeys(t, b, fake)

	sub := fmt.Sprintf("127.0.0.1:%d", b.Submission)
	out, code := b.Swaks("--server", sub, "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", b.Admin, "--header", "Subject: signed by the box", "--body", "Dear family,\n\nlunch on Sunday?\n")
	if code != 0 {
		t.Fatalf("swaks: %d\n%s", code, out)
	}
	msg := findMessage(b, "INBOX", "signed by the box")
	if msg == nil {
		t.Fatal("message not delivered")
	}
	if !bytes.HasPrefix(withoutTrace(msg), []byte("DKIM-Signature: ")) || !bytes.Contains(msg, []byte("auth=pass smtp.auth=me@example.test")) {
		t.Fatalf("message:\n%s", msg)
	}

	// Debian's python3-dkim verifies both signatures with the published keys.
	cmd := exec.Command(py, filepath.Join("clients", "dkim_verify.py"), dnsAddr)
	cmd.Stdin = bytes.NewReader(msg)
	vout, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s\n%s", err, vout, msg)
	}
	if !strings.Contains(string(vout), "pass d=example.test s=mail a=rsa-sha256 c=relaxed/relaxed") ||
		!strings.Contains(string(vout), "pass d=example.test s=ed a=ed25519-sha256") {
		t.Errorf("dkimpy:\n%s", vout)
	}
	// ...and rejects the message once its body is changed.
	cmd = exec.Command(py, filepath.Join("clients", "dkim_verify.py"), dnsAddr)
	cmd.Stdin = bytes.NewReader(bytes.Replace(msg, []byte("Sunday"), []byte("Monday"), 1))
	if vout, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("dkimpy accepted a changed body:\n%s", vout)
	}

	// The signed message, sent back from outside (127.0.0.2, where SPF of
	// example.test fails), passes DMARC through its DKIM signature; the
	// Authentication-Results claiming the box's name is replaced.
	file := filepath.Join(t.TempDir(), "resent.eml")
	os.WriteFile(file, msg, 0o600)
	out, code = b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--local-interface", "127.0.0.2",
		"--from", "someone@elsewhere.example", "--to", b.Admin, "--data", file)
	if code != 0 {
		t.Fatalf("resend: %d\n%s", code, out)
	}
	var back []byte
	deadline := time.Now().Add(5 * time.Second)
	for back == nil && time.Now().Before(deadline) {
		for _, m := range b.Mailbox(b.Admin, "INBOX") {
			if bytes.Contains(m, []byte("dmarc=")) {
				back = m
			}
		}
	}
	if back == nil {
		t.Fatal("resent message not delivered")
	}
	hdr, _, _ := bytes.Cut(back, []byte("\r\n\r\n"))
	for _, w := range []string{"dkim=pass", "header.s=mail", "header.s=ed", "dmarc=pass", "header.from=example.test"} {
		if !bytes.Contains(hdr, []byte(w)) {
			t.Errorf("resent message lacks %q:\n%s", w, hdr)
		}
	}
	if bytes.Contains(hdr, []byte("smtp.auth=")) || bytes.Count(hdr, []byte("Authentication-Results:")) != 1 {
		t.Errorf("the old Authentication-Results survived:\n%s", hdr)
	}
}
