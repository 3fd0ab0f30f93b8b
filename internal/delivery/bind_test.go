package delivery

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// dial connects from the bind address of the target's family, and from
// the system's choice when that family has none.
func TestDialFromTheBindAddressOfTheTargetsFamily(t *testing.T) {
	q := &Queue{o: QueueOptions{DialTimeout: time.Second, BindIPv4: netip.MustParseAddr("127.0.0.3")}}
	for network, want := range map[string]string{"127.0.0.2:0": "127.0.0.3", "[::1]:0": "::1"} {
		ln, err := net.Listen("tcp", network)
		if err != nil {
			t.Logf("%s: %v", network, err)
			continue
		}
		defer ln.Close()
		c, err := q.dial(context.Background(), ln.Addr().String())
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		src := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		c.Close()
		if src.String() != want {
			t.Errorf("to %s from %s, want %s", ln.Addr(), src, want)
		}
	}
}

func TestNoLoopbackSourceOffLoopback(t *testing.T) {
	q := &Queue{o: QueueOptions{BindIPv4: netip.MustParseAddr("127.0.0.3"), BindIPv6: netip.MustParseAddr("2001:db8::25")}}
	for to, want := range map[string]string{"127.0.0.2": "127.0.0.3", "192.0.2.1": "invalid IP", "2001:db8::1": "2001:db8::25", "::1": "2001:db8::25"} {
		if got := q.source(netip.MustParseAddr(to)); got.String() != want {
			t.Errorf("to %s from %s, want %s", to, got, want)
		}
	}
}
