package wire

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

func BenchmarkParseUIDFetch(b *testing.B) {
	line := []byte("a1 UID FETCH 1:* (FLAGS)\r\n")
	src := bytes.NewReader(line)
	br := bufio.NewReader(src)
	r := NewReader(br, Limits{})
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(line)
		br.Reset(src)
		cmd, err := r.ReadCommand()
		if err != nil || !cmd.UID {
			b.Fatal(cmd, err)
		}
	}
}

// BenchmarkEncodeFetchFlags writes 100,000 "* n FETCH (UID n FLAGS
// (\Seen))" lines per op: FETCH 1:* (FLAGS) on a 100k mailbox.
func BenchmarkEncodeFetchFlags(b *testing.B) {
	w := NewBufWriter(io.Discard)
	e := NewEncoder(w)
	flags := []string{`\Seen`}
	b.ReportAllocs()
	for b.Loop() {
		for n := uint32(1); n <= 100000; n++ {
			e.FetchStart(n).FetchUID(n).FetchFlags(flags)
			if err := e.FetchEnd(); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
