// Package mailauth holds boxmail's mail authentication standards code.
// Functions are pure: (ctx, resolver.Resolver, input) -> result, with no
// storage and no network besides DNS. Hostile input gives a result,
// never a crash: a broken record or signature is a permerror, a DNS
// failure a temperror.
//
// Supported:
//   - DKIM keys and records (RFC 6376, Ed25519 keys of RFC 8463):
//     dkimkey.go; signing (Sign, relaxed/relaxed, SignedHeaders with From
//     oversigned) and verification of every signature (VerifyDKIM):
//     dkim.go, on emersion/go-msgauth/dkim.
//   - SPF (RFC 7208): spf.go parses records, spfeval.go is check_host
//     (CheckSPF).
//   - DMARC (RFC 7489): policy discovery with the organizational domain
//     from the public suffix list, alignment, p/sp/pct (CheckDMARC):
//     dmarc.go, with go-msgauth/dmarc's record parser.
//   - Authentication-Results (RFC 8601): formatting and the removal of
//     fields that claim the box's own authserv-id: authres.go.
package mailauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// DKIM key algorithms.
const (
	AlgRSA     = "rsa"
	AlgEd25519 = "ed25519"
)

// DefaultSelector is the selector of a domain's first key, as the seed
// document's "mail._domainkey" record.
const DefaultSelector = "mail"

// NewDKIMKey generates a signing key (RSA 2048 or Ed25519) and returns
// it as PKCS#8 PEM.
func NewDKIMKey(alg string) (string, error) {
	var key any
	var err error
	switch alg {
	case AlgRSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case AlgEd25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return "", fmt.Errorf("unknown DKIM algorithm %q", alg)
	}
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// ParseDKIMKey parses a PEM key made by NewDKIMKey.
func ParseDKIMKey(privPEM string) (crypto.Signer, error) {
	b, _ := pem.Decode([]byte(privPEM))
	if b == nil {
		return nil, errors.New("DKIM key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("DKIM key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("DKIM key: unsupported key type %T", k)
}

// DKIMRecord returns the TXT record value to publish at
// SELECTOR._domainkey.DOMAIN for a private key: "v=DKIM1; k=rsa; p=...".
func DKIMRecord(privPEM string) (string, error) {
	k, err := ParseDKIMKey(privPEM)
	if err != nil {
		return "", err
	}
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", errors.New("DKIM key: unsupported public key")
}
