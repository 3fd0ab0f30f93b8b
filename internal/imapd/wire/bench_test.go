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

// benchLarge is a 40 MiB message as a mail app sends a video: a text
// part and a base64 attachment in a multipart/mixed.
func benchLarge() []byte {
	var m bytes.Buffer
	m.WriteString("Subject: the school trip\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThe video of the day.\r\n--b1\r\nContent-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := bytes.Repeat([]byte("QUJD"), 19)
	for m.Len() < 40<<20 {
		m.Write(line)
		m.WriteString("\r\n")
	}
	m.WriteString("--b1--\r\n")
	return m.Bytes()
}

// BenchmarkWalkStructure40MiB is the streamed walk of a large message,
// BenchmarkExtractBodyStructure40MiB the parse of it held whole (which
// the walk's reads from the store add to, and its memory does not).
func BenchmarkWalkStructure40MiB(b *testing.B) {
	msg := benchLarge()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WalkStructure(bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExtractBodyStructure40MiB(b *testing.B) {
	msg := benchLarge()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		ExtractBodyStructure(msg)
	}
}
