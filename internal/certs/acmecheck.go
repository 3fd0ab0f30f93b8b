package certs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"boxmail/internal/dnsrecords"
)

// Checks is what 'boxmail status' shows of the certificates: with ACME
// off, Check; with it on, one line per name (names: the names the box
// holds certificates for) with its names, issuer, expiry, the challenge
// that got it and its next renewal, unless a pair installed by hand is
// served instead.
func (m *Manager) Checks(names []string) []dnsrecords.Result {
	if m.o.ACMEDir == "" {
		return m.Check()
	}
	if chain := readChain(m.o.CertFile); len(chain) > 0 && !isGenerated(chain[0]) {
		return append(m.Check(), dnsrecords.Result{Level: dnsrecords.OK, Subject: m.o.Hostname, Check: "ACME",
			Found: "not used: the certificate installed by hand in " + m.o.CertFile + " is served instead",
			Fix:   ""})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, err := readStatus(ctx, m.acmeStorage())
	var out []dnsrecords.Result
	if err != nil {
		out = append(out, dnsrecords.Result{Level: dnsrecords.Warn, Subject: m.o.Hostname, Check: "ACME", Found: "cannot read the ACME status: " + err.Error()})
	}
	for _, n := range names {
		out = append(out, m.checkName(n, status[n]))
	}
	return out
}

// checkName is the status line of one name's ACME certificate.
func (m *Manager) checkName(name string, s nameStatus) dnsrecords.Result {
	r := dnsrecords.Result{Subject: name, Check: "TLS certificate (ACME)"}
	leaf := m.storedLeaf(name)
	if leaf == nil {
		r.Level, r.Found = dnsrecords.Warn, "no certificate from "+m.o.ACMECA+" yet: the self-signed one is served"
		r.Fix = "wait a minute; the box asks the CA in the background"
		if s.Error != "" {
			r.Found += fmt.Sprintf("; the last attempt (%s) failed: %s", s.FailedAt.Format(time.DateTime), s.Error)
			r.Fix = "publish the box's NS records (DNS-01), or serve port 80 or 443 to the CA; 'boxmail status' explains each record"
		}
		return r
	}
	now := m.o.Now()
	left := leaf.NotAfter.Sub(now)
	exp := leaf.NotAfter.UTC().Format(time.DateTime)
	renew := leaf.NotBefore.Add(time.Duration(float64(leaf.NotAfter.Sub(leaf.NotBefore)) * (1 - renewRatio)))
	next := renew.UTC().Format(time.DateTime)
	if !renew.After(now) {
		next = "due now"
	}
	challenge := s.Challenge
	if challenge == "" {
		challenge = "unknown"
	}
	issuer := leaf.Issuer.CommonName
	if issuer == "" {
		issuer = leaf.Issuer.String()
	}
	r.Found = fmt.Sprintf("%s; issuer %s; expires %s; challenge %s; next renewal %s", strings.Join(leaf.DNSNames, ", "), issuer, exp, challenge, next)
	failed := s.Error != "" && s.FailedAt.After(s.Obtained)
	switch {
	case left <= 0:
		r.Level, r.Fix = dnsrecords.Fail, "the certificate expired; check the reason below and that the CA can reach the box"
	case left < failLeft:
		r.Level, r.Fix = dnsrecords.Fail, fmt.Sprintf("%d days left: renew it now (restart the box, or install one with 'boxmail tls install')", int(left.Hours()/24))
	case left < warnLeft:
		r.Level, r.Fix = dnsrecords.Warn, fmt.Sprintf("%d days left and not renewed yet", int(left.Hours()/24))
	case failed:
		r.Level, r.Fix = dnsrecords.Warn, "the old certificate is served until it is renewed; renewal is retried"
	default:
		r.Level = dnsrecords.OK
	}
	if failed {
		r.Found += fmt.Sprintf("; renewal failed at %s: %s", s.FailedAt.Format(time.DateTime), s.Error)
	}
	return r
}
