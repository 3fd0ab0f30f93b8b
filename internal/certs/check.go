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
	var chain []*x509.Certificate
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		if b.Type == "CERTIFICATE" {
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				chain = append(chain, c)
			}
		}
	}
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
	case left < 14*24*time.Hour:
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

// Trusted tells whether the cert file passes Check: clients trust it for
// the hostname (the box then publishes MTA-STS mode enforce).
func (m *Manager) Trusted() bool {
	r := m.Check()
	return len(r) > 0 && r[0].Level == dnsrecords.OK
}
