package inflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// bitWriter crafts streams bit by bit, least significant bit first.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) put(v uint64, n uint) *bitWriter {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
	return w
}

// code puts a Huffman code, most significant bit first.
func (w *bitWriter) code(c uint64, n uint) *bitWriter {
	for i := int(n) - 1; i >= 0; i-- {
		w.put(c>>uint(i)&1, 1)
	}
	return w
}

func (w *bitWriter) align() *bitWriter {
	if w.n > 0 {
		w.put(0, 8-w.n)
	}
	return w
}

func (w *bitWriter) raw(b ...byte) *bitWriter {
	w.align()
	w.buf = append(w.buf, b...)
	return w
}

func (w *bitWriter) bytes() []byte { return append(w.align().buf, 0, 0) } // padding past the end

func bw() *bitWriter { return &bitWriter{} }

// Fixed codes (RFC 1951 3.2.6) for the crafted streams.
func lit(w *bitWriter, b byte) *bitWriter {
	if b < 144 {
		return w.code(0x30+uint64(b), 8)
	}
	return w.code(0x190+uint64(b-144), 9)
}

func sym7(w *bitWriter, s int) *bitWriter { return w.code(uint64(s-256), 7) } // 256..279

// dyn starts a dynamic block whose code length code gives 1 bit to each
// of the two code length symbols a < b.
func dyn(final uint64, nlit, ndist int, a, b int) *bitWriter {
	w := bw().put(final, 1).put(2, 2).put(uint64(nlit-257), 5).put(uint64(ndist-1), 5).put(15, 4)
	for _, s := range clOrder {
		l := uint64(0)
		if int(s) == a || int(s) == b {
			l = 1
		}
		w.put(l, 3)
	}
	return w
}

func TestReaderTable(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		in         []byte
		err        string // substring of the error; "" = io.EOF after want
	}{
		{"empty stored", "", bw().put(1, 1).put(0, 2).raw(0, 0, 0xff, 0xff).bytes(), ""},
		{"stored", "hello", bw().put(1, 1).put(0, 2).raw(5, 0, 0xfa, 0xff).raw([]byte("hello")...).bytes(), ""},
		{"fixed literal", "a", sym7(lit(bw().put(1, 1).put(1, 2), 'a'), 256).bytes(), ""},
		{"fixed high literal", "\xff", sym7(lit(bw().put(1, 1).put(1, 2), 0xff), 256).bytes(), ""},
		{"overlapping match", "aaaaaaaaaaa", sym7(sym7(lit(bw().put(1, 1).put(1, 2), 'a'), 264).code(0, 5), 256).bytes(), ""},
		{"length with extra bits", strings.Repeat("ab", 8),
			sym7(sym7(lit(lit(bw().put(1, 1).put(1, 2), 'a'), 'b'), 266).put(1, 1).code(1, 5), 256).bytes(), ""}, // 13+1 bytes, 2 back
		{"stored then fixed", "abc", sym7(lit(bw().put(0, 1).put(0, 2).raw(2, 0, 0xfd, 0xff, 'a', 'b').put(1, 1).put(1, 2), 'c'), 256).bytes(), ""},
		{"trailing bytes after final ignored", "", append(bw().put(1, 1).put(0, 2).raw(0, 0, 0xff, 0xff).bytes(), "junk"...), ""},

		{"empty input", "", nil, "unexpected EOF"},
		{"truncated stored", "he", bw().put(1, 1).put(0, 2).raw(5, 0, 0xfa, 0xff, 'h', 'e').buf, "unexpected EOF"},
		{"no final block", "a", sym7(lit(bw().put(0, 1).put(1, 2), 'a'), 256).align().buf, "unexpected EOF"},
		{"reserved block type", "", bw().put(1, 1).put(3, 2).bytes(), "reserved block type"},
		{"NLEN mismatch", "", bw().put(1, 1).put(0, 2).raw(5, 0, 0xfb, 0xff).bytes(), "does not match"},
		{"distance before start", "", sym7(sym7(bw().put(1, 1).put(1, 2), 257).code(0, 5), 256).bytes(), "before the start"},
		{"distance past window start", "a", sym7(sym7(lit(bw().put(1, 1).put(1, 2), 'a'), 257).code(1, 5), 256).bytes(), "before the start"},
		{"fixed length symbol 286", "", bw().put(1, 1).put(1, 2).code(0xc6, 8).bytes(), "bad length symbol"},
		{"fixed distance symbol 30", "a", sym7(lit(bw().put(1, 1).put(1, 2), 'a'), 257).code(30, 5).bytes(), "bad distance symbol"},
		{"too many literal codes", "", bw().put(1, 1).put(2, 2).put(30, 5).put(0, 5).put(0, 4).bytes(), "literal/length"},
		{"too many distance codes", "", bw().put(1, 1).put(2, 2).put(0, 5).put(30, 5).put(0, 4).bytes(), "distance codes"},
		{"over-subscribed code length code", "", func() []byte {
			w := bw().put(1, 1).put(2, 2).put(0, 5).put(0, 5).put(15, 4)
			for range 19 {
				w.put(1, 3)
			}
			return w.bytes()
		}(), "bad code length code"},
		{"incomplete code length code", "", bw().put(1, 1).put(2, 2).put(0, 5).put(0, 5).put(0, 4).put(0, 3).put(0, 3).put(0, 3).put(2, 3).bytes(), "bad code length code"},
		{"repeat with nothing before", "", dyn(1, 257, 1, 16, 17).code(0, 1).put(0, 2).bytes(), "no previous"},
		{"no end-of-block code", "", dyn(1, 257, 1, 17, 18).code(1, 1).put(127, 7).code(1, 1).put(109, 7).bytes(), "end-of-block"},
		{"repeat past the end", "", dyn(1, 257, 1, 17, 18).code(1, 1).put(127, 7).code(1, 1).put(127, 7).bytes(), "past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := io.ReadAll(NewReader(bytes.NewReader(tc.in)))
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one with %q", err, tc.err)
			}
			var ce *CorruptError
			if tc.err != "" && tc.err != "unexpected EOF" && !errors.As(err, &ce) {
				t.Errorf("error %T is no *CorruptError", err)
			}
		})
	}
}

