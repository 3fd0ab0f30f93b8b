package mailauth

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"boxmail/internal/mailmsg"
	"boxmail/internal/resolver"
)

var (
	testKeysOnce sync.Once
	testRSA      string // PEM
	testEd       string
)

// testKeys returns an RSA and an Ed25519 key, generated once per run.
func testKeys(t testing.TB) (rsaPEM, edPEM string) {
	t.Helper()
	testKeysOnce.Do(func() {
		var err error
		if testRSA, err = NewDKIMKey(AlgRSA); err != nil {
			panic(err)
		}
		if testEd, err = NewDKIMKey(AlgEd25519); err != nil {
			panic(err)
		}
	})
	return testRSA, testEd
}

func signingKey(t testing.TB, selector, pem string) SigningKey {
	t.Helper()
	s, err := ParseDKIMKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	return SigningKey{Selector: selector, Signer: s}
}

// keyRecord is the zone line publishing pem at selector._domainkey.domain.
func keyRecord(t testing.TB, selector, domain, pem string) string {
	t.Helper()
	rec, err := DKIMRecord(pem)
	if err != nil {
		t.Fatal(err)
	}
	// TXT strings are at most 255 bytes.
	var parts []string
	for len(rec) > 200 {
		parts = append(parts, `"`+rec[:200]+`"`)
		rec = rec[200:]
	}
	parts = append(parts, `"`+rec+`"`)
	return selector + "._domainkey." + domain + ". 300 IN TXT " + strings.Join(parts, " ")
}

const testMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: Sunday lunch\r\n" +
	"Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"X-Unsigned: yes\r\n" +
	"\r\n" +
	"Shall we meet at noon?\r\n\r\n\r\n"

func signed(t testing.TB, msg, domain string, keys ...SigningKey) []byte {
	t.Helper()
	sig, err := Sign([]byte(msg), domain, keys)
	if err != nil {
		t.Fatal(err)
	}
	return append(sig, msg...)
}

func TestSignAndVerify(t *testing.T) {
	rsaPEM, edPEM := testKeys(t)
	fake := resolver.NewFake(keyRecord(t, "mail", "example.org", rsaPEM), keyRecord(t, "ed", "example.org", edPEM))
	ctx := context.Background()
	msg := signed(t, testMsg, "example.org", signingKey(t, "mail", rsaPEM), signingKey(t, "ed", edPEM))

	if n := bytes.Count(msg, []byte("DKIM-Signature:")); n != 2 {
		t.Fatalf("%d signatures", n)
	}
	first, _, _ := bytes.Cut(msg, []byte("\r\nDKIM-Signature"))
	for _, want := range []string{"c=relaxed/relaxed", "d=example.org", "s=mail", "a=rsa-sha256"} {
		if !bytes.Contains(first, []byte(want)) {
			t.Errorf("signature lacks %s:\n%s", want, first)
		}
	}
	// Headers present are signed, From once more; absent and unlisted ones are not.
	h := parseTags(string(bytes.SplitN(first, []byte(":"), 2)[1]))["h"]
	h = strings.Join(strings.Fields(h), "")
	if h != "From:From:To:Subject:Date:Message-ID:MIME-Version:Content-Type" {
		t.Errorf("h=%s", h)
	}

	res := VerifyDKIM(ctx, fake, msg)
	if len(res) != 2 || res[0].Result != "pass" || res[1].Result != "pass" {
		t.Fatalf("results = %+v", res)
	}
	if res[0].Domain != "example.org" || res[0].Selector != "mail" || res[1].Selector != "ed" || len(res[0].B) != 12 {
		t.Errorf("results = %+v", res)
	}

	// Relaxed canonicalisation tolerates whitespace changes in headers
	// and at line ends, and an unsigned header added in transit.
	moved := bytes.Replace(msg, []byte("Subject: Sunday lunch"), []byte("Subject:   Sunday  lunch "), 1)
	moved = bytes.Replace(moved, []byte("noon?\r\n"), []byte("noon?  \r\n"), 1)
	moved = append([]byte("Received: from somewhere\r\n"), moved...)
	for _, r := range VerifyDKIM(ctx, fake, moved) {
		if r.Result != "pass" {
			t.Errorf("relaxed: %+v", r)
		}
	}

	for name, tamper := range map[string]func([]byte) []byte{
		"body":    func(m []byte) []byte { return bytes.Replace(m, []byte("noon"), []byte("one"), 1) },
		"subject": func(m []byte) []byte { return bytes.Replace(m, []byte("Sunday lunch"), []byte("Sunday brunch"), 1) },
		"added From": func(m []byte) []byte {
			return bytes.Replace(m, []byte("To: bob"), []byte("From: mallory@evil.example\r\nTo: bob"), 1)
		},
	} {
		for _, r := range VerifyDKIM(ctx, fake, tamper(bytes.Clone(msg))) {
			if r.Result != "fail" {
				t.Errorf("%s: %+v", name, r)
			}
		}
	}
}

