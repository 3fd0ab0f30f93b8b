package mailauth

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"boxmail/internal/mailmsg"
	"boxmail/internal/resolver"
)

// FuzzHeader checks the header splitter and the removal of forged
// Authentication-Results on arbitrary input: the fields are the exact
// bytes of the header, and stripping keeps every other byte, removes all
// fields claiming the host, and is idempotent.
func FuzzHeader(f *testing.F) {
	f.Add([]byte("Authentication-Results: h.example; spf=pass\r\nSubject: x\r\n\r\nbody"), "h.example")
	f.Add([]byte("A: 1\n folded\nno colon\n\tcont\n\nbody\n"), "h")
	f.Add([]byte(" leading continuation\r\nAuthentication-Results: (c) H.example. ; none\r\n"), "h.example")
	f.Add([]byte("Authentication-Results:\r\n (a (b) \\) c) \"q\" h; x\r\n\r\n"), "h")
	f.Fuzz(func(t *testing.T, msg []byte, host string) {
		n, body := mailmsg.Bounds(msg)
		var cat []byte
		for fl := range mailmsg.Fields(msg) {
			cat = append(cat, fl.Raw...)
		}
		if !bytes.Equal(cat, msg[:n]) || body < n || body > len(msg) {
			t.Fatalf("fields do not cover the header: %d of %d bytes, body at %d", len(cat), n, body)
		}
		out := StripAuthResults(bytes.Clone(msg), host)
		if !bytes.HasSuffix(out, msg[n:]) {
			t.Fatalf("body changed")
		}
		again := StripAuthResults(bytes.Clone(out), host)
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
		for fl := range mailmsg.Fields(out) {
			if isOurAuthResults(fl, host) {
				t.Fatalf("left %q", fl.Raw)
			}
		}
		a := ParseAuthor(msg)
		if (a.Domain == "") == (a.Err == nil) {
			t.Fatalf("ParseAuthor = %+v", a)
		}
		a.Mentions(host)
	})
}

// FuzzVerifyDKIM feeds arbitrary messages (typically with broken
// DKIM-Signature fields) to the verifier: one result per signature,
// never a pass without a key, never a crash.
func FuzzVerifyDKIM(f *testing.F) {
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=mail; h=From; bh=AAAA; b=AAAA\r\nFrom: a@example.org\r\n\r\nhi\r\n"))
	f.Add([]byte("DKIM-Signature: garbage\r\nDKIM-Signature: v=1; d=; s=\r\n\r\n"))
	f.Add([]byte("dkim-signature:v=1;a=ed25519-sha256;d=x;s=y;h=from:from;bh=;b=;l=0;x=1;t=2\nFrom: <a@x>\n\n"))
	fake := resolver.NewFake(`mail._domainkey.example.org. 300 IN TXT "v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAK"`)
	fake.Fail("y._domainkey.x", dns.TypeTXT)
	f.Fuzz(func(t *testing.T, msg []byte) {
		res := VerifyDKIM(context.Background(), fake, msg)
		n := 0
		for fl := range mailmsg.Fields(msg) {
			if fl.Is("DKIM-Signature") {
				n++
			}
		}
		if len(res) != n {
			t.Fatalf("%d results for %d signatures", len(res), n)
		}
		for _, r := range res {
			if r.Result == "pass" || r.Result == "" {
				t.Fatalf("result %+v", r)
			}
		}
	})
}

// txtResolver answers every TXT question with one record.
type txtResolver string

func (r txtResolver) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	if qtype != dns.TypeTXT || !strings.HasPrefix(name, "_dmarc.") {
		return &resolver.Answer{}, nil
	}
	return &resolver.Answer{Records: []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{string(r)}}}}, nil
}

// FuzzDMARCRecord evaluates a message against arbitrary policy records:
// the result is always one of RFC 8601's values, and a policy is given
// only for a failure.
func FuzzDMARCRecord(f *testing.F) {
	f.Add("v=DMARC1; p=reject", "mail.example.org", true)
	f.Add("v=DMARC1; p=quarantine; sp=none; pct=50; adkim=s; aspf=r; rua=mailto:x@y", "example.org", false)
	f.Add("v=DMARC1; p=maybe; pct=lots;;;=", "a.b.c.example.co.uk", false)
	f.Add("v=DMARC1", "", true)
	f.Fuzz(func(t *testing.T, rec, domain string, own bool) {
		res := CheckDMARC(context.Background(), txtResolver(rec), DMARCInput{FromDomain: domain, SPF: "fail", SPFDomain: domain,
			DKIM: []DKIMResult{{Result: "fail", Domain: domain}}, OwnDomain: own})
		switch res.Result {
		case "fail":
			if res.Policy != PolicyNone && res.Policy != PolicyQuarantine && res.Policy != PolicyReject {
				t.Fatalf("policy %q", res.Policy)
			}
		case "none", "permerror", "temperror":
			if res.Policy != "" {
				t.Fatalf("policy %q for %s", res.Policy, res.Result)
			}
		default:
			t.Fatalf("result %+v", res)
		}
	})
}
