package certs

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"boxmail/internal/dnsrecords"
)

// Check reads the cert file and tells whether it is valid for the
// hostname, not expiring within 14 days, and issued by a CA clients
// trust: one result, in the form of 'boxmail status'.
func (m *Manager) Check() []dnsrecords.Result {
	host := m.o.Hostname
	res := func(l dnsrecords.Level, found, fix string) []dnsrecords.Result {
		return []dnsrecords.Result{{Level: l, Subject: host, Check: "TLS certificate", Found: found, Fix: fix}}
	}
	p := m.o.CertFile
	data, err := os.ReadFile(p)
	if err != nil {
		return res(dnsrecords.Fail, "cannot read "+p+": "+err.Error(), "point tls_cert in boxmail.conf at the certificate file")
	}
	chain := parseChain(data)
	if len(chain) == 0 {
		return res(dnsrecords.Fail, p+" holds no certificate", "point tls_cert in boxmail.conf at a PEM certificate chain")
	}
	leaf := chain[0]
	if err := leaf.VerifyHostname(host); err != nil {
		return res(dnsrecords.Fail, "the certificate is not valid for "+host+" (it names "+strings.Join(leaf.DNSNames, ", ")+")", "get a certificate for "+host)
	}
	left := leaf.NotAfter.Sub(m.o.Now())
	exp := leaf.NotAfter.UTC().Format("2006-01-02")
	switch {
	case left <= 0:
		return res(dnsrecords.Fail, "the certificate expired on "+exp, "renew it now")
	case left < failLeft:
		return res(dnsrecords.Fail, fmt.Sprintf("the certificate expires on %s, in %d days", exp, int(left.Hours()/24)), "renew it now")
	case left < warnLeft:
		return res(dnsrecords.Warn, fmt.Sprintf("the certificate expires on %s, in %d days", exp, int(left.Hours()/24)), "renew it")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter, CurrentTime: m.o.Now()}); err != nil {
		return res(dnsrecords.Warn, "valid for "+host+" until "+exp+", but not trusted by clients ("+err.Error()+"): self-signed?", "replace it by a certificate from a public CA (tls_cert, tls_key in boxmail.conf)")
	}
	return res(dnsrecords.OK, "valid for "+host+" until "+exp, "")
}

// Trusted tells whether the hostname's certificate is one clients can
// trust: the cert file passes Check, or it is the self-signed fallback
// and ACME holds a valid certificate for the hostname (the box then
// publishes MTA-STS mode enforce).
func (m *Manager) Trusted() bool {
	if r := m.Check(); len(r) > 0 && r[0].Level == dnsrecords.OK {
		return true
	}
	if m.o.ACMEDir == "" {
		return false
	}
	if chain := readChain(m.o.CertFile); len(chain) > 0 && !isGenerated(chain[0]) {
		return false // installed by hand, and not trusted
	}
	leaf := m.storedLeaf(m.o.Hostname)
	now := m.o.Now()
	return leaf != nil && now.Before(leaf.NotAfter) && now.After(leaf.NotBefore)
}

// The days left at which 'boxmail status' warns and fails.
const (
	warnLeft = 14 * 24 * time.Hour
	failLeft = 3 * 24 * time.Hour
)

// parseChain returns the certificates of PEM data, in order.
func parseChain(data []byte) []*x509.Certificate {
	var chain []*x509.Certificate
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		if b.Type == "CERTIFICATE" {
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				chain = append(chain, c)
			}
		}
	}
	return chain
}

// readChain reads a PEM chain file (nil: unreadable or no certificate).
func readChain(path string) []*x509.Certificate {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return parseChain(data)
}
