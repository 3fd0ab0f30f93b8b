package smtpd

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestALowDiskIsRefusedAtRcptAndAtData: below the free space the store
// keeps, RCPT and DATA answer 452 4.3.1 (the sender retries later);
// with room again, mail is taken.
func TestALowDiskIsRefusedAtRcptAndAtData(t *testing.T) {
	addr, st := newTestServer(t, Inbound)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	say := func(line, want string) {
		t.Helper()
		if line != "" {
			c.Write([]byte(line + "\r\n"))
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", line, err)
			}
			if len(l) > 3 && l[3] == '-' {
				continue
			}
			if !strings.HasPrefix(l, want) {
				t.Fatalf("after %q: %q, want %q", line, l, want)
			}
			return
		}
	}
	say("", "220")
	say("EHLO c.example", "250")
	say("MAIL FROM:<f@elsewhere.example>", "250")
	st.KeepFree(100.5) // no disk has that much free
	say("RCPT TO:<me@example.net>", "452 4.3.1")
	st.KeepFree(0)
	say("RCPT TO:<me@example.net>", "250")
	st.KeepFree(100.5)
	say("DATA", "354")
	say("Subject: x\r\n\r\nbody\r\n.", "452 4.3.1")
	st.KeepFree(0)
	say("MAIL FROM:<f@elsewhere.example>", "250")
	say("RCPT TO:<me@example.net>", "250")
	say("DATA", "354")
	say("Subject: x\r\n\r\nbody\r\n.", "250")
}
