package test

// Several boxmail nodes on one PostgreSQL database (issue 23, phase 2a):
// the outbound queue is shared by claims with leases, and the defences
// (greylisting, login blocks) are the database's, so they hold on every
// node.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// kill9 kills a node without letting it finish anything.
func (b *Box) kill9() {
	b.cmd.Process.Kill()
	<-b.exited
	b.cmd = nil
}

// queueDirect queues n small messages (Subject: PREFIX-NNN) for
// anna@friends.example straight into the shared store.
func queueDirect(t *testing.T, b *Box, prefix string, n int) {
	t.Helper()
	st := testutil.StoreAt(t, b.Dir, store.Options{URL: b.StoreURL})
	defer st.Close()
	for i := range n {
		msg := fmt.Sprintf("From: me@example.test\r\nTo: anna@friends.example\r\nSubject: %s-%03d\r\n\r\n%s", prefix, i, strings.Repeat("line of text\r\n", 20))
		if err := st.Deliver(context.Background(), store.Delivery{Data: []byte(msg), Sender: "me@example.test", Remote: []string{"anna@friends.example"}}); err != nil {
			t.Fatal(err)
		}
	}
}

// sinkCounts counts the messages at the Postfix sink by subject, for the
// subjects that start with prefix.
func sinkCounts(p *Postfix, prefix string) map[string]int {
	got := map[string]int{}
	for _, m := range p.Mail("anna") {
		i := strings.Index(m, "Subject: "+prefix+"-")
		if i < 0 {
			continue
		}
		s := m[i+len("Subject: "):]
		if j := strings.IndexAny(s, "\r\n"); j >= 0 {
			s = s[:j]
		}
		got[s]++
	}
	return got
}

// exactlyOnce checks that PREFIX-000 ... PREFIX-(n-1) each arrived, and
// returns how many arrived more than once.
func exactlyOnce(t *testing.T, got map[string]int, prefix string, n int) (dups int) {
	t.Helper()
	for i := range n {
		k := fmt.Sprintf("%s-%03d", prefix, i)
		switch c := got[k]; {
		case c == 0:
			t.Errorf("%s never reached Postfix", k)
		case c > 1:
			dups += c - 1
			t.Logf("%s arrived %d times", k, c)
		}
	}
	return dups
}

// Two nodes share the outbound queue: with both alive every message
// leaves once; when the node delivering is killed -9 in the middle, the
// other takes its entries over when their claims end (2 s here, by the
// test hook) and delivers every message.
//
// The one window left is the one every MTA has (Postfix's own queue has
// it): the dead node's SMTP transaction got its 250 but the node died
// before committing the result. Such a message arrives twice, at most one
// per connection the dead node had open (max_per_domain, 2), and only
// across the kill, never while both nodes live.
func TestTwoNodesShareTheOutboundQueueAndAKilledNodesClaimsPassOn(t *testing.T) {
	t.Setenv("BOXMAIL_TEST_QUEUE_LEASE", "2s")
	p := startPostfix(t, "anna")
	settings := map[string]string{"transports": "friends.example=" + p.Addr, "retry_schedule": "1s"}
	nodes := startPGCluster(t, 2, settings)
	a, b := nodes[0], nodes[1]

	// Both nodes alive: exactly once.
	const live = 150
	queueDirect(t, a, "live", live)
	testutil.WaitFor(t, "Postfix to store the live messages", 60*time.Second, func() bool { return len(sinkCounts(p, "live")) >= live })
	testutil.WaitFor(t, "the queue to drain", 30*time.Second, func() bool { return len(a.Queue()) == 0 })
	if dups := exactlyOnce(t, sinkCounts(p, "live"), "live", live); dups > 0 {
		t.Errorf("%d messages delivered twice by two live nodes", dups)
	}
	for _, n := range nodes {
		if strings.Contains(n.stderr.String(), "lease lost") {
			t.Errorf("a node lost a lease while both lived:\n%s", n.stderr.String())
		}
	}

	// Node a alone starts delivering; it is killed in the middle; b,
	// started after, delivers the rest once a's claims end.
	b.Stop()
	const n = 400
	queueDirect(t, a, "kill", n)
	testutil.WaitFor(t, "a to start delivering", 30*time.Second, func() bool { return len(sinkCounts(p, "kill")) >= 20 })
	a.kill9()
	before := len(sinkCounts(p, "kill"))
	killed := time.Now()
	b.Start()
	testutil.WaitFor(t, "b to drain the queue", 60*time.Second, func() bool { return len(b.Queue()) == 0 })
	testutil.WaitFor(t, "Postfix to store all", 30*time.Second, func() bool { return len(sinkCounts(p, "kill")) >= n })
	if before >= n {
		t.Fatalf("a delivered all %d before the kill: the test did not kill it in the middle", n)
	}
	dups := exactlyOnce(t, sinkCounts(p, "kill"), "kill", n)
	if dups > 2 {
		t.Errorf("%d duplicates after one kill; at most one per open connection (2) may repeat", dups)
	}
	if !strings.Contains(b.stderr.String(), "delivered") {
		t.Errorf("node b delivered nothing:\n%s", b.stderr.String())
	}
	t.Logf("%d messages: %d delivered by a before kill -9, the rest by b (drained %.1fs after the kill), %d duplicates",
		n, before, time.Since(killed).Seconds(), dups)
}

