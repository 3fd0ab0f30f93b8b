package test

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// smtpSink accepts every message on a loopback port and counts them.
func smtpSink(t *testing.T) (addr string, received func() int) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan struct{}, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(c)
				fmt.Fprintf(c, "220 sink\r\n")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
					case strings.HasPrefix(cmd, "DATA"):
						fmt.Fprintf(c, "354 go on\r\n")
						for l != ".\r\n" && err == nil {
							l, err = r.ReadString('\n')
						}
						got <- struct{}{}
						fmt.Fprintf(c, "250 kept\r\n")
					case strings.HasPrefix(cmd, "QUIT"):
						fmt.Fprintf(c, "221 bye\r\n")
						return
					default:
						fmt.Fprintf(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() int { return len(got) }
}

// Three messages sent out one after the other, each delivered (its queue
// entry deleted) before the next is queued: each has its own queue id
// from acceptance to delivery, so an admin can follow one message
// through the log (every delivery logged queue_id=1 before, issue 24).
func TestEveryQueuedMessageHasItsOwnQueueID(t *testing.T) {
	sink, received := smtpSink(t)
	b := newBoxWith(t, map[string]string{"transports": "friends.example=" + sink})
	for i := 1; i <= 3; i++ {
		out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submission), "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
			"--from", b.Admin, "--to", "anna@friends.example", "--h-Subject", fmt.Sprintf("note %d", i))
		if code != 0 {
			t.Fatalf("submission %d: %s", i, out)
		}
		testutil.WaitFor(t, fmt.Sprintf("message %d at the next hop", i), 15*time.Second, func() bool { return received() == i })
	}
	testutil.WaitFor(t, "three delivery lines", 5*time.Second, func() bool {
		return strings.Count(b.stderr.String(), "msg=delivered pkg=queue queue_id=") >= 3
	})
	log := b.stderr.String()
	sent := regexp.MustCompile(`msg=delivered pkg=queue queue_id=(\d+)`).FindAllStringSubmatch(log, -1)
	seen := map[string]bool{}
	for _, m := range sent {
		if seen[m[1]] {
			t.Errorf("queue id %s used for two messages:\n%s", m[1], log)
		}
		seen[m[1]] = true
		if !strings.Contains(log, "queue_ids=["+m[1]+"]") {
			t.Errorf("queue id %s was not logged when its message was accepted", m[1])
		}
	}
}
