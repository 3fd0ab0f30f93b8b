package dnsd

import (
	"net/netip"
	"sync"
	"time"
)

type verdict int

const (
	allow verdict = iota
	slip          // send a truncated empty answer
	drop
)

// limiter is a token bucket per client network.
type limiter struct {
	rate   float64
	exempt []netip.Prefix

	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
}

type bucket struct {
	tokens  float64
	last    time.Time
	limited int
}

func newLimiter(perSecond int, exempt []netip.Prefix) *limiter {
	return &limiter{rate: float64(perSecond), exempt: exempt, buckets: map[netip.Prefix]*bucket{}}
}

// network is the client network a response is counted against.
func network(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 56
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

func (l *limiter) allow(a netip.Addr, now time.Time) verdict {
	a = a.Unmap()
	for _, p := range l.exempt {
		if p.Contains(a) {
			return allow
		}
	}
	key := network(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= 100000 {
			return drop // under a flood of spoofed networks, answer nobody new
		}
		b = &bucket{tokens: l.rate, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.rate, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return allow
	}
	b.limited++
	if b.limited%2 == 1 {
		return slip
	}
	return drop
}

// sweep forgets networks idle long enough to have a full bucket.
func (l *limiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if now.Sub(b.last) > 10*time.Second {
			delete(l.buckets, k)
		}
	}
}
