package guard

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// The limiter and the greylist sit on every login and every inbound
// RCPT: each decision must cost well under 10 µs and a normal login
// (a known user from a known network) must not allocate.

func benchGuard(tb testing.TB) *Guard {
	g, err := New(context.Background(), Options{Now: time.Now, FailureDelay: -1, Greylist: true})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

func ok() error { return nil }

func BenchmarkLoginSuccess(b *testing.B) {
	g := benchGuard(b)
	ctx := context.Background()
	ip := netip.MustParseAddr("203.0.113.5")
	g.Login(ctx, ip, "me@example.test", "pw", ok)
	b.ReportAllocs()
	for b.Loop() {
		g.Login(ctx, ip, "me@example.test", "pw", ok)
	}
}

func BenchmarkGreylistPassedTriple(b *testing.B) {
	g := benchGuard(b)
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.10")
	k := greyKey{greyNet(ip), "news@shop.example", "me@example.test"}
	g.grey[k] = &greyEntry{first: time.Now().Add(-time.Hour), last: time.Now(), passed: true}
	b.ReportAllocs()
	for b.Loop() {
		if g.Rcpt(ctx, ip, "news@shop.example", "me@example.test", nil) != nil {
			b.Fatal("refused")
		}
	}
}

func TestANormalLoginDoesNotAllocate(t *testing.T) {
	g := benchGuard(t)
	ctx := context.Background()
	ip := netip.MustParseAddr("203.0.113.5")
	g.Login(ctx, ip, "me@example.test", "pw", ok)
	if n := testing.AllocsPerRun(100, func() { g.Login(ctx, ip, "me@example.test", "pw", ok) }); n != 0 {
		t.Errorf("a normal login allocates %v times", n)
	}
	k := greyKey{greyNet(ip), "news@shop.example", "me@example.test"}
	g.grey[k] = &greyEntry{first: time.Now().Add(-time.Hour), last: time.Now(), passed: true}
	if n := testing.AllocsPerRun(100, func() { g.Rcpt(ctx, ip, "news@shop.example", "me@example.test", nil) }); n != 0 {
		t.Errorf("a greylist lookup allocates %v times", n)
	}
}
