package testutil

import (
	"net"
	"testing"
	"time"
)

// WaitFor polls cond until it is true, first every 10 ms then less often
// (up to every 100 ms, as a condition may run a command), and fails the
// test with "timed out after TIMEOUT waiting for WHAT" if it is still
// false after timeout.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePortOn(t, "127.0.0.1")
}

// FreePortOn returns a TCP port free on the loopback address ip at the
// time of the call.
func FreePortOn(t testing.TB, ip string) int {
	t.Helper()
	return FreePortsOn(t, ip, 1)[0]
}

// FreePorts returns n distinct TCP ports free on 127.0.0.1 at the time
// of the call (all are held open until the last is found, so they
// differ).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	return FreePortsOn(t, "127.0.0.1", n)
}

// FreePortsOn is FreePorts on the loopback address ip.
func FreePortsOn(t testing.TB, ip string, n int) []int {
	t.Helper()
	out := make([]int, 0, n)
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}
