package imapd

import (
	"bufio"
	"compress/flate"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// partialFlusher writes a raw deflate stream the way zlib does when each
// batch ends with Z_PARTIAL_FLUSH (mbsync): the batch as a non-final
// fixed-Huffman block, then an empty fixed block of 10 bits whose bits
// past the last whole byte stay unsent until the next batch.
type partialFlusher struct {
	w   io.Writer
	acc uint64
	n   uint
}

func (p *partialFlusher) bits(v uint64, n uint) {
	p.acc |= v << p.n
	p.n += n
}

// code puts a Huffman code, most significant bit first (RFC 1951 3.1.1).
func (p *partialFlusher) code(c uint64, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		p.bits(c>>uint(i)&1, 1)
	}
}

func (p *partialFlusher) send(t *testing.T, s string) {
	t.Helper()
	var out []byte
	put := func() {
		for p.n >= 8 {
			out = append(out, byte(p.acc))
			p.acc >>= 8
			p.n -= 8
		}
	}
	p.bits(0, 1) // not final
	p.bits(1, 2) // fixed codes (RFC 1951 3.2.6)
	for _, b := range []byte(s) {
		if b < 144 {
			p.code(0x30+uint64(b), 8)
		} else {
			p.code(0x190+uint64(b-144), 9)
		}
		put()
	}
	p.code(0, 7) // end of block
	p.bits(0, 1) // the partial flush's empty fixed block
	p.bits(1, 2)
	p.code(0, 7)
	put()
	if _, err := p.w.Write(out); err != nil {
		t.Fatal(err)
	}
}

// A client that ends each batch of commands with a zlib partial flush, as
// mbsync does, gets every command answered though the flush's last bits
// arrive only with its next batch; and COMPRESS=DEFLATE is advertised
// once logged in.
func TestCompressDeflateWithPartialFlushes(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("zip", "compress me"))
	c := loginRaw(t, ts, false)
	if caps := strings.Join(c.cmd("c", "CAPABILITY"), " "); !strings.Contains(caps, " COMPRESS=DEFLATE") {
		t.Errorf("COMPRESS=DEFLATE not advertised: %q", caps)
	}
	if l := c.cmd("z", "COMPRESS DEFLATE"); !strings.HasPrefix(l[len(l)-1], "z OK") {
		t.Fatalf("COMPRESS: %q", l)
	}
	// A stall fails fast instead of at the 10 s deadline.
	if err := c.conn.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	zw := &partialFlusher{w: c.conn}
	zc := &rawConn{t: t, conn: c.conn, r: bufio.NewReader(flate.NewReader(c.conn))}
	zw.send(t, "a SELECT INBOX\r\n")
	if l := zc.until("a "); !strings.HasPrefix(l[len(l)-1], "a OK") {
		t.Errorf("SELECT: %q", l)
	}
	zw.send(t, "b FETCH 1 (BODY.PEEK[TEXT])\r\n")
	if l := strings.Join(zc.until("b "), "\n"); !strings.Contains(l, "compress me") || !strings.Contains(l, "b OK") {
		t.Errorf("FETCH: %q", l)
	}
	zw.send(t, "c1 NOOP\r\nc2 NOOP\r\n")
	zc.until("c1 OK")
	zc.until("c2 OK")
	zw.send(t, "d LOGOUT\r\n")
	if l := zc.until("d "); !strings.HasPrefix(l[len(l)-1], "d OK") {
		t.Errorf("LOGOUT: %q", l)
	}
}

// zlibBatches compresses each batch with Python's zlib (raw deflate, the
// library mbsync uses) and a Z_PARTIAL_FLUSH after each.
func zlibBatches(t *testing.T, batches []string) [][]byte {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is needed to write zlib partial flushes")
		}
		t.Skip("no python3")
	}
	const script = `import json, sys, zlib
c = zlib.compressobj(6, zlib.DEFLATED, -15)
for b in json.load(sys.stdin):
    print((c.compress(b.encode()) + c.flush(zlib.Z_PARTIAL_FLUSH)).hex())
`
	in, err := json.Marshal(batches)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var res [][]byte
	for _, l := range strings.Fields(string(out)) {
		b, err := hex.DecodeString(l)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, b)
	}
	if len(res) != len(batches) {
		t.Fatalf("%d compressed batches for %d", len(res), len(batches))
	}
	return res
}

// The same with zlib itself, batches big enough for dynamic Huffman
// blocks (an APPEND of a long message).
func TestCompressDeflateWithZlibPartialFlushes(t *testing.T) {
	ts := startInsecure(t)
	ts.account(t, "bob@example.test")
	var body strings.Builder
	for i := range 400 {
		fmt.Fprintf(&body, "line %d of a message that compresses with its own codes\r\n", i*i)
	}
	msg := "Subject: long\r\n\r\n" + body.String()
	batches := []string{
		"a SELECT INBOX\r\n",
		fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s\r\n", len(msg), msg),
		"c FETCH 1 (BODY.PEEK[TEXT]<0.20>)\r\n",
		"d NOOP\r\n",
		"e LOGOUT\r\n",
	}
	z := zlibBatches(t, batches)
	c := loginRaw(t, ts, false)
	if l := c.cmd("z", "COMPRESS DEFLATE"); !strings.HasPrefix(l[len(l)-1], "z OK") {
		t.Fatalf("COMPRESS: %q", l)
	}
	if err := c.conn.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	zc := &rawConn{t: t, conn: c.conn, r: bufio.NewReader(flate.NewReader(c.conn))}
	for i, b := range z {
		if _, err := c.conn.Write(b); err != nil {
			t.Fatal(err)
		}
		tag := batches[i][:1]
		if l := zc.until(tag + " "); !strings.HasPrefix(l[len(l)-1], tag+" OK") {
			t.Errorf("batch %d: %q", i, l)
		}
	}
}
