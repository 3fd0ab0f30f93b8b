package guard

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"time"

	"boxmail/internal/store"
)

// failure is one failed login: when, and a hash of the account and
// password tried, so the same wrong password again counts once.
type failure struct {
	at  time.Time
	sum uint64
}

// ring holds the latest failures of a network or an account.
type ring struct {
	f []failure
	i int
}

func (r *ring) count(since time.Time) int {
	n := 0
	for _, f := range r.f {
		if f.at.After(since) {
			n++
		}
	}
	return n
}

// add records a failure unless the same one is already in the window;
// it reports whether it was counted.
func (r *ring) add(f failure, since time.Time) bool {
	for _, o := range r.f {
		if o.sum == f.sum && o.at.After(since) {
			return false
		}
	}
	if len(r.f) < cap(r.f) {
		r.f = append(r.f, f)
		return true
	}
	r.f[r.i] = f
	r.i = (r.i + 1) % len(r.f)
	return true
}

func (r *ring) reset() { r.f, r.i = r.f[:0], 0 }

// netState is what the guard knows of one client network.
type netState struct {
	fails ring
	// until is the end of the current (or last) block; level its number.
	until time.Time
	level int
	// saved is set once the block is in the store: only then can a
	// missing row mean 'boxmail security unblock' lifted it.
	saved bool
}

// acctState is what the guard knows of one account name.
type acctState struct {
	fails ring
	// known are the networks that logged in to it successfully, with when.
	known map[netip.Prefix]time.Time
	// lastUnknown is the last attempt admitted from an unknown network
	// while the account was under attack.
	lastUnknown time.Time
}

// maxKnown bounds an account's remembered networks.
const maxKnown = 32

var seed = maphash.MakeSeed()

func attemptSum(account, password string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(account)
	h.WriteByte(0)
	h.WriteString(password)
	return h.Sum64()
}

// Login runs one login attempt under the limiter: check is the front-end's
// password check (store.Authenticate). A refused attempt is not checked
// and returns store.ErrAuthFailed, so the front-end answers with its
// normal failure; failures are answered after FailureDelay. Errors other
// than store.ErrAuthFailed (the store failing) are not counted.
func (g *Guard) Login(ctx context.Context, ip netip.Addr, account, password string, check func() error) error {
	if g == nil || contains(g.o.Allow, ip) {
		return check()
	}
	p := ClientNet(ip)
	acct := strings.ToLower(account)
	now := g.o.Now()
	g.mu.Lock()
	ok, blocked := g.admit(p, acct, now)
	g.mu.Unlock()
	if ok && g.blockedElsewhere(ctx, p, now) {
		ok, blocked = false, true
	}
	if !ok && blocked && g.lifted(ctx, p, now) {
		ok = true
	}
	if !ok {
		g.log.Debug("login refused", "net", p, "user", acct, "blocked", blocked)
		g.delay(ctx)
		return store.ErrAuthFailed
	}
	err := check()
	switch {
	case err == nil:
		g.mu.Lock()
		g.succeeded(p, acct, now)
		g.mu.Unlock()
	case errors.Is(err, store.ErrAuthFailed):
		g.mu.Lock()
		b, block := g.failed(p, acct, attemptSum(acct, password), now)
		g.mu.Unlock()
		if block {
			g.log.Warn("blocking logins", "net", p, "until", b.Until.Format(time.RFC3339), "level", b.Level, "reason", b.Reason)
			g.o.Metrics.LoginBlock()
			if g.o.Store != nil {
				if err := g.o.Store.SaveAuthBlock(ctx, b); err != nil {
					g.log.Error("saving login block", "net", p, "err", err)
				} else {
					g.mu.Lock()
					if n := g.nets[p]; n != nil && n.until.Equal(b.Until) {
						n.saved = true
					}
					g.mu.Unlock()
				}
			}
		}
		g.delay(ctx)
	}
	return err
}

