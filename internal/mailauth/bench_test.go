package mailauth

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"boxmail/internal/resolver"
	"boxmail/internal/testutil"
)

// benchMessage is a plain-text message of about size bytes.
func benchMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: benchmark\r\n" +
		"Date: Mon, 2 Jun 2025 10:00:00 +0000\r\nMessage-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n")
	line := strings.Repeat("All work and no play makes Jack a dull boy. ", 1)[:44] + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

func benchSign(b *testing.B, size int, pem string) {
	msg := benchMessage(size)
	keys := []SigningKey{signingKey(b, "mail", pem)}
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Sign(msg, "example.org", keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkSignRSA4KiB(b *testing.B)      { r, _ := testKeys(b); benchSign(b, 4<<10, r) }
func BenchmarkSignRSA1MiB(b *testing.B)      { r, _ := testKeys(b); benchSign(b, 1<<20, r) }
func BenchmarkSignEd25519_4KiB(b *testing.B) { _, e := testKeys(b); benchSign(b, 4<<10, e) }

// serveZone answers from fake on a loopback UDP port (as the box's
// configured resolver would) and returns its address.
func serveZone(b *testing.B, fake *resolver.Fake) string {
	return testutil.ServeDNS(b, fake, fake)
}

// BenchmarkCheck4KiB is the inbound path of one message: SPF of the
// envelope (an include and an mx), every DKIM signature and DMARC,
// with every lookup sent to a DNS server on loopback (no cache).
func BenchmarkCheck4KiB(b *testing.B) {
	rsaPEM, _ := testKeys(b)
	fake := resolver.NewFake(
		keyRecord(b, "mail", "example.org", rsaPEM),
		`example.org. 300 IN TXT "v=spf1 mx include:_spf.example.org -all"`,
		`_spf.example.org. 300 IN TXT "v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.0/24 -all"`,
		`example.org. 300 IN MX 10 mx.example.org.`,
		`mx.example.org. 300 IN A 203.0.113.5`,
		`_dmarc.example.org. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.org"`,
	)
	r := &resolver.Net{Servers: []string{serveZone(b, fake)}, Timeout: time.Second}
	msg := signed(b, string(benchMessage(4<<10)), "example.org", signingKey(b, "mail", rsaPEM))
	ip := netip.MustParseAddr("192.0.2.25")
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		spf, _ := CheckSPF(ctx, r, ip, "mx.example.org", "alice@example.org")
		dk := VerifyDKIM(ctx, r, msg)
		from, _ := FromDomain(msg)
		dm := CheckDMARC(ctx, r, DMARCInput{FromDomain: from, SPF: string(spf.Status), SPFDomain: spf.Domain, DKIM: dk})
		if spf.Status != SPFPass || dk[0].Result != "pass" || dm.Result != "pass" {
			b.Fatalf("spf %v dkim %+v dmarc %+v", spf, dk, dm)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkStripAuthResults1MiB removes a forged Authentication-Results
// from a 1 MiB message: the work is the header's, not the body's.
func BenchmarkStripAuthResults1MiB(b *testing.B) {
	orig := append([]byte("Authentication-Results: mail.example.test; dmarc=pass\r\n"), benchMessage(1<<20)...)
	msg := make([]byte, len(orig))
	b.SetBytes(int64(len(orig)))
	b.ReportAllocs()
	for b.Loop() {
		copy(msg[:4096], orig[:4096]) // restore the header the last run moved
		if out := StripAuthResults(msg, "mail.example.test"); len(out) == len(msg) {
			b.Fatal("nothing stripped")
		}
	}
}

// BenchmarkParseAuthor is the From analysis of every inbound message.
func BenchmarkParseAuthor(b *testing.B) {
	msg := benchMessage(4 << 10)
	b.ReportAllocs()
	for b.Loop() {
		a := ParseAuthor(msg)
		if a.Err != nil || a.Mentions("example.test") {
			b.Fatal(a)
		}
	}
}
