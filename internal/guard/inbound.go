package guard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// Refusal is the SMTP reply a front-end sends instead of going on.
type Refusal struct {
	Code     int
	Enhanced [3]int
	Text     string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
}

// CheckHelo refuses a HELO/EHLO argument that is a bare IP address: RFC
// 5321 4.1.3 wants an address literal in brackets ("[192.0.2.1]").
func CheckHelo(helo string) *Refusal {
	if _, err := netip.ParseAddr(helo); err == nil {
		return &Refusal{501, [3]int{5, 5, 2}, "Invalid HELO: write an IP address as a literal such as [" + helo + "]"}
	}
	return nil
}

// Rcpt decides on one recipient of inbound SMTP from ip (see the package
// comment): nil accepts. spfPass reports whether the envelope sender
// passes SPF; it is called only when the answer matters.
func (g *Guard) Rcpt(ctx context.Context, ip netip.Addr, from, rcpt string, spfPass func(context.Context) bool) *Refusal {
	if g == nil || contains(g.o.Trusted, ip) {
		return nil
	}
	if zone := g.listed(ctx, ip); zone != "" {
		g.log.Info("client in DNSBL", "remote", ip, "zone", zone)
		return &Refusal{554, [3]int{5, 7, 1}, fmt.Sprintf("Service unavailable; client [%s] blocked using %s", ip, zone)}
	}
	if !g.o.Greylist {
		return nil
	}
	return g.greylist(ctx, ip, from, rcpt, spfPass)
}

// # DNSBL

type dnsblResult struct {
	zone  string // "" when not listed
	until time.Time
}

const dnsblTTL = 10 * time.Minute

