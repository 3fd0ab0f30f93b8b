package test

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// The queue connects from smtp_bind_address, so that forwarded copies
// leave from the address the SPF record names (issue 24).
func TestTheQueueConnectsFromTheBindAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var from []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			from = append(from, c.RemoteAddr().String())
			mu.Unlock()
			// A busy next hop: the queue retries later.
			fmt.Fprintf(c, "421 busy\r\n")
			c.Close()
		}
	}()
	b := newBoxWith(t, map[string]string{"transports": "friends.example=" + ln.Addr().String(),
		"retry_schedule": "1h", "smtp_bind_address": "127.0.0.3"})
	out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submission), "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", "anna@friends.example")
	if code != 0 {
		t.Fatalf("submission: %s", out)
	}
	testutil.WaitFor(t, "a connection to the next hop", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(from) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if host, _, _ := net.SplitHostPort(from[0]); host != "127.0.0.3" {
		t.Errorf("the queue connected from %s, want 127.0.0.3", from[0])
	}
}
