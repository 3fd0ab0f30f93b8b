package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// target is one address to try for a domain.
type target struct {
	addr      string // ip:port
	name      string // MX host name (TLS server name, logs)
	smarthost *Smarthost
	fromDNS   bool // found through MX/A records: the TLS policies apply (tlspolicy.go)
}

// routeError is a failure to find where a domain's mail goes.
type routeError struct {
	permanent bool
	msg       string
}

func (e *routeError) Error() string { return e.msg }

// route finds the addresses to try for a domain, in order (RFC 5321 5.1):
// MX records by preference, equal preferences shuffled; the domain's own
// address when it has no MX; nothing for a null MX (RFC 7505).
//
// Addresses found in DNS that are not public (publicNextHop: loopback,
// private, link-local...) are skipped: whoever controls a domain's zone
// could otherwise make the box connect to services on its own host or
// LAN. A destination reached only through them bounces with 5.4.4; the
// admin who means it names the domain in the transports setting, whose
// next hops (like the smarthost's) are taken as written.
func (q *Queue) route(ctx context.Context, domain string) ([]target, error) {
	if sh := q.o.Smarthost; sh != nil {
		return []target{{addr: sh.Addr, name: hostOf(sh.Addr), smarthost: sh}}, nil
	}
	if t, ok := q.o.Transports[domain]; ok {
		return []target{{addr: t, name: hostOf(t)}}, nil
	}
	if t, ok := q.o.Transports["*"]; ok {
		return []target{{addr: t, name: hostOf(t)}}, nil
	}
	if q.o.Resolver == nil {
		return nil, &routeError{msg: "no DNS resolver configured"}
	}
	mxs, err := resolver.LookupMX(ctx, q.o.Resolver, domain)
	var hosts []string
	switch {
	case err == nil:
		if len(mxs) == 1 && (mxs[0].Host == "" || mxs[0].Host == ".") {
			return nil, &routeError{permanent: true, msg: fmt.Sprintf("550 5.1.10 domain %s does not accept mail (null MX)", domain)}
		}
		rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
		slices.SortStableFunc(mxs, func(a, b resolver.MX) int { return int(a.Pref) - int(b.Pref) })
		for _, mx := range mxs {
			hosts = append(hosts, mx.Host)
		}
	case resolver.IsNotFound(err) && !isNXDomain(err):
		hosts = []string{domain} // implicit MX
	case isNXDomain(err):
		return nil, &routeError{permanent: true, msg: fmt.Sprintf("550 5.1.2 domain %s does not exist", domain)}
	default:
		return nil, &routeError{msg: fmt.Sprintf("451 4.4.3 DNS lookup of MX %s failed: %v", domain, err)}
	}
	var out []target
	var lastErr error
	var refused []string
	for _, h := range hosts {
		ips, err := resolver.LookupIP(ctx, q.o.Resolver, h)
		if err != nil {
			lastErr = err
			continue
		}
		for _, ip := range sortIPs(ips) {
			if !q.mayConnect(ip) {
				q.log.Warn("not delivering to a non-public address found in DNS", "domain", domain, "host", h, "addr", ip)
				refused = append(refused, h+"="+ip.String())
				continue
			}
			out = append(out, target{addr: net.JoinHostPort(ip.String(), strconv.Itoa(q.o.Port)), name: h, fromDNS: true})
		}
	}
	if len(out) == 0 && len(refused) > 0 {
		msg := fmt.Sprintf("the mail servers of %s are at private or loopback addresses (%s), where the box does not deliver unless the transports setting names the domain",
			domain, strings.Join(refused[:min(len(refused), 4)], ", "))
		if lastErr != nil { // another host may yet answer with a public address
			return nil, &routeError{msg: fmt.Sprintf("451 4.4.4 %s; other lookups failed: %v", msg, lastErr)}
		}
		return nil, &routeError{permanent: true, msg: "550 5.4.4 " + msg}
	}
	if len(out) == 0 {
		if len(hosts) == 1 && hosts[0] == domain && resolver.IsNotFound(lastErr) {
			return nil, &routeError{permanent: true, msg: fmt.Sprintf("550 5.1.2 domain %s has no MX and no address", domain)}
		}
		return nil, &routeError{msg: fmt.Sprintf("451 4.4.3 no address found for the mail servers of %s: %v", domain, lastErr)}
	}
	return out, nil
}