// admit decides whether an attempt may be checked. Called with g.mu held.
func (g *Guard) admit(p netip.Prefix, acct string, now time.Time) (ok, blocked bool) {
	if n := g.nets[p]; n != nil && now.Before(n.until) {
		return false, true
	}
	a := g.accts[acct]
	if a == nil || a.fails.count(now.Add(-g.o.Window)) < g.o.AccountFailures {
		return true, false
	}
	if _, known := a.known[p]; known {
		return true, false
	}
	// Under attack: one attempt per interval from networks it is not
	// used from.
	if now.Sub(a.lastUnknown) < g.o.AccountInterval {
		return false, false
	}
	a.lastUnknown = now
	return true, false
}

// lifted asks the store whether a block held in memory still stands;
// 'boxmail security unblock' may have removed it. A lifted block is
// forgotten here too.
func (g *Guard) lifted(ctx context.Context, p netip.Prefix, now time.Time) bool {
	if g.o.Store == nil {
		return false
	}
	g.mu.Lock()
	n := g.nets[p]
	saved := n == nil || n.saved
	g.mu.Unlock()
	if !saved { // being written: its row is not there yet
		return false
	}
	b, err := g.o.Store.AuthBlockByNet(ctx, p.String())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		g.log.Error("reading login block", "net", p, "err", err)
		return false
	}
	if err == nil && now.Before(b.Until) {
		return false
	}
	g.mu.Lock()
	delete(g.nets, p)
	g.mu.Unlock()
	g.log.Info("login block lifted", "net", p)
	return true
}

// blockedElsewhere asks a store that other nodes share (store.Shared)
// whether another node blocked p, and keeps such a block in memory. On a
// store of its own, memory is the whole truth and nothing is read. (The
// failures that lead to a block are counted per node.)
func (g *Guard) blockedElsewhere(ctx context.Context, p netip.Prefix, now time.Time) bool {
	if g.o.Store == nil || !g.o.Store.Shared() {
		return false
	}
	b, err := g.o.Store.AuthBlockByNet(ctx, p.String())
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		g.log.Error("reading login block", "net", p, "err", err)
		return false
	}
	if !now.Before(b.Until) {
		return false
	}
	g.mu.Lock()
	n := g.nets[p]
	if n == nil {
		g.makeRoom()
		n = &netState{fails: ring{f: make([]failure, 0, g.o.MaxFailures)}}
		g.nets[p] = n
	}
	n.until, n.level, n.saved = b.Until, b.Level, true
	g.mu.Unlock()
	return true
}

func (g *Guard) succeeded(p netip.Prefix, acct string, now time.Time) {
	a := g.accts[acct]
	if a == nil {
		g.makeRoom()
		a = &acctState{fails: ring{f: make([]failure, 0, g.o.AccountFailures)}}
		g.accts[acct] = a
	}
	if a.known == nil {
		a.known = make(map[netip.Prefix]time.Time, 1)
	}
	if _, ok := a.known[p]; !ok && len(a.known) >= maxKnown {
		var oldest netip.Prefix
		var ot time.Time
		for k, t := range a.known {
			if ot.IsZero() || t.Before(ot) {
				oldest, ot = k, t
			}
		}
		delete(a.known, oldest)
	}
	a.known[p] = now
}

// failed records a failed attempt and returns the block it starts, if any.
func (g *Guard) failed(p netip.Prefix, acct string, sum uint64, now time.Time) (store.AuthBlock, bool) {
	since := now.Add(-g.o.Window)
	f := failure{at: now, sum: sum}
	a := g.accts[acct]
	if a == nil {
		g.makeRoom()
		a = &acctState{fails: ring{f: make([]failure, 0, g.o.AccountFailures)}}
		g.accts[acct] = a
	}
	a.fails.add(f, since)
	n := g.nets[p]
	if n == nil {
		g.makeRoom()
		n = &netState{fails: ring{f: make([]failure, 0, g.o.MaxFailures)}}
		g.nets[p] = n
	}
	if !n.fails.add(f, since) || n.fails.count(since) < g.o.MaxFailures {
		return store.AuthBlock{}, false
	}
	if n.level > 0 && now.Sub(n.until) < g.o.RepeatWindow {
		n.level++
	} else {
		n.level = 1
	}
	d := g.o.BlockTimes[min(n.level, len(g.o.BlockTimes))-1]
	n.until, n.saved = now.Add(d), false
	n.fails.reset()
	return store.AuthBlock{Net: p.String(), Level: n.level, Since: now, Until: n.until,
		Reason: fmt.Sprintf("%d failed logins in %v, the last as %s", g.o.MaxFailures, g.o.Window, printable(acct))}, true
}

