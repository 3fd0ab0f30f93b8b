package imapd

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

func TestCoalescedWritesArriveWholeInFewSendsAndPushesAreNotHeldBack(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	cc := &countingConn{Conn: a}
	c := &coalescingConn{Conn: cc}
	got := make(chan string, 1)
	go func() {
		r := bufio.NewReader(b)
		var sb strings.Builder
		for range 1001 {
			l, err := r.ReadString('\n')
			if err != nil {
				break
			}
			sb.WriteString(l)
		}
		got <- sb.String()
	}()
	var want strings.Builder
	for i := range 1000 {
		line := "* " + strings.Repeat("x", i%50) + " FETCH (FLAGS (\\Seen))\r\n"
		want.WriteString(line)
		c.Write([]byte(line))
	}
	// A push with no read after it still goes out by itself, promptly.
	c.Write([]byte("* 1001 EXISTS\r\n"))
	want.WriteString("* 1001 EXISTS\r\n")
	select {
	case s := <-got:
		if s != want.String() {
			t.Fatalf("received %d bytes, want %d, in order", len(s), want.Len())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("buffered output was never sent")
	}
	if cc.writes > 10 {
		t.Errorf("1001 lines took %d sends", cc.writes)
	}
	c.Close()
}

// LOGOUT over STARTTLS: the last responses and TLS's close_notify are
// still in the buffer when tls.Conn.Close sets the deadline to "now".
func TestWhatIsPendingStillGoesOutOnCloseAfterADeadlineOfNow(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := CoalesceWrites(l).Accept()
		if err != nil {
			return
		}
		c.Write([]byte("* BYE Logging out\r\na OK LOGOUT completed\r\n"))
		c.SetWriteDeadline(time.Now())
		c.Close()
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if string(b) != "* BYE Logging out\r\na OK LOGOUT completed\r\n" {
		t.Errorf("received %q", b)
	}
}

// Write deadlines are only recorded, but a send still honours the one in
// force: a client that stops reading cannot hold a session forever.
func TestASendToAClientThatDoesNotReadEndsAtTheWriteDeadline(t *testing.T) {
	a, b := net.Pipe() // nobody reads b
	defer b.Close()
	c := &coalescingConn{Conn: a}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		_, err = c.Write(make([]byte, coalesceLimit))
	}
	if err == nil {
		t.Fatal("writing 256 KiB to a client that reads nothing succeeded")
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the send gave up after %v", d)
	}
}