// nonPublic are the IPv4 ranges that publicNextHop refuses beyond
// netip's own classes: "this network" (RFC 791), shared address space
// (RFC 6598) and the reserved 240/4 with the broadcast address.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),     // IPv4-compatible (deprecated)
	netip.MustParsePrefix("fec0::/10"), // site-local (deprecated)
	netip.MustParsePrefix("100::/64"),  // discard-only
}

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses lead to
// the IPv4 address in their last four bytes.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// publicNextHop reports whether ip, found in DNS, is one the box may
// connect to for mail: not unspecified, loopback, private (RFC 1918, RFC
// 4193), link-local, multicast or one of nonPublic, also when written
// as an IPv4-mapped or NAT64 IPv6 address.
func publicNextHop(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

func isNXDomain(err error) bool {
	var e *resolver.Error
	return errors.As(err, &e) && e.NotFound
}

// sortIPs puts IPv4 first: many small VPSes have IPv6 without reverse
// DNS, which receivers punish.
func sortIPs(ips []netip.Addr) []netip.Addr {
	out := slices.Clone(ips)
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		if a.Is4() == b.Is4() {
			return 0
		}
		if a.Is4() {
			return -1
		}
		return 1
	})
	return out
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

// deliverDomain tries to deliver every item of a domain, host after host,
// and calls finish with each item's per-recipient results as soon as they
// are final. Items left when shutting down are not finished.
func (q *Queue) deliverDomain(ctx context.Context, domain string, items []store.QueueItem, finish func(store.QueueItem, itemResult)) {
	results := make([]itemResult, len(items))
	for i := range results {
		results[i] = itemResult{}
	}
	setAll := func(idx []int, r rcptResult) {
		for _, i := range idx {
			for _, rc := range items[i].Recipients {
				if _, done := results[i][rc]; !done {
					results[i][rc] = r
				}
			}
			if ctx.Err() == nil {
				finish(items[i], results[i])
			}
		}
	}
	pending := make([]int, len(items))
	for i := range pending {
		pending[i] = i
	}
	if local, err := q.d.st.IsLocalDomain(ctx, domain); err == nil && local {
		// A redirect or reply queued for one of the box's own domains
		// goes straight into the mailbox, never out and back in by MX.
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			finish(it, q.deliverLocally(ctx, it))
		}
		return
	}
	targets, err := q.route(ctx, domain)
	if err != nil {
		var re *routeError
		errors.As(err, &re)
		setAll(pending, rcptResult{permanent: re != nil && re.permanent, msg: err.Error()})
		return
	}
	var sts stsLookup
	if len(targets) > 0 && targets[0].fromDNS {
		sts = q.mtaSTS(ctx, domain)
		q.noteSTSFailure(ctx, domain, sts)
	}
	var lastErr error
	for _, t := range targets {
		if len(pending) == 0 || ctx.Err() != nil {
			break
		}
		pending, lastErr = q.deliverTarget(ctx, domain, t, sts.policy, items, pending, results, finish)
		if lastErr != nil {
			q.log.Info("mail server failed", "domain", domain, "host", t.name, "addr", t.addr, "err", lastErr)
		}
	}
	if len(pending) > 0 {
		msg := "451 4.4.1 no mail server of " + domain + " could be reached"
		if lastErr != nil {
			msg = fmt.Sprintf("451 4.4.1 %s: %v", domain, lastErr)
			var re *replyError
			var pe *policyError
			if errors.As(lastErr, &pe) {
				msg = pe.Error() // the TLS policy's refusal, for the DSN
			} else if errors.As(lastErr, &re) {
				msg = re.Error() // e.g. the remote's 421 greeting
			}
		}
		setAll(pending, rcptResult{msg: msg})
	}
}

// deliverTarget delivers the pending items over one connection to t and
// returns the items that still need another host (after a connection
// failure) and that failure. When the TLS policy refuses the host, the
// items whose sender said "TLS-Required: No" go anyway, with
// opportunistic TLS (RFC 8689 5).
func (q *Queue) deliverTarget(ctx context.Context, domain string, t target, sts *stsPolicy, items []store.QueueItem, pending []int, results []itemResult, finish func(store.QueueItem, itemResult)) ([]int, error) {
	policy := q.policyFor(ctx, domain, t, sts)
	rest, err := q.deliverOver(ctx, t, policy, items, pending, results, finish, true)
	var pe *policyError
	if len(rest) == 0 || !errors.As(err, &pe) {
		return rest, err
	}
	var optional, strict []int
	for _, i := range rest {
		ok, oerr := q.d.st.QueueTLSOptional(ctx, items[i].ID)
		if oerr != nil {
			return rest, errors.Join(err, fmt.Errorf("reading the TLS-Required mark: %w", oerr))
		}
		if ok {
			optional = append(optional, i)
		} else {
			strict = append(strict, i)
		}
	}
	if len(optional) == 0 {
		return rest, err
	}
	q.log.Info("TLS policy not met; delivering the messages marked TLS-Required: No anyway", "domain", domain, "host", t.name, "messages", len(optional), "policy_err", err)
	left, oerr := q.deliverOver(ctx, t, tlsPolicy{domain: domain, host: t.name}, items, optional, results, finish, false)
	if len(strict) == 0 {
		return left, oerr
	}
	return append(strict, left...), err
}