// printable shortens an attacker-chosen name for a log or a listing.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return s
}

// makeRoom drops entries that no longer matter when a table is full.
// Called with g.mu held.
func (g *Guard) makeRoom() {
	if len(g.nets) < maxEntries && len(g.accts) < maxEntries {
		return
	}
	now := g.o.Now()
	since := now.Add(-g.o.Window)
	for p, n := range g.nets {
		if n.fails.count(since) == 0 && now.Sub(n.until) > g.o.RepeatWindow {
			delete(g.nets, p)
		}
	}
	for k, a := range g.accts {
		if a.fails.count(since) == 0 && len(a.known) == 0 {
			delete(g.accts, k)
		}
	}
	// Still full: drop arbitrary unblocked entries (map order is random).
	for p, n := range g.nets {
		if len(g.nets) < maxEntries*9/10 {
			break
		}
		if !now.Before(n.until) {
			delete(g.nets, p)
		}
	}
	for k, a := range g.accts {
		if len(g.accts) < maxEntries*9/10 {
			break
		}
		if len(a.known) == 0 {
			delete(g.accts, k)
		}
	}
}

func (g *Guard) delay(ctx context.Context) {
	if g.o.FailureDelay <= 0 {
		return
	}
	t := time.NewTimer(g.o.FailureDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// loadBlocks reads the stored blocks; those too old to matter for the
// next one's length are deleted.
func (g *Guard) loadBlocks(ctx context.Context) error {
	if g.o.Store == nil {
		return nil
	}
	now := g.o.Now()
	if err := g.o.Store.PruneAuthBlocks(ctx, now.Add(-g.o.RepeatWindow)); err != nil {
		return err
	}
	bs, err := g.o.Store.AuthBlocks(ctx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		p, ok := ParseClientNet(b.Net)
		if !ok {
			continue
		}
		g.nets[p] = &netState{fails: ring{f: make([]failure, 0, g.o.MaxFailures)}, until: b.Until, level: b.Level, saved: true}
	}
	return nil
}

// loadKnown remembers, for each account, the networks of its first and
// last recorded login (store.Logins, any protocol), so the networks an
// account is used from are still known after a restart: an attack on the
// account then cannot shut out its owner, only slow down strangers.
func (g *Guard) loadKnown(ctx context.Context) error {
	if g.o.Store == nil {
		return nil
	}
	logins, err := g.o.Store.AllLogins(ctx)
	if err != nil || len(logins) == 0 {
		return err
	}
	accts, err := g.o.Store.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		l, ok := logins[a.ID]
		if !ok {
			continue
		}
		for _, r := range []store.LoginRecord{l.First, l.Last} {
			ip, err := netip.ParseAddr(r.Addr)
			if err != nil || r.At.IsZero() {
				continue
			}
			g.succeeded(ClientNet(ip), strings.ToLower(a.Email), r.At)
		}
	}
	return nil
}

// Blocked lists the networks blocked now, from the store (any process's
// view) or, without a store, from memory.
func (g *Guard) Blocked(ctx context.Context) ([]store.AuthBlock, error) {
	now := g.o.Now()
	var out []store.AuthBlock
	if g.o.Store == nil {
		g.mu.Lock()
		for p, n := range g.nets {
			if now.Before(n.until) {
				out = append(out, store.AuthBlock{Net: p.String(), Level: n.level, Until: n.until})
			}
		}
		g.mu.Unlock()
		return out, nil
	}
	all, err := g.o.Store.AuthBlocks(ctx)
	for _, b := range all {
		if now.Before(b.Until) {
			out = append(out, b)
		}
	}
	return out, err
}
