// Package resolver is boxmail's one seam for DNS: every lookup of MX, TXT,
// A/AAAA, PTR, NS and TLSA records goes through the Resolver interface, so
// SPF, DKIM, DMARC, MX routing and the DNS status checks can be tested
// against an in-memory Fake or a DNS server the test starts, never the
// internet.
//
// Net is the production implementation: a stub resolver (miekg/dns) that
// asks configured recursive servers (default: the nameservers of
// /etc/resolv.conf) over UDP with EDNS0, retrying over TCP when an answer
// is truncated.
//
// The AD bit (Answer.Authentic, what DANE relies on) is believed only
// from a server on loopback (a validating resolver on the box itself) or
// one named in Net.TrustedAD: a remote resolver's AD bit crosses the
// network unprotected (RFC 6698 4.1, RFC 7672 2.1.1), so anyone on the
// path could set it.
//
// Errors distinguish "the name or record does not exist" (IsNotFound:
// NXDOMAIN, or NODATA in the typed helpers) from temporary failures
// (IsTemporary: SERVFAIL, timeouts, network errors), because mail
// standards treat them differently (permerror/none vs temperror).
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver answers DNS questions.
type Resolver interface {
	// Lookup asks for records of qtype (dns.TypeMX, ...) at name. A name
	// that exists without such records (NODATA) is an Answer with no
	// matching records and a nil error; NXDOMAIN is an *Error with
	// NotFound set.
	Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error)
}

// Answer is the answer section of a response.
type Answer struct {
	Records []dns.RR
	// Authentic is the AD bit: the upstream resolver validated DNSSEC.
	Authentic bool
}

// Error is a failed lookup.
type Error struct {
	Name      string
	Type      string
	NotFound  bool // NXDOMAIN
	Temporary bool // SERVFAIL, timeout, network
	Err       error
}

func (e *Error) Error() string {
	switch {
	case e.NotFound:
		return fmt.Sprintf("lookup %s %s: no such domain", e.Type, e.Name)
	case e.Err != nil:
		return fmt.Sprintf("lookup %s %s: %v", e.Type, e.Name, e.Err)
	}
	return fmt.Sprintf("lookup %s %s: failed", e.Type, e.Name)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNoRecords is returned by the typed helpers for NODATA.
var ErrNoRecords = errors.New("no records of that type")

// IsNotFound reports whether err means the records do not exist
// (NXDOMAIN or NODATA).
func IsNotFound(err error) bool {
	var e *Error
	return errors.Is(err, ErrNoRecords) || errors.As(err, &e) && e.NotFound
}

// IsTemporary reports whether err is a temporary failure worth retrying.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary
}

// Fqdn returns name lower-cased with a trailing dot.
func Fqdn(name string) string { return dns.Fqdn(strings.ToLower(name)) }

// MX is a mail exchanger.
type MX struct {
	Host string // without trailing dot
	Pref uint16
}

func records[T dns.RR](ctx context.Context, r Resolver, name string, qtype uint16) ([]T, bool, error) {
	a, err := r.Lookup(ctx, Fqdn(name), qtype)
	if err != nil {
		return nil, false, err
	}
	var out []T
	for _, rr := range a.Records {
		if t, ok := rr.(T); ok {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, a.Authentic, fmt.Errorf("lookup %s %s: %w", dns.TypeToString[qtype], name, ErrNoRecords)
	}
	return out, a.Authentic, nil
}

// LookupMX returns the MX records of name, unsorted.
func LookupMX(ctx context.Context, r Resolver, name string) ([]MX, error) {
	rrs, _, err := records[*dns.MX](ctx, r, name, dns.TypeMX)
	var out []MX
	for _, rr := range rrs {
		out = append(out, MX{Host: strings.TrimSuffix(strings.ToLower(rr.Mx), "."), Pref: rr.Preference})
	}
	return out, err
}

// LookupTXT returns each TXT record of name with its strings joined.
func LookupTXT(ctx context.Context, r Resolver, name string) ([]string, error) {
	rrs, _, err := records[*dns.TXT](ctx, r, name, dns.TypeTXT)
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.Txt, ""))
	}
	return out, err
}

