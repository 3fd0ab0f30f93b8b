package testutil

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// ServeDNS answers UDP queries with udp and TCP queries with tcp (either
// may be nil to leave that side unanswered but listening) on 127.0.0.1,
// and returns the address. The servers stop when the test ends.
func ServeDNS(t testing.TB, udp, tcp dns.Handler) string {
	t.Helper()
	pc, ln := ListenPair(t)
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: orSilent(udp)}, {Listener: ln, Handler: orSilent(tcp)}} {
		serve(t, s)
	}
	return pc.LocalAddr().String()
}

// serve runs s until the test ends. It returns once s is serving, so
// that the cleanup's Shutdown finds it started.
func serve(t testing.TB, s *dns.Server) {
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- s.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("starting the test DNS server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(); err != nil {
			t.Errorf("stopping the test DNS server: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("test DNS server: %v", err)
		}
	})
}

// ListenPair listens on a loopback port free for both UDP and TCP, as a
// DNS server needs. The kernel picks a free UDP port; its TCP twin may be
// taken by another test process, so it tries again.
func ListenPair(t testing.TB) (net.PacketConn, net.Listener) {
	var last error
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
		last = err
	}
	t.Fatalf("no loopback port free for both UDP and TCP: %v", last)
	return nil, nil
}

func orSilent(h dns.Handler) dns.Handler {
	if h != nil {
		return h
	}
	return dns.HandlerFunc(func(dns.ResponseWriter, *dns.Msg) {})
}