// Greylisting, the POP3 maildrop lock and a login block taken through
// one node hold on the other.
func TestGreylistingAndLoginBlocksHoldAcrossNodes(t *testing.T) {
	nodes := startPGCluster(t, 2, map[string]string{"greylisting": "true", "greylist_delay": "6s", "auth_failure_delay": "20ms", "insecure_auth": "true"})
	a, b := nodes[0], nodes[1]

	if out, code := a.swaksFrom("127.0.0.2", "news@shop.example", a.Admin); code == 0 || !strings.Contains(out, "451 4.7.1") {
		t.Fatalf("first attempt, on a: exit %d\n%s", code, out)
	}
	// The retry on b before the delay is still early (b knows the triple
	// from the database and does not start over).
	if out, code := b.swaksFrom("127.0.0.2", "news@shop.example", b.Admin); code == 0 || !strings.Contains(out, "451 4.7.1") {
		t.Fatalf("early retry, on b: exit %d\n%s", code, out)
	}
	// (6 s: the early retry must stay early on a loaded machine.)
	time.Sleep(6100 * time.Millisecond)
	if out, code := b.swaksFrom("127.0.0.2", "news@shop.example", b.Admin); code != 0 {
		t.Fatalf("the retry after the delay, on b: exit %d\n%s", code, out)
	}
	if out, code := a.swaksFrom("127.0.0.2", "news@shop.example", a.Admin); code != 0 {
		t.Fatalf("the passed triple, back on a: exit %d\n%s", code, out)
	}

	// A POP3 session open on a keeps b's out until its QUIT.
	pop := func(n *Box) *Conn {
		c := n.Dial(n.POP3)
		c.Expect(`^\+OK`)
		c.Send("USER " + n.Admin)
		c.Expect(`^\+OK`)
		return c
	}
	c := pop(a)
	c.Send("PASS " + a.Password)
	c.Expect(`^\+OK`)
	d := pop(b)
	d.Send("PASS " + b.Password)
	d.Expect(`^-ERR \[IN-USE\]`)
	c.Send("QUIT")
	c.Expect(`^\+OK`)
	d.Send("USER " + b.Admin)
	d.Expect(`^\+OK`)
	d.Send("PASS " + b.Password)
	d.Expect(`^\+OK`)
	d.Send("QUIT")
	d.Expect(`^\+OK`)

	if ok, out := a.loginAttempts("imap", "127.0.0.1", 15); ok {
		t.Fatalf("15 wrong passwords then the right one on a: it got in\n%s", out)
	}
	if ok, out := b.loginAttempts("imap", "127.0.0.1", 0); ok {
		t.Errorf("the network blocked on a logged in on b:\n%s", out)
	}
	if ok, out := b.loginAttempts("pop3", "127.0.0.1", 0); ok {
		t.Errorf("the network blocked on a logged in over POP3 on b:\n%s", out)
	}
	if ok, out := b.loginAttempts("imap", "127.0.0.2", 0); !ok {
		t.Errorf("another network on b:\n%s", out)
	}
	if out, errs, code := b.Cmd("", "security", "unblock", "127.0.0.1"); code != 0 {
		t.Fatalf("security unblock: exit %d %s %s", code, out, errs)
	}
	for _, n := range nodes {
		if ok, out := n.loginAttempts("imap", "127.0.0.1", 0); !ok {
			t.Errorf("after unblock, a node still refuses:\n%s", out)
		}
	}
}