// LookupIP returns the IPv4 and IPv6 addresses of name. It fails only if
// both lookups fail; NotFound only if neither has records.
func LookupIP(ctx context.Context, r Resolver, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	a, _, err4 := records[*dns.A](ctx, r, name, dns.TypeA)
	for _, rr := range a {
		if ip, ok := netip.AddrFromSlice(rr.A.To4()); ok {
			out = append(out, ip)
		}
	}
	aaaa, _, err6 := records[*dns.AAAA](ctx, r, name, dns.TypeAAAA)
	for _, rr := range aaaa {
		if ip, ok := netip.AddrFromSlice(rr.AAAA); ok {
			out = append(out, ip)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if IsNotFound(err4) && IsNotFound(err6) {
		return nil, err4
	}
	if err4 != nil && !IsNotFound(err4) {
		return nil, err4
	}
	return nil, err6
}

// LookupPTR returns the names of an address (reverse DNS), without
// trailing dots.
func LookupPTR(ctx context.Context, r Resolver, ip netip.Addr) ([]string, error) {
	arpa, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return nil, err
	}
	rrs, _, err := records[*dns.PTR](ctx, r, arpa, dns.TypePTR)
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.TrimSuffix(strings.ToLower(rr.Ptr), "."))
	}
	return out, err
}

// LookupNS returns the name servers of a zone, without trailing dots.
func LookupNS(ctx context.Context, r Resolver, name string) ([]string, error) {
	rrs, _, err := records[*dns.NS](ctx, r, name, dns.TypeNS)
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.TrimSuffix(strings.ToLower(rr.Ns), "."))
	}
	return out, err
}

// LookupTLSA returns the TLSA records for a service (DANE) and whether
// they were DNSSEC-validated.
func LookupTLSA(ctx context.Context, r Resolver, port int, proto, host string) ([]*dns.TLSA, bool, error) {
	return records[*dns.TLSA](ctx, r, fmt.Sprintf("_%d._%s.%s", port, proto, host), dns.TypeTLSA)
}

// Net asks recursive DNS servers.
type Net struct {
	// Servers are "host:port" addresses, tried in order.
	Servers []string
	// Timeout per query attempt (default 5s).
	Timeout time.Duration
	// TrustedAD are the servers, besides those on loopback, whose AD bit
	// (DNSSEC validated) is believed; any other's answers are never
	// Authentic.
	TrustedAD []netip.Addr
}

// trustsAD reports whether the AD bit of srv ("host:port") is believed.
func (n *Net) trustsAD(srv string) bool {
	host, _, err := net.SplitHostPort(srv)
	if err != nil {
		host = srv
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || slices.Contains(n.TrustedAD, ip)
}

// System returns a Net using the nameservers of /etc/resolv.conf (or
// 127.0.0.1:53 when it cannot be read).
func System() *Net {
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(conf.Servers) == 0 {
		return &Net{Servers: []string{"127.0.0.1:53"}}
	}
	n := &Net{}
	for _, s := range conf.Servers {
		n.Servers = append(n.Servers, net.JoinHostPort(s, conf.Port))
	}
	return n
}

// Servers is the one rule for which DNS servers the box asks: the given
// ones (the config's resolvers), else the system's.
func Servers(servers []string) *Net {
	if len(servers) > 0 {
		return &Net{Servers: slices.Clone(servers)}
	}
	return System()
}

var _ Resolver = (*Net)(nil)

// Lookup implements Resolver.
func (n *Net) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	timeout := n.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	m := new(dns.Msg)
	m.SetQuestion(Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(4096, false)
	m.AuthenticatedData = true
	tname := dns.TypeToString[qtype]
	var lastErr error
	for _, srv := range n.Servers {
		for _, proto := range []string{"udp", "tcp"} {
			c := &dns.Client{Net: proto, Timeout: timeout}
			resp, _, err := c.ExchangeContext(ctx, m, srv)
			if err != nil {
				lastErr = err
				break // next server
			}
			if resp.Truncated && proto == "udp" {
				continue // retry over TCP
			}
			switch resp.Rcode {
			case dns.RcodeSuccess:
				return &Answer{Records: resp.Answer, Authentic: resp.AuthenticatedData && n.trustsAD(srv)}, nil
			case dns.RcodeNameError:
				return nil, &Error{Name: name, Type: tname, NotFound: true}
			default:
				lastErr = fmt.Errorf("server %s answered %s", srv, dns.RcodeToString[resp.Rcode])
			}
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no DNS servers configured")
	}
	return nil, &Error{Name: name, Type: tname, Temporary: true, Err: lastErr}
}
