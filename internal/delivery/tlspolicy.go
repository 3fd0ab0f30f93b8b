package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/mailmsg"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// The TLS policy of outbound delivery, per recipient domain and MX host:
// DANE (RFC 7672, dane.go) when the host has TLSA records in a signed
// zone, else the domain's MTA-STS policy (RFC 8461, mtasts.go), else
// opportunistic TLS. A policy failure defers the message (it never falls
// back to plaintext) and, after the queue lifetime, bounces with the
// reason. A REQUIRETLS message (RFC 8689) goes only to a next hop that
// DANE or MTA-STS authenticates, over a connection whose certificate was
// verified, to a server that offers REQUIRETLS, or bounces at once
// (requireTLSRefusal). A message whose header says "TLS-Required: No",
// submitted by one of the box's users, is delivered with opportunistic
// TLS where the policy would defer it (RFC 8689 5; its queue entry is
// marked at commit, store.MarkTLSOptional). Every session's
// outcome is counted per day for TLS-RPT (RFC 8460,
// store/tlspolicy.go). Mail through a smarthost or a transports entry
// follows the admin's setting instead.

// tlsMode is the kind of policy that applies to a connection.
type tlsMode uint8

const (
	tlsOpportunistic tlsMode = iota
	tlsDANE
	tlsSTSEnforce
	tlsSTSTesting
)

// tlsPolicy is what a connection to one MX host requires of TLS.
type tlsPolicy struct {
	mode    tlsMode
	domain  string // the recipient domain
	host    string // the MX host name
	tlsa    []*dns.TLSA
	sts     *stsPolicy
	require bool  // no delivery without TLS
	verify  bool  // a certificate that fails verification fails the handshake
	err     error // the policy refuses this host outright
}

// decideTLS is the policy of a connection to host for domain, from the
// host's TLSA records (secure: DNSSEC-validated) and the domain's MTA-STS
// policy (nil: none).
func decideTLS(domain, host string, tlsa []*dns.TLSA, secure bool, sts *stsPolicy) tlsPolicy {
	p := tlsPolicy{domain: domain, host: host}
	if secure && len(tlsa) > 0 {
		// RFC 7672 2.2: TLS is required; with no usable record it is
		// used unauthenticated.
		p.mode, p.require = tlsDANE, true
		p.tlsa = usableTLSA(tlsa)
		p.verify = len(p.tlsa) > 0
		return p
	}
	if sts == nil {
		return p
	}
	p.sts = sts
	switch sts.Mode {
	case "enforce":
		p.mode, p.require, p.verify = tlsSTSEnforce, true, true
		if !sts.matchMX(host) {
			p.err = &policyError{result: "validation-failure",
				msg: fmt.Sprintf("451 4.7.5 MTA-STS policy of %s does not list the MX host %s (it lists %s)", domain, host, strings.Join(sts.MX, ", "))}
		}
	case "testing":
		p.mode = tlsSTSTesting
	}
	return p
}

// name is how messages name the policy.
func (p tlsPolicy) name() string {
	switch p.mode {
	case tlsDANE:
		return "DANE (the TLSA records of " + p.host + ")"
	case tlsSTSEnforce, tlsSTSTesting:
		return "MTA-STS policy of " + p.domain
	}
	return "TLS policy of " + p.domain
}

// reportType is the TLS-RPT policy-type.
func (p tlsPolicy) reportType() (kind, text string) {
	switch p.mode {
	case tlsDANE:
		return "tlsa", tlsaString(p.tlsa)
	case tlsSTSEnforce, tlsSTSTesting:
		return "sts", p.sts.Text
	}
	return "no-policy-found", ""
}

// policyError is a delivery the TLS policy refused: the reply-like text
// a DSN quotes, and the RFC 8460 result type.
type policyError struct {
	msg    string
	result string
}

func (e *policyError) Error() string { return e.msg }

