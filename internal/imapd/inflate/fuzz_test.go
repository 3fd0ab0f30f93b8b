package inflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// maxOut bounds what a fuzzed stream may decode to.
const maxOut = 1 << 20

func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxOut))
	if err == nil && len(b) == maxOut {
		return nil, nil // too long to compare
	}
	return b, err
}

// FuzzInflate checks two things on each input: as a stream of its own,
// it never panics and decodes exactly when compress/flate does, to the
// same bytes; and data[1:] compressed by compress/flate at a level chosen by
// data[0] (with sync flushes when its high bit is set) decodes back.
func FuzzInflate(f *testing.F) {
	f.Add([]byte{0x01, 0x00, 0x00, 0xff, 0xff})
	f.Add([]byte("\x03hello, hello, hello"))
	f.Add([]byte("\x86a1 UID FETCH 1:* (FLAGS)\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := readAll(flate.NewReader(bytes.NewReader(data)))
		got, gerr := readAll(NewReader(bytes.NewReader(data)))
		if werr == nil && want != nil && (gerr != nil || !bytes.Equal(got, want)) {
			t.Fatalf("compress/flate reads %d bytes; we read %d, err %v", len(want), len(got), gerr)
		}
		if gerr == nil && got != nil && werr != nil {
			t.Fatalf("we read %d bytes where compress/flate fails: %v", len(got), werr)
		}
		if len(data) == 0 {
			return
		}
		level := int(data[0]&0x7f)%12 - 2
		every := 0
		if data[0]&0x80 != 0 {
			every = 1 + len(data)/3
		}
		z := deflate(t, data[1:], level, every)
		got, gerr = readAll(NewReader(bytes.NewReader(z)))
		if gerr != nil || !bytes.Equal(got, data[1:]) {
			t.Fatalf("level %d flush %d: %d bytes (want %d), err %v", level, every, len(got), len(data)-1, gerr)
		}
	})
}

func benchData(b *testing.B, level int) ([]byte, []byte) {
	data := texts()["text"]
	return data, deflate(b, data, level, 0)
}

func benchRead(b *testing.B, level int, newReader func(io.Reader) io.Reader) {
	data, z := benchData(b, level)
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := newReader(bytes.NewReader(z))
		n := 0
		for {
			m, err := r.Read(buf)
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if n != len(data) {
			b.Fatalf("%d bytes", n)
		}
	}
}

func BenchmarkInflate(b *testing.B) {
	for _, level := range []int{1, 6} {
		b.Run("ours/level"+string(rune('0'+level)), func(b *testing.B) {
			benchRead(b, level, func(r io.Reader) io.Reader { return NewReader(r) })
		})
		b.Run("compress-flate/level"+string(rune('0'+level)), func(b *testing.B) {
			benchRead(b, level, func(r io.Reader) io.Reader { return flate.NewReader(r) })
		})
	}
}