// texts gives data of several kinds and sizes: text that compresses
// well, random bytes, runs, and sizes around the window.
func texts() map[string][]byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("From: To: Subject: Received: by with ESMTP id for the a mailbox INBOX FLAGS \\Seen UID FETCH")
	var text bytes.Buffer
	for text.Len() < 150<<10 {
		text.WriteString(words[rnd.IntN(len(words))])
		if rnd.IntN(12) == 0 {
			text.WriteString("\r\n")
		} else {
			text.WriteByte(' ')
		}
	}
	random := make([]byte, 100<<10)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	return map[string][]byte{
		"empty":  {},
		"one":    {'x'},
		"text":   text.Bytes(),
		"random": random,
		"run":    bytes.Repeat([]byte{'z'}, 70000),
		"window": text.Bytes()[:windowSize+1],
		"mixed":  append(append(append([]byte{}, text.Bytes()[:50000]...), random[:20000]...), text.Bytes()[:50000]...),
	}
}

// writers keeps compress/flate writers (large) per level, for the fuzzer.
var writers = func() (p [12]*sync.Pool) {
	for i := range p {
		p[i] = &sync.Pool{New: func() any {
			w, err := flate.NewWriter(io.Discard, i-2)
			if err != nil {
				panic(err)
			}
			return w
		}}
	}
	return p
}()

// deflate compresses data at level, with a sync flush (Flush) after each
// piece of size flushEvery (0: none).
func deflate(t testing.TB, data []byte, level, flushEvery int) []byte {
	var buf bytes.Buffer
	w := writers[level+2].Get().(*flate.Writer)
	defer writers[level+2].Put(w)
	w.Reset(&buf)
	for len(data) > 0 {
		n := len(data)
		if flushEvery > 0 {
			n = min(n, flushEvery)
		}
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		if flushEvery > 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		data = data[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripWithCompressFlate(t *testing.T) {
	for name, data := range texts() {
		for level := flate.HuffmanOnly; level <= flate.BestCompression; level++ {
			for _, every := range []int{0, 1000, 7} {
				if every == 7 && len(data) > 20000 {
					continue
				}
				z := deflate(t, data, level, every)
				readers := map[string]io.Reader{
					"whole":    bytes.NewReader(z),
					"one byte": iotest.OneByteReader(bytes.NewReader(z)),
					"half":     iotest.HalfReader(bytes.NewReader(z)),
					"data+EOF": iotest.DataErrReader(bytes.NewReader(z)),
				}
				for rn, src := range readers {
					got, err := io.ReadAll(NewReader(src))
					if err != nil || !bytes.Equal(got, data) {
						t.Errorf("%s level %d flush %d, %s: %d bytes (want %d), err %v", name, level, every, rn, len(got), len(data), err)
					}
				}
			}
		}
	}
}

// A small p gets every byte, in order, through copyOut's wrap.
func TestSmallReads(t *testing.T) {
	data := texts()["text"]
	r := NewReader(bytes.NewReader(deflate(t, data, 6, 0)))
	got, err := io.ReadAll(iotest.OneByteReader(r))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes, err %v", len(got), err)
	}
}

func TestSourceErrorIsReturnedAndRetried(t *testing.T) {
	z := deflate(t, []byte("hello, world"), 6, 0)
	boom := errors.New("boom")
	src := io.MultiReader(bytes.NewReader(z[:3]), iotest.ErrReader(boom))
	r := NewReader(src)
	got, err := io.ReadAll(r)
	if !errors.Is(err, boom) {
		t.Fatalf("got %q, err %v, want boom", got, err)
	}
}

func TestReaderAllocatesNothingPerRead(t *testing.T) {
	data := texts()["text"]
	r := NewReader(bytes.NewReader(deflate(t, data, 6, 1000)))
	buf := make([]byte, 1024)
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		m, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		n += m
	})
	if allocs > 0 || n < 100*500 { // the flushes every 1000 bytes end some Reads early
		t.Errorf("%v allocations per Read; %d bytes read", allocs, n)
	}
}

func ExampleNewReader() {
	var z bytes.Buffer
	w, err := flate.NewWriter(&z, flate.BestSpeed)
	if err != nil {
		panic(err)
	}
	if _, err := io.WriteString(w, "a1 NOOP\r\n"); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	b, err := io.ReadAll(NewReader(&z))
	fmt.Printf("%q %v\n", b, err)
	// Output: "a1 NOOP\r\n" <nil>
}
