package mailauth

// DKIM signing and verification (RFC 6376, RFC 8463 for Ed25519) on
// emersion/go-msgauth/dkim; this file chooses what to sign and turns the
// library's verdicts into Authentication-Results values.

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"boxmail/internal/mailmsg"
	"boxmail/internal/resolver"
)

// SigningKey is one key a domain signs with.
type SigningKey struct {
	Selector string
	Signer   crypto.Signer // from ParseDKIMKey: *rsa.PrivateKey or ed25519.PrivateKey
}

// SignedHeaders are the header fields a boxmail signature covers, when
// present (RFC 6376 5.4.1's recommendations, plus the MIME fields).
var SignedHeaders = []string{
	"From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding",
}

// Sign returns the DKIM-Signature header fields (each ending in CRLF) to
// prepend to msg, one per key, made with relaxed/relaxed
// canonicalisation over SignedHeaders. Every instance of those fields in
// the message is signed, and From once more than it appears, so that a
// From added later breaks the signature (RFC 6376 8.15). msg is a whole
// message with CRLF line endings; it is not modified. No keys: nil, nil.
//
// Sign is pure and safe for concurrent use. smtpd calls it for every
// authenticated submission; the bounce generator calls it the same way
// with the keys of the box's own domain.
func Sign(msg []byte, domain string, keys []SigningKey) ([]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	count := map[string]int{}
	for f := range mailmsg.Fields(msg) {
		if f.Name != nil {
			count[strings.ToLower(string(f.Name))]++
		}
	}
	var hkeys []string
	for _, h := range SignedHeaders {
		n := count[strings.ToLower(h)]
		if h == "From" {
			if n == 0 {
				return nil, errors.New("dkim: the message has no From field")
			}
			n++ // oversign
		}
		for range n {
			hkeys = append(hkeys, h)
		}
	}
	var out []byte
	for _, k := range keys {
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 domain,
			Selector:               k.Selector,
			Signer:                 k.Signer,
			Hash:                   crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             hkeys,
		})
		if err != nil {
			return nil, err
		}
		if _, err := s.Write(msg); err != nil {
			_ = s.Close() // the write error is the one to report
			return nil, err
		}
		if err := s.Close(); err != nil {
			return nil, err
		}
		out = append(out, s.Signature()...)
	}
	return out, nil
}

// DKIMResult is the verdict on one DKIM-Signature field.
type DKIMResult struct {
	// Result is "pass", "fail", "neutral", "policy", "temperror" or
	// "permerror" (RFC 8601 2.7.1).
	Result string
	// Domain (d=), Selector (s=), Identifier (i=) and the first bytes of
	// the signature (b=, to tell signatures apart, RFC 6008) as written;
	// empty when the field could not be parsed.
	Domain, Selector, Identifier, B string
	// Reason explains a result other than pass.
	Reason string
}

// MaxDKIMSignatures is how many signatures of one message are checked;
// more are reported as "policy" without looking them up.
const MaxDKIMSignatures = 8

// VerifyDKIM checks every DKIM-Signature of msg and returns one result
// per signature, in header order (none: no signatures). Keys are looked
// up through r. It never fails: a broken signature or message is a
// permerror result, a DNS failure a temperror.
func VerifyDKIM(ctx context.Context, r resolver.Resolver, msg []byte) []DKIMResult {
	var out []DKIMResult
	for f := range mailmsg.Fields(msg) {
		if !f.Is("DKIM-Signature") {
			continue
		}
		tags := parseTags(fieldValue(f))
		b := strings.Join(strings.Fields(tags["b"]), "")
		if len(b) > 12 {
			b = b[:12]
		}
		d := strings.ToLower(strings.Join(strings.Fields(tags["d"]), ""))
		out = append(out, DKIMResult{Domain: d, Selector: strings.TrimSpace(tags["s"]),
			Identifier: strings.TrimSpace(tags["i"]), B: b})
	}
	if len(out) == 0 {
		return nil
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT:        txtLookup(ctx, r),
		MaxVerifications: MaxDKIMSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		// The header section could not be read at all.
		for i := range out {
			out[i].Result, out[i].Reason = "permerror", "malformed message header"
		}
		return out
	}
	for i := range out {
		if i >= len(verifs) {
			out[i].Result, out[i].Reason = "policy", "too many signatures"
			continue
		}
		v := verifs[i]
		switch {
		case v.Err == nil:
			out[i].Result = "pass"
		case dkim.IsTempFail(v.Err):
			out[i].Result = "temperror"
		case dkim.IsPermFail(v.Err):
			out[i].Result = "permerror"
		default:
			out[i].Result = "fail"
		}
		if v.Err != nil {
			out[i].Reason = strings.TrimPrefix(v.Err.Error(), "dkim: ")
		}
		if v.Domain != "" {
			out[i].Domain = strings.ToLower(v.Domain)
		}
	}
	return out
}

// parseTags parses a DKIM tag-list ("v=1; a=rsa-sha256; ...", RFC 6376
// 3.2) leniently: it is used only to name a signature in the results,
// never to judge it, so a malformed list yields what could be read.
func parseTags(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := out[k]; k == "" || dup {
			continue
		}
		out[k] = strings.TrimSpace(v)
	}
	return out
}

// txtLookup adapts resolver.LookupTXT to the func go-msgauth calls,
// mapping our errors onto the *net.DNSError flags it interprets:
// temporary -> temperror, not found -> no key / no policy.
func txtLookup(ctx context.Context, r resolver.Resolver) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txts, err := resolver.LookupTXT(ctx, r, name)
		if err == nil {
			return txts, nil
		}
		return nil, dnsError(name, err)
	}
}

// dnsError turns a resolver error into the *net.DNSError go-msgauth
// understands.
func dnsError(name string, err error) error {
	e := &net.DNSError{Err: err.Error(), Name: name}
	switch {
	case resolver.IsNotFound(err):
		e.IsNotFound = true
	case resolver.IsTemporary(err):
		e.IsTemporary = true
	default:
		e.IsTemporary = true // a failure we cannot classify is not proof of absence
	}
	return e
}
