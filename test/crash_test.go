package test

import (
	"fmt"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"
)

// A 250 means the message is on disk: kill -9 the server in the middle of
// a stream of deliveries, start it again, and every acknowledged message
// must be there, whole.
func TestKill9LosesNoAcknowledgedMessage(t *testing.T) {
	b := newBox(t)
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-m%d", w, i)
				msg := "Subject: " + id + "\r\n\r\n" + strings.Repeat("body of "+id+"\r\n", 50)
				if err := sendPlain(fmt.Sprintf("127.0.0.1:%d", b.SMTP), "friend@elsewhere.example", "me@example.test", msg); err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	b.cmd.Process.Kill()
	<-b.exited
	close(stop)
	wg.Wait()
	b.cmd = nil
	if len(acked) == 0 {
		t.Fatal("nothing was delivered before the kill")
	}
	b.Start()
	msgs := b.Mailbox("me@example.test", "INBOX")
	stored := map[string]bool{}
	for _, m := range msgs {
		s := string(m)
		i := strings.Index(s, "Subject: ")
		id := strings.TrimSpace(s[i+9 : i+9+strings.Index(s[i+9:], "\r\n")])
		if !strings.HasSuffix(s, strings.Repeat("body of "+id+"\r\n", 50)) {
			t.Errorf("message %s stored incomplete", id)
		}
		stored[id] = true
	}
	for id := range acked {
		if !stored[id] {
			t.Errorf("message %s got 250 but is missing after kill -9", id)
		}
	}
	t.Logf("%d acknowledged, %d stored after kill -9 (extra ones were committed but their 250 was lost)", len(acked), len(stored))
}

// sendPlain sends one message without STARTTLS (net/smtp's SendMail would
// insist on verifying the box's self-signed certificate).
func sendPlain(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil { // returns once the 250 is read
		return err
	}
	return c.Quit()
}
