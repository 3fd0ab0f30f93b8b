package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A mail app that drops the connection in the middle of an APPEND leaves
// nothing behind, and the next session is served normally.
func TestADroppedAppendLeavesNothingBehind(t *testing.T) {
	b := newBox(t)
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAPS), insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	r.ReadString('\n')
	fmt.Fprintf(c, "a LOGIN %s %s\r\n", b.Admin, b.Password)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "a ") {
			break
		}
	}
	msg := "Subject: half a draft\r\n\r\n" + strings.Repeat("draft text\r\n", 1000)
	fmt.Fprintf(c, "b APPEND Drafts {%d}\r\n", len(msg))
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %q", l)
	}
	c.Write([]byte(msg[:len(msg)/2]))
	c.Close()
	time.Sleep(200 * time.Millisecond)
	if n := len(b.Mailbox(b.Admin, "Drafts")); n != 0 {
		t.Errorf("Drafts holds %d messages after a dropped APPEND", n)
	}
	ic := imapLogin(t, b)
	defer ic.Close()
	ac := ic.Append("Drafts", int64(len(msg)), nil)
	ac.Write([]byte(msg))
	ac.Close()
	if _, err := ac.Wait(); err != nil {
		t.Fatalf("a whole APPEND afterwards: %v", err)
	}
	if n := len(b.Mailbox(b.Admin, "Drafts")); n != 1 {
		t.Errorf("Drafts holds %d messages, want 1", n)
	}
}