// tlsCheck verifies one connection's certificate during the handshake
// and keeps the outcome.
type tlsCheck struct {
	p        tlsPolicy
	roots    *x509.CertPool // nil: the system's
	verified bool           // valid for the host (DANE match or WebPKI)
	failure  string         // RFC 8460 result type when not verified
	detail   string
}

// verifyConnection is the tls.Config.VerifyConnection of outbound
// STARTTLS: a failure ends the handshake only when the policy verifies.
func (c *tlsCheck) verifyConnection(cs tls.ConnectionState) error {
	var err error
	if c.p.mode == tlsDANE && len(c.p.tlsa) > 0 {
		err = verifyDANE(cs.PeerCertificates, c.p.tlsa, c.p.host, time.Now())
	} else {
		err = verifyPKIX(cs.PeerCertificates, c.p.host, c.roots)
	}
	if err == nil {
		c.verified = true
		return nil
	}
	c.failure, c.detail = describeCertError(err, c.p.host)
	if c.p.verify {
		return &policyError{result: c.failure, msg: fmt.Sprintf("451 4.7.5 %s requires TLS; %s", c.p.name(), c.detail)}
	}
	return nil
}

// verifyPKIX checks the chain (leaf first) for host against roots.
func verifyPKIX(chain []*x509.Certificate, host string, roots *x509.CertPool) error {
	if len(chain) == 0 {
		return errors.New("no certificate offered")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}

// describeCertError returns the RFC 8460 result type of a failed
// verification and words for a DSN.
func describeCertError(err error, host string) (result, detail string) {
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	var ue x509.UnknownAuthorityError
	switch {
	case errors.As(err, &he):
		names := he.Certificate.DNSNames
		if len(names) == 0 {
			names = []string{he.Certificate.Subject.CommonName}
		}
		return "certificate-host-mismatch", fmt.Sprintf("%s offered a certificate for %s", host, strings.Join(names, ", "))
	case errors.As(err, &ce) && ce.Reason == x509.Expired:
		return "certificate-expired", host + " offered an expired (or not yet valid) certificate"
	case errors.As(err, &ue):
		return "certificate-not-trusted", host + " offered a certificate no trusted authority signed"
	case errors.Is(err, errDANEMismatch):
		return "validation-failure", host + " offered a certificate that none of its TLSA records matches"
	}
	return "validation-failure", fmt.Sprintf("%s offered a certificate that failed verification: %s", host, err.Error())
}

// noTLSError is the refusal of a host without STARTTLS where TLS is
// required.
func (p tlsPolicy) noTLSError(host string) error {
	return &policyError{result: "starttls-not-supported", msg: fmt.Sprintf("451 4.7.5 %s requires TLS; %s does not offer STARTTLS", p.name(), host)}
}

// policyFor decides the policy of a connection to t (a host found in
// DNS) for domain under the domain's MTA-STS lookup.
func (q *Queue) policyFor(ctx context.Context, domain string, t target, sts *stsPolicy) tlsPolicy {
	if !t.fromDNS || q.o.Resolver == nil {
		return tlsPolicy{domain: domain, host: t.name}
	}
	port := q.o.Port
	if _, ps, err := net.SplitHostPort(t.addr); err == nil {
		if n, err := strconv.Atoi(ps); err == nil {
			port = n
		}
	}
	rrs, secure, err := resolver.LookupTLSA(ctx, q.o.Resolver, port, "tcp", t.name)
	if err != nil && !resolver.IsNotFound(err) {
		// RFC 7672 2.2: a failed TLSA lookup for a host in a signed zone
		// may be an attacker's; such a host is not tried.
		if a, aerr := q.o.Resolver.Lookup(ctx, t.name, dns.TypeA); aerr == nil && a.Authentic {
			p := tlsPolicy{mode: tlsDANE, domain: domain, host: t.name, require: true, verify: true}
			p.err = &policyError{result: "dnssec-invalid", msg: fmt.Sprintf("451 4.7.5 the TLSA lookup of %s (a signed zone) failed: %s", t.name, err.Error())}
			return p
		}
	}
	return decideTLS(domain, t.name, rrs, secure && err == nil, sts)
}

// noteTLS counts the outcome of one session for TLS-RPT: a policy
// refusal, or the TLS state of the connection made.
func (q *Queue) noteTLS(ctx context.Context, p tlsPolicy, host string, c *smtpClient, err error) {
	kind, text := p.reportType()
	r := store.TLSResult{Domain: p.domain, PolicyType: kind, Policy: text, MXHost: host}
	var pe *policyError
	switch {
	case errors.As(err, &pe):
		r.Result, r.Detail = pe.result, pe.msg
	case c == nil:
		return // the host was not reached: no TLS session to report
	case !c.tls:
		r.Result, r.Detail = "starttls-not-supported", host+" does not offer STARTTLS"
	case c.check != nil && c.check.failure != "" && p.mode != tlsOpportunistic:
		r.Result, r.Detail = c.check.failure, c.check.detail
	default:
		r.Result = "success"
	}
	if r.Result != "success" && p.mode == tlsSTSTesting {
		q.log.Warn("MTA-STS policy (testing) not met, delivering anyway", "domain", p.domain, "host", host, "result", r.Result, "detail", r.Detail)
	}
	if err := q.d.st.AddTLSResult(ctx, q.o.now(), r); err != nil {
		q.log.Error("recording a TLS result", "domain", p.domain, "err", err)
	}
}

// noteSTSFailure counts a failed policy fetch for TLS-RPT.
func (q *Queue) noteSTSFailure(ctx context.Context, domain string, l stsLookup) {
	if l.failure == "" {
		return
	}
	r := store.TLSResult{Domain: domain, PolicyType: "sts", Result: l.failure, Detail: l.detail}
	if err := q.d.st.AddTLSResult(ctx, q.o.now(), r); err != nil {
		q.log.Error("recording a TLS result", "domain", domain, "err", err)
	}
}

// requireTLSRefusal is why a REQUIRETLS message may not go over c to
// host, or "" when it may (RFC 8689 4.2.1): the next hop must be
// authenticated as a mail server of the domain (its TLSA records in a
// signed zone, or the domain's MTA-STS policy listing it, in whatever
// mode: 4.2.1 step 2; or the admin's smarthost), its certificate must
// have been verified, and it must offer REQUIRETLS so that the
// requirement travels on. The refusal is a bounce (5.7.30).
func requireTLSRefusal(p tlsPolicy, host string, c *smtpClient, smarthost bool) string {
	why := ""
	switch {
	case !c.tls:
		why = host + " does not offer STARTTLS"
	case c.check == nil || !c.check.verified:
		why = host + "'s certificate could not be verified"
		if c.check != nil && c.check.detail != "" {
			why = c.check.detail
		}
	case !smarthost && p.mode == tlsOpportunistic:
		why = fmt.Sprintf("neither DANE (TLSA records in a signed zone) nor an MTA-STS policy of %s names %s as its mail server", p.domain, host)
	case !smarthost && (p.mode == tlsSTSTesting || p.mode == tlsSTSEnforce) && !p.sts.matchMX(host):
		why = fmt.Sprintf("the MTA-STS policy of %s does not list %s", p.domain, host)
	case !c.has("REQUIRETLS"):
		why = host + " does not offer REQUIRETLS, so the requirement could not travel on"
	default:
		return ""
	}
	return fmt.Sprintf("550 5.7.30 REQUIRETLS: the sender asked for a verified TLS connection all the way; %s", why)
}

// tlsRequiredNo tells whether the message's header says "TLS-Required:
// No" (RFC 8689 5): its sender asks that the recipient domain's TLS
// policy (DANE, MTA-STS) not stop its delivery.
func tlsRequiredNo(data []byte) bool {
	f, ok := mailmsg.Lookup(data, "TLS-Required")
	return ok && strings.EqualFold(strings.TrimSpace(string(mailmsg.Unfold(f.Value))), "no")
}