// listed returns the first DNSBL zone that lists ip, or "". Answers are
// cached for ten minutes; failed lookups are not cached and never list.
func (g *Guard) listed(ctx context.Context, ip netip.Addr) string {
	if len(g.o.DNSBL) == 0 || g.o.Resolver == nil {
		return ""
	}
	ip = ip.Unmap()
	now := g.o.Now()
	g.dnsblMu.Lock()
	r, ok := g.dnsblCache[ip]
	g.dnsblMu.Unlock()
	if ok && now.Before(r.until) {
		return r.zone
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	zone, failed := "", false
	for _, z := range g.o.DNSBL {
		hit, err := lookupDNSBL(ctx, g.o.Resolver, ip, z)
		if err != nil {
			g.log.Warn("DNSBL lookup failed", "zone", z, "remote", ip, "err", err)
			failed = true
			continue
		}
		if hit {
			zone = z
			break
		}
	}
	if zone == "" && failed {
		return ""
	}
	g.dnsblMu.Lock()
	if len(g.dnsblCache) >= maxEntries {
		for k, v := range g.dnsblCache {
			if !now.Before(v.until) {
				delete(g.dnsblCache, k)
			}
		}
		if len(g.dnsblCache) >= maxEntries {
			clear(g.dnsblCache)
		}
	}
	g.dnsblCache[ip] = dnsblResult{zone, now.Add(dnsblTTL)}
	g.dnsblMu.Unlock()
	return zone
}

// DNSBLName is the name ip is looked up as in zone (RFC 5782 2.1, 2.4).
func DNSBLName(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.", a[3], a[2], a[1], a[0])
	} else {
		a := ip.As16()
		const hex = "0123456789abcdef"
		for i := 15; i >= 0; i-- {
			b.WriteByte(hex[a[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hex[a[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(strings.TrimSuffix(zone, "."))
	b.WriteByte('.')
	return b.String()
}

// lookupDNSBL reports whether zone lists ip: an A record in 127.0.0.0/8
// (RFC 5782 2.3). 127.255.255.0/24 is how Spamhaus says "query refused"
// (e.g. through a public resolver), which is no listing.
func lookupDNSBL(ctx context.Context, r resolver.Resolver, ip netip.Addr, zone string) (bool, error) {
	ans, err := r.Lookup(ctx, DNSBLName(ip, zone), dns.TypeA)
	if resolver.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, rr := range ans.Records {
		a, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		v4 := a.A.To4()
		if v4 != nil && v4[0] == 127 && !(v4[1] == 255 && v4[2] == 255) {
			return true, nil
		}
	}
	return false, nil
}

// # Greylisting

type greyKey struct {
	net        netip.Prefix
	from, rcpt string
}

type greyEntry struct {
	first, last time.Time
	passed      bool
}

// greyNet is the client network greylisting counts by: /24 or /64, as
// big senders retry from another address of the same pool.
func greyNet(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

// touchEvery bounds the writes of a passed triple's last-seen time.
const touchEvery = time.Hour

func (g *Guard) greylist(ctx context.Context, ip netip.Addr, from, rcpt string, spfPass func(context.Context) bool) *Refusal {
	k := greyKey{greyNet(ip), strings.ToLower(from), strings.ToLower(rcpt)}
	now := g.o.Now()
	g.sharedGrey(ctx, k)
	g.greyMu.Lock()
	e := g.grey[k]
	if e != nil && e.passed && now.Sub(e.last) <= g.o.GreylistExpiry {
		touch := now.Sub(e.last) > touchEvery
		if touch {
			e.last = now
		}
		g.greyMu.Unlock()
		if touch {
			g.saveGrey(ctx, k, greyEntry{e.first, now, true})
		}
		return nil
	}
	_, domain, _ := strings.Cut(k.from, "@")
	dt, known := g.greyDomains[domain]
	known = known && domain != "" && now.Sub(dt) <= g.o.GreylistExpiry
	g.greyMu.Unlock()

	// A sender domain that passed before skips greylisting when SPF
	// vouches for this client.
	if known && spfPass != nil && spfPass(ctx) {
		if now.Sub(dt) > touchEvery {
			g.saveDomain(ctx, domain, now)
		}
		return nil
	}

	g.greyMu.Lock()
	e = g.grey[k]
	var wait time.Duration
	var save greyEntry
	switch {
	case e != nil && !e.passed && now.Sub(e.first) >= g.o.GreylistDelay && now.Sub(e.first) <= g.o.GreylistRetry:
		e.passed, e.last = true, now
		save = *e
		g.greyMu.Unlock()
		g.saveGrey(ctx, k, save)
		g.log.Info("greylisting passed", "remote", ip, "from", k.from, "rcpt", k.rcpt, "after", now.Sub(e.first).Round(time.Second))
		if domain != "" && spfPass != nil && spfPass(ctx) {
			g.saveDomain(ctx, domain, now)
		}
		return nil
	case e != nil && !e.passed && now.Sub(e.first) < g.o.GreylistDelay:
		wait = g.o.GreylistDelay - now.Sub(e.first)
		g.greyMu.Unlock()
	default: // unknown, expired, or retried too late: start over
		if e == nil && len(g.grey) >= maxEntries {
			g.pruneGrey(now)
		}
		e = &greyEntry{first: now, last: now}
		g.grey[k] = e
		save = *e
		g.greyMu.Unlock()
		g.saveGrey(ctx, k, save)
		wait = g.o.GreylistDelay
		g.log.Info("greylisted", "remote", ip, "from", k.from, "rcpt", k.rcpt)
	}
	return &Refusal{451, [3]int{4, 7, 1}, fmt.Sprintf("Greylisted, please try again in %v", wait.Round(time.Second))}
}

// sharedGrey reads the triple k, and its sender domain, from a store
// that other nodes share (store.Shared) into memory, unless memory has
// it passed already: what another node recorded counts here too. On a
// store of its own, memory is the whole truth and nothing is read.
func (g *Guard) sharedGrey(ctx context.Context, k greyKey) {
	if g.o.Store == nil || !g.o.Store.Shared() {
		return
	}
	g.greyMu.Lock()
	e := g.grey[k]
	g.greyMu.Unlock()
	if e != nil && e.passed {
		return
	}
	st, err := g.o.Store.GreylistEntryOf(ctx, k.net.String(), k.from, k.rcpt)
	switch {
	case err == nil:
		g.greyMu.Lock()
		g.grey[k] = &greyEntry{first: st.First, last: st.Last, passed: st.Passed}
		g.greyMu.Unlock()
	case !errors.Is(err, store.ErrNotFound):
		g.log.Error("reading greylist entry", "err", err)
	}
	_, domain, _ := strings.Cut(k.from, "@")
	if domain == "" {
		return
	}
	if t, ok, err := g.o.Store.GreylistDomainSeen(ctx, domain); err != nil {
		g.log.Error("reading greylist domain", "err", err)
	} else if ok {
		g.greyMu.Lock()
		if t.After(g.greyDomains[domain]) {
			g.greyDomains[domain] = t
		}
		g.greyMu.Unlock()
	}
}

// pruneGrey drops expired entries, then unpassed ones. Called with
// g.greyMu held.
func (g *Guard) pruneGrey(now time.Time) {
	for k, e := range g.grey {
		if now.Sub(e.last) > g.o.GreylistExpiry || !e.passed && now.Sub(e.first) > g.o.GreylistRetry {
			delete(g.grey, k)
		}
	}
	for k, e := range g.grey {
		if len(g.grey) < maxEntries*9/10 {
			break
		}
		if !e.passed {
			delete(g.grey, k)
		}
	}
}

func (g *Guard) saveGrey(ctx context.Context, k greyKey, e greyEntry) {
	if g.o.Store == nil {
		return
	}
	err := g.o.Store.SaveGreylist(ctx, store.GreylistEntry{Net: k.net.String(), Sender: k.from, Rcpt: k.rcpt, First: e.first, Last: e.last, Passed: e.passed})
	if err != nil {
		g.log.Error("saving greylist entry", "err", err)
	}
}

func (g *Guard) saveDomain(ctx context.Context, domain string, now time.Time) {
	g.greyMu.Lock()
	if len(g.greyDomains) >= maxEntries {
		for d, t := range g.greyDomains {
			if now.Sub(t) > g.o.GreylistExpiry {
				delete(g.greyDomains, d)
			}
		}
	}
	if len(g.greyDomains) < maxEntries {
		g.greyDomains[domain] = now
	}
	g.greyMu.Unlock()
	if g.o.Store == nil {
		return
	}
	if err := g.o.Store.SaveGreylistDomain(ctx, domain, now); err != nil {
		g.log.Error("saving greylist domain", "err", err)
	}
}

// loadGreylist reads the stored triples and domains, dropping expired
// ones from the store.
func (g *Guard) loadGreylist(ctx context.Context) error {
	if g.o.Store == nil || !g.o.Greylist {
		return nil
	}
	now := g.o.Now()
	since := now.Add(-g.o.GreylistExpiry)
	if err := g.o.Store.PruneGreylist(ctx, since); err != nil {
		return err
	}
	l, err := g.o.Store.Greylist(ctx, since)
	if err != nil {
		return err
	}
	for _, e := range l {
		p, err := netip.ParsePrefix(e.Net)
		if err != nil {
			continue
		}
		g.grey[greyKey{p, e.Sender, e.Rcpt}] = &greyEntry{first: e.First, last: e.Last, passed: e.Passed}
	}
	d, err := g.o.Store.GreylistDomains(ctx, since)
	if err != nil {
		return err
	}
	g.greyDomains = d
	return nil
}
