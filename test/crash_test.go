package test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"
)

// A 250 means the message is on disk: kill -9 the server at random
// moments in a stream of deliveries, several times, start it again each
// time, and every acknowledged message must be there exactly once, byte
// for byte; the remote ones must be in the outbound queue; the database
// must pass SQLite's integrity check.
func TestKill9LosesNoAcknowledgedMessage(t *testing.T) {
	b := newBox(t)
	// Mail to grandma@ leaves the box: it waits in the queue (the test's
	// DNS knows no oldprovider.example).
	mustRun(t, "", "alias", "add", "grandma@example.test", "grandma@oldprovider.example", "--dir", b.Dir)
	var mu sync.Mutex
	acked := map[string]string{} // id -> rcpt
	// One message in ten is a 300 KB photo, which the store keeps in a
	// file of its own (written and fsynced before the commit naming it).
	bodyOf := func(id string) string {
		if strings.HasSuffix(id, "3") {
			return strings.Repeat("photo of "+id+"\r\n", 300<<10/len("photo of \r\n"+id))
		}
		return strings.Repeat("body of "+id+"\r\n", 40)
	}
	for round := range 3 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("r%d-w%d-m%d", round, w, i)
					rcpt := "me@example.test"
					if i%5 == 0 {
						rcpt = "grandma@example.test"
					}
					msg := "Subject: " + id + "\r\n\r\n" + bodyOf(id)
					if err := sendPlain(fmt.Sprintf("127.0.0.1:%d", b.SMTP), "friend@elsewhere.example", rcpt, msg); err != nil {
						return // the server is gone
					}
					mu.Lock()
					acked[id] = rcpt
					mu.Unlock()
				}
			}()
		}
		wait := 200 + rand.IntN(600)
		if b.StoreURL != "" { // PostgreSQL acknowledges fewer a second: give the photos time to come
			wait = 1500 + rand.IntN(1000)
		}
		time.Sleep(time.Duration(wait) * time.Millisecond)
		b.cmd.Process.Kill()
		<-b.exited
		close(stop)
		wg.Wait()
		b.cmd = nil
		b.Start()
	}
	if len(acked) == 0 {
		t.Fatal("nothing was delivered before the kills")
	}
	b.Stop()

	st := b.OpenStore()
	defer st.Close()
	ctx := context.Background()
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
	subjectOf := func(m []byte) string {
		s := string(m)
		i := strings.Index(s, "Subject: ")
		return strings.TrimSpace(s[i+9 : i+9+strings.Index(s[i+9:], "\r\n")])
	}
	stored := map[string]int{}
	for _, m := range b.Mailbox("me@example.test", "INBOX") {
		id := subjectOf(m)
		stored[id]++
		if !strings.HasSuffix(string(m), "\r\n\r\n"+bodyOf(id)) {
			t.Errorf("message %s is not byte-identical", id)
		}
	}
	queued := map[string]int{}
	q, err := st.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range q {
		body, err := st.Body(ctx, it.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		queued[subjectOf(body)]++
	}
	lost := 0
	for id, rcpt := range acked {
		where := stored
		if rcpt != "me@example.test" {
			where = queued
		}
		if where[id] != 1 {
			lost++
			if lost < 10 {
				t.Errorf("message %s to %s got 250 but is there %d times after kill -9", id, rcpt, where[id])
			}
		}
	}
	for id, n := range stored {
		if n > 1 {
			t.Errorf("message %s stored %d times", id, n)
		}
	}
	photos := 0
	for id := range stored {
		if strings.HasSuffix(id, "3") {
			photos++
		}
	}
	if photos == 0 {
		t.Error("no large message was stored: the body files were not exercised")
	}
	t.Logf("%d acknowledged (%d local, %d queued rows); %d stored (%d photos in body files), %d queued after 3 kills (extra ones were committed but their 250 was lost)",
		len(acked), len(acked)-len(queued), len(q), len(stored), photos, len(queued))
}

// sendPlain sends one message without STARTTLS (net/smtp's SendMail would
// insist on verifying the box's self-signed certificate).
func sendPlain(addr, from, to, msg string) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	return sendOn(nc, from, to, msg)
}

// sendOn sends one message over an open connection to the box's SMTP
// port, within 3 minutes, and closes it.
func sendOn(nc net.Conn, from, to, msg string) error {
	nc.SetDeadline(time.Now().Add(3 * time.Minute))
	c, err := smtp.NewClient(nc, "127.0.0.1")
	if err != nil {
		nc.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello("outside.example"); err != nil {
		return err
	}
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
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil { // returns once the 250 is read
		return err
	}
	return c.Quit()
}
