package delivery

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// startSink starts Postfix's smtp-sink (a real SMTP server that accepts
// and discards) on a free loopback port, or the in-process fake remote
// when smtp-sink is not installed.
func startSink(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	if p, err := exec.LookPath("smtp-sink"); err == nil {
		l.Close()
		// -c: count; 256 connections backlog; 8BITMIME etc. are advertised by default.
		cmd := exec.Command(p, "-8", "-u", "postfix", addr, "256")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for range 100 {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return addr
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Fatal("smtp-sink did not start")
	}
	l.Close()
	b.Log("smtp-sink not installed: using the in-process fake remote")
	r := startRemote(&testing.T{}, addr)
	return r.addr
}

// BenchmarkQueueToSink measures outbound throughput: b.N rounds of 2000
// queued 4 KiB messages to 10 remote domains, drained to smtp-sink.
// Reported: messages/s.
func BenchmarkQueueToSink(b *testing.B) {
	if os.Getenv("CI") == "true" {
		if _, err := exec.LookPath("smtp-sink"); err != nil {
			b.Fatal("smtp-sink is required in CI")
		}
	}
	sink := startSink(b)
	st := testutil.Store(b)
	ctx := context.Background()
	st.AddDomain(ctx, "example.net")
	body := []byte("From: me@example.net\r\nSubject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 63))
	const msgs = 2000
	var total time.Duration
	for range b.N {
		for i := range msgs {
			if err := st.Deliver(ctx, store.Delivery{Data: body, Sender: "me@example.net",
				Remote: []string{fmt.Sprintf("user%d@domain%d.example", i%7, i%10)}}); err != nil {
				b.Fatal(err)
			}
		}
		q := New(Options{Store: st, Hostname: "mail.example.net",
			Queue: &QueueOptions{Transports: map[string]string{"*": sink}, MaxPerDomain: 2, MaxConnections: 20}}).Queue()
		start := time.Now()
		q.Start()
		for {
			if _, ok, _ := st.NextQueueAttempt(ctx); !ok {
				break
			}
			if time.Since(start) > 2*time.Minute {
				b.Fatal("queue did not drain in 2 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
		total += time.Since(start)
		q.Shutdown(ctx)
	}
	b.ReportMetric(float64(msgs*b.N)/total.Seconds(), "msgs/s")
}