// deliverOver delivers the pending items over one connection to t
// under policy (whose outcome is counted for TLS-RPT when report) and
// returns the items left after a connection failure, and that failure.
func (q *Queue) deliverOver(ctx context.Context, t target, policy tlsPolicy, items []store.QueueItem, pending []int, results []itemResult, finish func(store.QueueItem, itemResult), report bool) ([]int, error) {
	report = report && t.smarthost == nil
	if policy.err != nil {
		if report {
			q.noteTLS(ctx, policy, t.name, nil, policy.err)
		}
		return pending, policy.err
	}
	c, err := q.connect(ctx, t, policy, true)
	var tlsErr *tlsFailure
	if errors.As(err, &tlsErr) && !policy.require {
		// Opportunistic TLS failed: deliver in plaintext, as Postfix does
		// at security level "may".
		q.log.Info("STARTTLS failed, retrying without TLS", "host", t.name, "err", err)
		c, err = q.connect(ctx, t, policy, false)
	}
	if report {
		q.noteTLS(ctx, policy, t.name, c, err)
	}
	if err != nil {
		return pending, err
	}
	defer c.quit()
	for k, i := range pending {
		it := items[i]
		reqTLS, err := q.d.st.QueueRequiresTLS(ctx, it.ID)
		if err != nil {
			return pending[k:], fmt.Errorf("reading the REQUIRETLS mark: %w", err)
		}
		if refusal := ""; reqTLS {
			if refusal = requireTLSRefusal(policy, t.name, c, t.smarthost != nil); refusal != "" {
				for _, rcpt := range it.Recipients {
					results[i][rcpt] = rcptResult{permanent: true, msg: refusal}
				}
				finish(it, results[i])
				continue
			}
		}
		body, err := q.d.st.Body(ctx, it.BodyID)
		if err != nil {
			return pending[k:], fmt.Errorf("reading message body: %w", err)
		}
		replies, err := c.send(ctx, it.Sender, it.Recipients, body, reqTLS)
		if err != nil {
			return pending[k:], err
		}
		for rcpt, re := range replies {
			if re == nil {
				results[i][rcpt] = rcptResult{ok: true, msg: fmt.Sprintf("accepted by %s[%s]", t.name, t.addr)}
			} else {
				results[i][rcpt] = rcptResult{permanent: re.permanent(), msg: fmt.Sprintf("%s (from %s)", re.Error(), t.name)}
			}
		}
		finish(it, results[i])
	}
	return nil, nil
}

// tlsFailure marks a failed STARTTLS handshake.
type tlsFailure struct{ err error }

func (e *tlsFailure) Error() string { return "STARTTLS: " + e.err.Error() }
func (e *tlsFailure) Unwrap() error { return e.err }

