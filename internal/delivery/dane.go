package delivery

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DANE for SMTP (RFC 7672): an MX host whose _PORT._tcp.HOST TLSA
// records come from a DNSSEC-signed zone (the resolver's AD bit, trusted
// only from loopback or a configured resolver: resolver.Net.TrustedAD)
// must offer STARTTLS and a certificate those records match. Only
// DANE-EE (3) and DANE-TA (2) are usable for SMTP (RFC 7672 3.1.3); a
// DANE-EE match ignores names and dates (3.1.1).

// usableTLSA keeps the records RFC 7672 lets SMTP use: usage 2 or 3,
// selector 0 (whole certificate) or 1 (public key), matching type 0
// (exact), 1 (SHA-256) or 2 (SHA-512).
func usableTLSA(rrs []*dns.TLSA) []*dns.TLSA {
	var out []*dns.TLSA
	for _, r := range rrs {
		if (r.Usage == 2 || r.Usage == 3) && r.Selector <= 1 && r.MatchingType <= 2 {
			out = append(out, r)
		}
	}
	return out
}

// tlsaMatches reports whether cert is what r names.
func tlsaMatches(r *dns.TLSA, cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == 1 {
		data = cert.RawSubjectPublicKeyInfo
	}
	want, err := hex.DecodeString(r.Certificate)
	if err != nil {
		return false
	}
	switch r.MatchingType {
	case 0:
		return bytes.Equal(data, want)
	case 1:
		h := sha256.Sum256(data)
		return bytes.Equal(h[:], want)
	case 2:
		h := sha512.Sum512(data)
		return bytes.Equal(h[:], want)
	}
	return false
}

// errDANEMismatch is a certificate that no TLSA record matches.
var errDANEMismatch = errors.New("no TLSA record matches the certificate")

// verifyDANE checks the server's chain (leaf first) against the usable
// TLSA records of host: a DANE-EE record must match the leaf; a DANE-TA
// record must match a certificate of the chain that then issues a chain
// valid for host at now.
func verifyDANE(chain []*x509.Certificate, tlsa []*dns.TLSA, host string, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate offered")
	}
	for _, r := range tlsa {
		if r.Usage == 3 && tlsaMatches(r, chain[0]) {
			return nil
		}
	}
	for _, r := range tlsa {
		if r.Usage != 2 {
			continue
		}
		for i, c := range chain {
			if !tlsaMatches(r, c) {
				continue
			}
			if i == 0 {
				// The trust anchor is the leaf itself: a name check only.
				if err := chain[0].VerifyHostname(host); err == nil {
					return nil
				}
				continue
			}
			roots := x509.NewCertPool()
			roots.AddCert(c)
			inter := x509.NewCertPool()
			for _, ic := range chain[1:i] {
				inter.AddCert(ic)
			}
			if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter, CurrentTime: now}); err == nil {
				return nil
			}
		}
	}
	return errDANEMismatch
}

// tlsaString is the records as TLS-RPT's policy-string lines.
func tlsaString(rrs []*dns.TLSA) string {
	var l []string
	for _, r := range rrs {
		l = append(l, fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, r.Certificate))
	}
	return strings.Join(l, "\n")
}
