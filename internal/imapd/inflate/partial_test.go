package inflate

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

type flushCase struct {
	Name   string
	Chunks []struct{ Plain, Deflate string }
}

// zlibCases runs testdata/partial_flush.py: streams written by zlib the
// way mbsync writes its commands, a Z_PARTIAL_FLUSH after each.
func zlibCases(t testing.TB) []flushCase {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is needed for the zlib partial flush streams")
		}
		t.Skip("no python3")
	}
	out, err := exec.Command(py, "testdata/partial_flush.py").Output()
	if err != nil {
		t.Fatalf("partial_flush.py: %v", err)
	}
	var doc struct{ Cases []flushCase }
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cases
}

func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chunkPipe delivers, in order, exactly the chunks sent on ch, blocking
// as a socket does when the peer has sent nothing more.
type chunkPipe struct {
	ch  chan []byte
	cur []byte
}

func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		c, ok := <-p.ch
		if !ok {
			return 0, io.EOF
		}
		p.cur = c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// feed writes each chunk's deflate bytes and waits until the plain text
// of that chunk has been read before writing the next. It returns the
// first chunk not readable within wait (-1: none), and the error read
// after the last chunk.
func feed(t *testing.T, c flushCase, newReader func(io.Reader) io.Reader, wait time.Duration) (int, error) {
	p := &chunkPipe{ch: make(chan []byte, len(c.Chunks))}
	closePipe := sync.OnceFunc(func() { close(p.ch) })
	defer closePipe()
	type result struct {
		got []byte
		err error
	}
	results := make(chan result, len(c.Chunks)+1)
	next := make(chan int, len(c.Chunks)+1)
	go func() {
		r := newReader(p)
		for n := range next {
			if n < 0 {
				_, err := r.Read(make([]byte, 1))
				results <- result{nil, err}
				return
			}
			got := make([]byte, n)
			_, err := io.ReadFull(r, got)
			results <- result{got, err}
		}
	}()
	defer close(next)
	for i, ch := range c.Chunks {
		plain := unhex(t, ch.Plain)
		p.ch <- unhex(t, ch.Deflate)
		next <- len(plain)
		select {
		case res := <-results:
			if res.err != nil || !bytes.Equal(res.got, plain) {
				t.Fatalf("chunk %d: got %d bytes (want %d), err %v", i, len(res.got), len(plain), res.err)
			}
		case <-time.After(wait):
			return i, nil
		}
	}
	closePipe()
	next <- -1
	select {
	case res := <-results:
		return -1, res.err
	case <-time.After(wait):
		return -1, errors.New("stalled after the last chunk")
	}
}

// Each command of a client that ends its batches with Z_PARTIAL_FLUSH
// (mbsync) is readable before the client sends the next: the test
// compress/flate fails.
func TestPartialFlushedChunksAreReadableAtOnce(t *testing.T) {
	cases := zlibCases(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			stalled, err := feed(t, c, func(r io.Reader) io.Reader { return NewReader(r) }, 5*time.Second)
			if stalled >= 0 {
				t.Fatalf("chunk %d of %d not readable before the next was written", stalled, len(c.Chunks))
			}
			finished := c.Chunks[len(c.Chunks)-1].Plain == ""
			if finished && err != io.EOF || !finished && err != io.ErrUnexpectedEOF {
				t.Errorf("after the last chunk: %v", err)
			}
		})
	}
	t.Run("compress/flate for comparison", func(t *testing.T) {
		c := cases[0]
		stalled, _ := feed(t, c, func(r io.Reader) io.Reader { return flate.NewReader(r) }, 200*time.Millisecond)
		t.Logf("compress/flate: first chunk not readable in time: %d (-1: none)", stalled)
	})
}
