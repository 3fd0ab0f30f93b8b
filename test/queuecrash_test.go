package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// The outbound queue under kill -9 with a real Postfix as the remote: a
// message leaves the queue only after Postfix's 250, so a kill at any
// moment may repeat a delivery (between that 250 and the queue update)
// but never lose one.
func TestKill9WhileTheQueueDeliversLosesNothing(t *testing.T) {
	p := startPostfix(t, "anna")
	b := newBoxWith(t, map[string]string{"transports": "friends.example=" + p.Addr, "retry_schedule": "1s"})
	b.Stop()
	const n = 600
	st := b.OpenStore()
	for i := range n {
		msg := fmt.Sprintf("From: me@example.test\r\nTo: anna@friends.example\r\nSubject: queued-%03d\r\n\r\n%s", i, strings.Repeat("line of text\r\n", 50))
		if err := st.Deliver(context.Background(), store.Delivery{Data: []byte(msg), Sender: "me@example.test", Remote: []string{"anna@friends.example"}}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	for range 3 {
		b.Start()
		time.Sleep(time.Duration(20+rand.IntN(150)) * time.Millisecond)
		b.cmd.Process.Kill()
		<-b.exited
		b.cmd = nil
	}
	before := len(p.Mail("anna"))
	if before == 0 || before >= n {
		t.Logf("note: %d of %d had arrived before the last start; the kills did not fall mid-queue", before, n)
	}
	b.Start()
	testutil.WaitFor(t, "the queue to drain", 60*time.Second, func() bool { return len(b.Queue()) == 0 })
	testutil.WaitFor(t, "Postfix to store all", 30*time.Second, func() bool { return len(p.Mail("anna")) >= n })
	got := map[string]int{}
	for _, m := range p.Mail("anna") {
		i := strings.Index(m, "Subject: queued-")
		if i < 0 {
			t.Fatalf("unexpected message at the remote:\n%s", m)
		}
		got[m[i+9:i+19]]++
	}
	dups := 0
	for i := range n {
		k := fmt.Sprintf("queued-%03d", i)
		switch c := got[k]; {
		case c == 0:
			t.Errorf("%s never reached Postfix", k)
		case c > 1:
			dups += c - 1
		}
	}
	if dups > 3*20 { // at most what was in flight at each kill
		t.Errorf("%d duplicates after 3 kills", dups)
	}
	t.Logf("%d messages, all delivered (%d before the last start); %d duplicates after 3 kills", n, before, dups)
}