func TestVerifyDKIMResults(t *testing.T) {
	rsaPEM, _ := testKeys(t)
	ctx := context.Background()
	msg := signed(t, testMsg, "example.org", signingKey(t, "mail", rsaPEM))
	check := func(name string, r resolver.Resolver, msg []byte, want string) {
		t.Helper()
		res := VerifyDKIM(ctx, r, msg)
		if len(res) != 1 || res[0].Result != want {
			t.Errorf("%s: %+v, want %s", name, res, want)
		}
	}
	check("no key record", resolver.NewFake("example.org. 300 IN A 192.0.2.1"), msg, "permerror")
	servfail := resolver.NewFake()
	servfail.Fail("mail._domainkey.example.org", dns.TypeTXT)
	check("SERVFAIL", servfail, msg, "temperror")
	check("revoked", resolver.NewFake(`mail._domainkey.example.org. 300 IN TXT "v=DKIM1; k=rsa; p="`), msg, "permerror")
	check("junk key", resolver.NewFake(`mail._domainkey.example.org. 300 IN TXT "v=DKIM1; k=rsa; p=!!!"`), msg, "permerror")
	_, edPEM := testKeys(t)
	check("wrong key", resolver.NewFake(keyRecord(t, "mail", "example.org", edPEM)), msg, "permerror")

	if res := VerifyDKIM(ctx, resolver.NewFake(), []byte(testMsg)); res != nil {
		t.Errorf("unsigned: %+v", res)
	}
}

func TestVerifyDKIMBadSignatures(t *testing.T) {
	ctx := context.Background()
	fake := resolver.NewFake()
	for _, sig := range []string{
		"garbage",
		"",
		";;;===;",
		"v=1; a=rsa-sha256; d=example.org; s=mail; h=From; bh=; b=",
		"v=2; a=rsa-sha256; d=example.org; s=mail; h=From; bh=AAAA; b=AAAA",
		"v=1; a=rsa-sha256; d=example.org; s=mail; h=To; bh=AAAA; b=AAAA",
		"v=1; a=rsa-sha1; d=example.org; s=mail; h=From; bh=AAAA; b=AAAA",
		"v=1; a=rsa-sha256; d=example.org; s=mail; h=From; bh=AAAA; b=AAAA; i=x@other.example",
		"v=1; a=rsa-sha256; d=example.org; s=mail; h=From; bh=AAAA; b=AAAA; t=notanumber",
		"v=1; a=rsa-sha256; d=example.org; s=mail; h=From; bh=AAAA; b=AAAA; x=1",
		"v=1; a=rsa-sha256; d=; s=; h=From; bh=AAAA; b=AAAA",
		"v=1; a=rsa-sha256; d=example.org; s=mail; h=From; bh=AAAA; b=AAAA; q=unknown",
		"v=1; a=rsa-sha256; d=example.org; s=mail; h=From; bh=AAAA; b=AAAA; l=5",
		"v=1; a=\x00; d=\r\x7f; s=a\tb; h=From; bh=%%; b=%%",
	} {
		msg := "DKIM-Signature: " + sig + "\r\n" + testMsg
		res := VerifyDKIM(ctx, fake, []byte(msg))
		if len(res) != 1 || res[0].Result == "pass" || res[0].Result == "" {
			t.Errorf("%q: %+v", sig, res)
		}
	}
	// A header section that never ends, and many signatures.
	if res := VerifyDKIM(ctx, fake, []byte("DKIM-Signature: v=1\r\nFrom: a@b")); len(res) != 1 || res[0].Result != "permerror" {
		t.Errorf("unterminated header: %+v", res)
	}
	many := strings.Repeat("DKIM-Signature: v=1; d=example.org; s=x\r\n", MaxDKIMSignatures+3) + testMsg
	res := VerifyDKIM(ctx, fake, []byte(many))
	if len(res) != MaxDKIMSignatures+3 || res[len(res)-1].Result != "policy" || res[0].Result != "permerror" {
		t.Errorf("many: %+v", res)
	}
}

func TestSignNeedsFrom(t *testing.T) {
	rsaPEM, _ := testKeys(t)
	if _, err := Sign([]byte("Subject: x\r\n\r\nbody\r\n"), "example.org", []SigningKey{signingKey(t, "mail", rsaPEM)}); err == nil {
		t.Error("signed a message without From")
	}
	if sig, err := Sign([]byte(testMsg), "example.org", nil); sig != nil || err != nil {
		t.Errorf("no keys: %q, %v", sig, err)
	}
}

func TestHeaderFieldsAsMailauthReadsThem(t *testing.T) {
	msg := []byte("A: 1\r\nB: 2\r\n folded\r\n\tagain\r\nbroken line\r\nC :3\n\r\nbody\r\n")
	fields := slices.Collect(mailmsg.Fields(msg))
	var names []string
	for _, f := range fields {
		names = append(names, string(f.Name))
	}
	if body := mailmsg.HeaderEnd(msg); strings.Join(names, ",") != "A,B,,C" || string(msg[body:]) != "body\r\n" {
		t.Errorf("names %q, body %q", names, msg[body:])
	}
	if v := fieldValue(fields[1]); v != "2 folded\tagain" {
		t.Errorf("value %q", v)
	}
	for range mailmsg.Fields([]byte("\r\nbody")) {
		t.Errorf("a field in an empty header")
	}
}
