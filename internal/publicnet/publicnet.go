// Package publicnet is how the box fetches URLs that strangers choose: the
// remote image a message links to, a mailing list's one-click unsubscribe
// address, a domain's MTA-STS policy. Addr says which addresses count as
// the public internet; Client is an HTTP client that connects only to
// those, checked on the address actually dialled after name resolution
// (a name that resolves to 127.0.0.1 is refused like 127.0.0.1, and
// nothing can re-resolve between the check and the connection), with no
// environment proxy, no keep-alive, a header cap and a time cap.
//
// It is not the SMTP client: delivery chooses mail routes (MX, smarthost,
// DANE) itself, and only asks Addr whether a next hop is public.
package publicnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// blocked are the ranges refused beyond netip's own classes (loopback,
// private, link-local, multicast, unspecified).
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network" (RFC 791)
		"100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and broadcast
		"::/96",           // IPv4-compatible (deprecated)
		"fec0::/10",       // site-local (deprecated)
		"64:ff9b:1::/48",  // local-use NAT64
		"2002::/16",       // 6to4: embeds an IPv4 address
		"2001::/32",       // Teredo
		"2001:db8::/32",   // documentation
		"100::/64",        // discard-only
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses lead to
// the IPv4 address in their last four bytes, which is what Addr judges.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Addr reports whether a is on the public internet: not unspecified,
// loopback, private (RFC 1918, RFC 4193), link-local, multicast, nor one
// of the reserved and documentation ranges, also when written as an
// IPv4-mapped or NAT64 IPv6 address.
func Addr(a netip.Addr) bool {
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// ErrNotPublic is a host with no address the client may connect to.
var ErrNotPublic = errors.New("no public address")

// Options configure a Client. The zero value is the production setting
// but for the redirect policy, which every caller states.
type Options struct {
	// Lookup resolves a host name; nil: net.DefaultResolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// Allow lets an otherwise refused address and port be dialled (tests
	// allow their own loopback listener); nil: none.
	Allow func(netip.AddrPort) bool
	// Port, when not 0, is dialled whatever the URL's port (a test hook:
	// an MTA-STS policy server on a free loopback port).
	Port int
	// Timeout caps a whole request, body included; 0: 10 s.
	Timeout time.Duration
	// DialTimeout caps one connection attempt; 0: Timeout.
	DialTimeout time.Duration
	// TLS is the client's TLS config (tests add their root); nil: the
	// system roots.
	TLS *tls.Config
	// MaxHeaderBytes caps the response header; 0: 64 KiB.
	MaxHeaderBytes int64
	// CheckRedirect is http.Client's; nil: redirects are refused.
	CheckRedirect func(req *http.Request, via []*http.Request) error
}

// errRedirect is the default redirect policy's refusal.
var errRedirect = errors.New("redirect refused")

// Client returns an HTTP client that reaches public addresses only. A
// caller still caps what it reads of a body (io.LimitReader).
func Client(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = o.Timeout
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.Lookup == nil {
		o.Lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if o.CheckRedirect == nil {
		o.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	}
	d := &dialer{o: o}
	tr := &http.Transport{
		Proxy:                  nil, // never an environment proxy
		DialContext:            d.dial,
		TLSClientConfig:        o.TLS,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: o.MaxHeaderBytes,
		DisableKeepAlives:      true,
	}
	return &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: o.CheckRedirect}
}

// dialer resolves, keeps the permitted addresses and connects to the
// first that answers: the checked address itself.
type dialer struct{ o Options }

func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", portText, err)
	}
	if d.o.Port != 0 {
		port = uint64(d.o.Port)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = d.o.Lookup(ctx, host); err != nil {
		return nil, err
	}
	// IPv4 first: many small networks have IPv6 that goes nowhere.
	ips = slices.Clone(ips)
	slices.SortStableFunc(ips, func(a, b netip.Addr) int {
		switch {
		case a.Unmap().Is4() == b.Unmap().Is4():
			return 0
		case a.Unmap().Is4():
			return -1
		}
		return 1
	})
	nd := net.Dialer{Timeout: d.o.DialTimeout}
	last := fmt.Errorf("%s: %w", host, ErrNotPublic)
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(port))
		if !Addr(ip) && (d.o.Allow == nil || !d.o.Allow(ap)) {
			continue
		}
		c, err := nd.DialContext(ctx, "tcp", ap.String())
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}