// dial connects to addr ("host:port") from the bind address of the
// target's family (QueueOptions.BindIPv4, BindIPv6). A host name is
// resolved here and its addresses tried in turn, each from the source of
// its own family. A loopback source is not used for a target off
// loopback (such as quickstart's 127.0.0.1 reaching a smarthost): that
// connection could not work.
func (q *Queue) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: q.o.DialTimeout}
	if !q.o.BindIPv4.IsValid() && !q.o.BindIPv6.IsValid() {
		return d.DialContext(ctx, "tcp", addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	last := fmt.Errorf("%s: no addresses", host)
	for _, ip := range ips {
		ip = ip.Unmap()
		d.LocalAddr = nil
		if src := q.source(ip); src.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		last = err
	}
	return nil, last
}

// source is the bind address for a connection to ip, or the zero Addr.
func (q *Queue) source(ip netip.Addr) netip.Addr {
	src := q.o.BindIPv6
	if ip.Is4() {
		src = q.o.BindIPv4
	}
	if src.IsLoopback() && !ip.IsLoopback() {
		return netip.Addr{}
	}
	return src
}

// connect dials t, says EHLO, upgrades to TLS when offered (and tryTLS)
// and authenticates to a smarthost.
func (q *Queue) connect(ctx context.Context, t target, policy tlsPolicy, tryTLS bool) (*smtpClient, error) {
	conn, err := q.dial(ctx, t.addr)
	if err != nil {
		return nil, err
	}
	// The certificate is checked by chk (tlspolicy.go), which fails the
	// handshake only when the policy verifies and otherwise notes whether
	// it is valid (REQUIRETLS, TLS-RPT).
	chk := &tlsCheck{p: policy}
	tlsConf := &tls.Config{ServerName: t.name, InsecureSkipVerify: true, VerifyConnection: chk.verifyConnection, MinVersion: tls.VersionTLS12}
	require := policy.require
	if sh := t.smarthost; sh != nil {
		tlsConf.InsecureSkipVerify, tlsConf.VerifyConnection = sh.InsecureSkipVerify, nil
		chk.verified = !sh.InsecureSkipVerify // a handshake that ends is a verified one
		require = sh.TLS != "none"
		if sh.TLS == "implicit" {
			tc := tls.Client(conn, tlsConf)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
	}
	c := newSMTPClient(conn, q.o.CommandTimeout)
	c.check = chk
	if _, ok := conn.(*tls.Conn); ok {
		c.tls = true
	}
	fail := func(err error) (*smtpClient, error) {
		conn.Close()
		return nil, err
	}
	if err := c.greet(); err != nil {
		return fail(err)
	}
	if err := c.hello(q.d.hostname); err != nil {
		return fail(err)
	}
	if !c.tls && tryTLS && c.has("STARTTLS") {
		if err := c.startTLS(tlsConf, q.d.hostname); err != nil {
			var pe *policyError
			if errors.As(err, &pe) {
				return fail(pe) // the policy refused the certificate: no plaintext retry
			}
			if _, ok := err.(*replyError); !ok {
				return fail(&tlsFailure{err})
			}
			// A refused STARTTLS leaves the session usable in plaintext.
		}
	}
	if require && !c.tls {
		if t.smarthost != nil || policy.mode == tlsOpportunistic {
			return fail(fmt.Errorf("451 4.7.5 %s does not offer TLS, which is required", t.name))
		}
		return fail(policy.noTLSError(t.name))
	}
	if sh := t.smarthost; sh != nil && sh.Username != "" {
		if err := c.authPlain(sh.Username, sh.Password); err != nil {
			return fail(fmt.Errorf("AUTH at %s: %w", t.name, err))
		}
	}
	return c, nil
}

// enhancedCode extracts "5.1.1" from a reply text, or derives a generic
// one from the reply code.
func enhancedCode(msg string, permanent bool) string {
	for _, f := range strings.Fields(msg) {
		p := strings.Split(f, ".")
		if len(p) == 3 && (p[0] == "2" || p[0] == "4" || p[0] == "5") {
			if _, err := strconv.Atoi(p[1]); err == nil {
				if _, err := strconv.Atoi(p[2]); err == nil {
					return f
				}
			}
		}
	}
	if permanent {
		return "5.0.0"
	}
	return "4.0.0"
}

// deliverLocally delivers a queue entry whose recipients are in a hosted
// domain into their mailboxes (or on to an alias's outside targets), as
// one store transaction. Unknown recipients are permanent failures.
func (q *Queue) deliverLocally(ctx context.Context, it store.QueueItem) itemResult {
	res := itemResult{}
	body, err := q.d.st.Body(ctx, it.BodyID)
	if err != nil {
		for _, r := range it.Recipients {
			res[r] = rcptResult{msg: "451 4.3.0 reading the queued message: " + err.Error()}
		}
		return res
	}
	del := store.Delivery{Data: body, Received: q.o.now(), Sender: it.Sender}
	var ok []string
	accs := recipientAccounts{}
	for _, r := range it.Recipients {
		route, _, err := q.d.resolve(ctx, r, accs)
		switch {
		case errors.Is(err, ErrUnknownRecipient), errors.Is(err, ErrBadAddress):
			res[r] = rcptResult{permanent: true, msg: fmt.Sprintf("550 5.1.1 <%s>: no such user here", r)}
			continue
		case err != nil:
			res[r] = rcptResult{msg: "451 4.3.0 " + err.Error()}
			continue
		}
		for _, a := range route.Accounts {
			del.Local = append(del.Local, store.LocalTarget{AccountID: a})
		}
		del.Remote = append(del.Remote, route.Remote...)
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		return res
	}
	msg := "delivered locally"
	hasRemote := len(del.Remote) > 0
	err = q.d.addTrace(ctx, it.Sender, &del, accs)
	if err == nil {
		err = q.d.st.Deliver(ctx, del)
	}
	for _, r := range ok {
		if err != nil {
			res[r] = rcptResult{msg: "451 4.3.0 local delivery failed: " + err.Error()}
		} else {
			res[r] = rcptResult{ok: true, msg: msg}
		}
	}
	if err == nil && hasRemote {
		q.Kick()
	}
	return res
}
