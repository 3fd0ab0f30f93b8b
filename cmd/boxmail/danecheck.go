package main

// The DANE status line: the TLSA records of _25._tcp.HOSTNAME as the
// world's resolvers see them, against the key the box serves on port 25
// (asked with STARTTLS, or the certificate in the files when the box
// does not answer), and a staged key change in progress (certs next.go).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
)

// daneCheck is the status line "HOSTNAME DANE".
func daneCheck(ctx context.Context, cfg config.Config, r resolver.Resolver, cm *certs.Manager, in dnsrecords.Input, timeout time.Duration) dnsrecords.Result {
	host := strings.ToLower(strings.TrimSuffix(cfg.Hostname, "."))
	res := dnsrecords.Result{Subject: host, Check: "DANE"}
	owner := "_25._tcp." + host
	leaf, where := servedOn25(cfg, timeout)
	if leaf == nil {
		leaf, _ = cm.Leaf()
		where = "the certificate in the files (port 25 did not answer)"
	}
	if leaf == nil {
		res.Level, res.Found = dnsrecords.Warn, "no certificate to check"
		return res
	}
	served := dnsrecords.TLSAValue(leaf)
	rrs, secure, err := resolver.LookupTLSA(ctx, r, 25, "tcp", host)
	var found []string
	for _, rr := range rrs {
		found = append(found, fmt.Sprintf("%d %d %d %s", rr.Usage, rr.Selector, rr.MatchingType, strings.ToLower(rr.Certificate)))
	}
	switch {
	case err != nil && !resolver.IsNotFound(err):
		res.Level, res.Found = dnsrecords.Warn, "could not check the TLSA records at "+owner+": "+err.Error()
	case len(found) == 0:
		res.Level, res.Found = dnsrecords.Warn, "no TLSA record at "+owner+": senders that validate DNSSEC cannot check the box's key"
		res.Fix = "add " + owner + ". TLSA " + served + " (the box's own DNS serves it: delegate the zone to the box, or add it at your DNS host)"
	case !slices.Contains(found, served):
		res.Level, res.Found = dnsrecords.Fail, fmt.Sprintf("the TLSA records at %s (%s) do not match the key served on port 25 (%s): DANE senders defer mail to the box", owner, strings.Join(found, ", "), served)
		res.Fix = "publish " + owner + ". TLSA " + served + " (and remove the stale records)"
	default:
		res.Level = dnsrecords.OK
		res.Found = fmt.Sprintf("%s TLSA %s matches %s", owner, served, where)
		if !secure {
			res.Level = dnsrecords.Warn
			res.Found += "; but the answer is not DNSSEC-validated, so senders ignore it"
			res.Fix = "sign the zone (the box's DNS does) and give the registrar its DS record, and use a validating resolver"
		}
	}
	nextLine(cm, in, found, &res)
	return res
}

// nextLine adds a staged key change to the DANE line.
func nextLine(cm *certs.Manager, in dnsrecords.Input, found []string, res *dnsrecords.Result) {
	n, err := cm.ReadNext()
	if err != nil {
		return
	}
	due, at := n.SwitchDue(time.Now())
	switch {
	case at.IsZero():
		res.Found += "; a new key is staged (TLSA " + n.TLSA + "), not published yet: start the box"
	case due:
		res.Found += "; the staged new key's TLSA has been published for two TTLs: the box serves it at its next DNS poll"
	default:
		res.Found += fmt.Sprintf("; key change in progress: the next key's TLSA %s is published beside the current one since %s, the box serves the new key from %s",
			n.TLSA, n.Published.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	if len(found) > 0 && !slices.Contains(found, n.TLSA) && slices.Contains(in.TLSA, n.TLSA) {
		res.Found += " (the resolver does not show it yet)"
	}
}

// servedOn25 returns the certificate the box offers with STARTTLS on
// its SMTP port, and where it was found; nil when it does not answer.
func servedOn25(cfg config.Config, timeout time.Duration) (*x509.Certificate, string) {
	if cfg.SMTPPort == 0 {
		return nil, ""
	}
	host := cfg.Listen
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(cfg.SMTPPort))
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, ""
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		_ = conn.Close() // a probe: the deadline failing ends it
		return nil, ""
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true, ServerName: cfg.Hostname})
	if err != nil {
		_ = conn.Close() // a probe: no STARTTLS, no answer
		return nil, ""
	}
	defer func() { _ = c.Close() }() // a probe: nothing was sent
	if err := c.Noop(); err != nil { // the handshake is done by then
		return nil, ""
	}
	cs, ok := c.TLSConnectionState()
	if !ok || len(cs.PeerCertificates) == 0 {
		return nil, ""
	}
	return cs.PeerCertificates[0], "the key served on port 25 (" + addr + ")"
}
