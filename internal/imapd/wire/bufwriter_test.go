package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A BufWriter sends what it was given in order, whatever the sizes of the
// writes, and holds no buffer once flushed.
func TestBufWriterKeepsOrderAndLetsGoOfItsBuffer(t *testing.T) {
	var out bytes.Buffer
	w := NewBufWriter(&out)
	var want strings.Builder
	for i, n := range []int{0, 1, 100, BufSize - 1, 1, BufSize, 3 * BufSize, 7} {
		s := strings.Repeat(string(rune('a'+i)), n)
		want.WriteString(s)
		switch i % 3 {
		case 0:
			if _, err := w.WriteString(s); err != nil {
				t.Fatal(err)
			}
		case 1:
			if _, err := w.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		default:
			for j := range len(s) {
				if err := w.WriteByte(s[j]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatalf("got %d bytes, want %d (or different bytes)", out.Len(), want.Len())
	}
	if w.buf != nil || w.pooled != nil || w.Buffered() != 0 {
		t.Fatal("a flushed BufWriter still holds a buffer")
	}
}

type failAfter struct{ n int }

var errBroken = errors.New("broken pipe")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBroken
	}
	f.n--
	return len(p), nil
}

// The first write error sticks: later writes and flushes return it.
func TestBufWriterErrorSticks(t *testing.T) {
	w := NewBufWriter(&failAfter{n: 1})
	if _, err := w.Write(make([]byte, BufSize)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("x"); err != nil {
		t.Fatal(err) // buffered only
	}
	if err := w.Flush(); !errors.Is(err, errBroken) {
		t.Fatalf("flush: %v", err)
	}
	if err := w.WriteByte('y'); !errors.Is(err, errBroken) {
		t.Fatalf("write after the error: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, errBroken) {
		t.Fatalf("second flush: %v", err)
	}
}

// WriteUint formats in place, also when the number does not fit in
// what is left of the buffer.
func TestBufWriterWriteUint(t *testing.T) {
	for _, pad := range []int{0, 1, BufSize - 20, BufSize - 5, BufSize - 1, BufSize} {
		var out bytes.Buffer
		w := NewBufWriter(&out)
		w.WriteString(strings.Repeat("x", pad))
		for _, n := range []uint64{0, 7, 18446744073709551615} {
			if err := w.WriteUint(n); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := out.String()[pad:]; got != "0718446744073709551615" || out.Len() != pad+22 {
			t.Errorf("pad %d: %q", pad, got)
		}
	}
}
