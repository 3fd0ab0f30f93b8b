// Package guard keeps attackers out of every front-end: what fail2ban and
// postgrey do next to Mail-in-a-Box, built in and shared by every login
// (SMTP AUTH, IMAP, POP3, ManageSieve, web) through one Guard.
//
// # Logins (login.go)
//
// Failed logins are counted per client network (an IPv4 address, an IPv6
// /64) and per account. After MaxFailures failures in Window (default 10
// in 15 minutes) the network is blocked from every login for BlockTimes
// (15 min, then 1 h, 6 h, 24 h for a repeat within a day of the last block
// ending). A blocked client's attempts are refused without checking the
// password, a correct one included, and get the protocol's normal failure
// after FailureDelay: nothing tells it whether the account exists. The
// same wrong password tried again (a phone with a stale password) counts
// once. An account with AccountFailures failures in Window from all
// networks is under attack: networks that have never logged in to it
// successfully get one attempt per AccountInterval between them, while
// the ones it is used from keep logging in (remembered across restarts
// from the store's login records). No account is ever locked for
// everyone: the web login relies on this too. The Allow list is exempt from
// all of this and from the connection limits.
//
// Blocks are written to the store (auth_blocks), so they survive a
// restart and 'boxmail security blocked|unblock' sees and lifts them from
// another process: an attempt from a network blocked in memory asks the
// store whether the block still stands.
//
// # Connections (conns.go)
//
// Listener wraps a front-end's listener: more than MaxConnsPerIP
// connections at once from one client network to one protocol, or more
// than MaxConns in all, are answered with the protocol's refusal (421,
// BYE, -ERR) and closed before the front-end sees them. On inbound SMTP,
// a client outside the trusted networks waits GreetWait for the greeting
// and is refused if it talks first (an early talker, RFC 5321 4.3.1).
//
// # Inbound mail (inbound.go)
//
// Rcpt decides on each recipient of inbound SMTP from outside the trusted
// networks: a client IP listed in a DNSBL zone gets 554 5.7.1 naming the
// list (a failed lookup never rejects); then greylisting: an unknown (client
// /24 or /64, sender, recipient) triple gets 451 4.7.1 and is accepted when
// retried after GreylistDelay, and for GreylistExpiry after it was last
// seen. A sender domain that once passed greylisting with SPF skips it
// whenever SPF passes again. Triples and domains are stored (greylist,
// greylist_domains) and survive a restart.
//
// Every decision reads memory only; the store is written when something
// changes. The clock is Options.Now, so tests move time without sleeping.
package guard

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"boxmail/internal/metrics"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// Options configure a Guard. Zero values take the defaults in brackets.
type Options struct {
	// Store persists blocks and greylisting; nil keeps them in memory.
	Store *store.Store
	// Resolver looks up DNSBL zones; nil disables DNSBL checks.
	Resolver resolver.Resolver
	Logger   *slog.Logger
	// Now is the clock [time.Now].
	Now func() time.Time

	// Allow are client networks never blocked nor connection-limited.
	Allow []netip.Prefix
	// Trusted are the trusted_networks: no greylisting, DNSBL or greet
	// wait for them (logins are limited as for anyone).
	Trusted []netip.Prefix

	// MaxFailures failed logins from one client network within Window
	// block it [10 in 15m].
	MaxFailures int
	Window      time.Duration
	// BlockTimes are the lengths of a first, second, ... block; the last
	// repeats [15m, 1h, 6h, 24h]. A block counts as a repeat when it
	// starts within RepeatWindow of the previous one ending [24h].
	BlockTimes   []time.Duration
	RepeatWindow time.Duration
	// AccountFailures failed logins to one account within Window from all
	// networks slow logins to it from unknown networks to one per
	// AccountInterval [20, 1m].
	AccountFailures int
	AccountInterval time.Duration
	// FailureDelay is waited before a failed or refused login is
	// answered [2s]; negative for none.
	FailureDelay time.Duration

	// MaxConnsPerIP is the most connections from one client network to
	// one protocol [20]; MaxConns the most in all [1000].
	MaxConnsPerIP, MaxConns int
	// GreetWait is how long an inbound SMTP client outside the trusted
	// networks must stay silent before the greeting; 0 disables the check.
	GreetWait time.Duration

	// Greylist turns greylisting on for inbound SMTP.
	Greylist bool
	// GreylistDelay is the least wait before a retry is accepted [5m];
	// GreylistRetry the longest (a later retry starts over) [48h];
	// GreylistExpiry how long a passed triple or sender domain is
	// remembered after it was last seen [35 days].
	GreylistDelay, GreylistRetry, GreylistExpiry time.Duration
	// DNSBL are the blocklist zones inbound SMTP clients are looked up in.
	DNSBL []string
	// Metrics counts the networks the login limiter blocks; nil: none.
	Metrics *metrics.Metrics
}

// Guard holds the defences' state. Its methods are safe for concurrent
// use, and a nil *Guard lets everything through.
type Guard struct {
	o   Options
	log *slog.Logger

	mu    sync.Mutex // login state
	nets  map[netip.Prefix]*netState
	accts map[string]*acctState

	connMu sync.Mutex
	conns  map[connKey]int
	total  int

	greyMu      sync.Mutex
	grey        map[greyKey]*greyEntry
	greyDomains map[string]time.Time

	dnsblMu    sync.Mutex
	dnsblCache map[netip.Addr]dnsblResult
}

// maxEntries bounds each in-memory table; past it, entries that no longer
// matter are dropped first.
const maxEntries = 100_000

// New builds a Guard and loads its stored state.
func New(ctx context.Context, o Options) (*Guard, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxFailures, 10)
	defd(&o.Window, 15*time.Minute)
	if len(o.BlockTimes) == 0 {
		o.BlockTimes = []time.Duration{15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}
	}
	defd(&o.RepeatWindow, 24*time.Hour)
	def(&o.AccountFailures, 20)
	defd(&o.AccountInterval, time.Minute)
	defd(&o.FailureDelay, 2*time.Second)
	def(&o.MaxConnsPerIP, 20)
	def(&o.MaxConns, 1000)
	defd(&o.GreylistDelay, 5*time.Minute)
	defd(&o.GreylistRetry, 48*time.Hour)
	defd(&o.GreylistExpiry, 35*24*time.Hour)
	g := &Guard{
		o: o, log: o.Logger,
		nets:        map[netip.Prefix]*netState{},
		accts:       map[string]*acctState{},
		conns:       map[connKey]int{},
		grey:        map[greyKey]*greyEntry{},
		greyDomains: map[string]time.Time{},
		dnsblCache:  map[netip.Addr]dnsblResult{},
	}
	if err := g.loadBlocks(ctx); err != nil {
		return nil, err
	}
	if err := g.loadKnown(ctx); err != nil { // login.go
		return nil, err
	}
	if err := g.loadGreylist(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// ClientNet is the unit the guard counts by: an IPv4 address (/32) or an
// IPv6 /64 (one customer's network).
func ClientNet(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// ParseClientNet turns an IP address or a network as 'boxmail security'
// prints it into the client network the guard keys on.
func ParseClientNet(s string) (netip.Prefix, bool) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ClientNet(ip), true
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return ClientNet(p.Addr()), true
	}
	return netip.Prefix{}, false
}

func contains(l []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range l {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Allowed reports whether ip is on the allow-list.
func (g *Guard) Allowed(ip netip.Addr) bool { return g == nil || contains(g.o.Allow, ip) }

// Trusted reports whether ip is in the trusted networks.
func (g *Guard) Trusted(ip netip.Addr) bool { return g != nil && contains(g.o.Trusted, ip) }
