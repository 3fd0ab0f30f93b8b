package smtpd

import (
	"bytes"
	"io"
	"testing"
)

func TestNormalizeLineEndings(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb\r\n":        "a\r\nb\r\n",
		"a\nb\n":            "a\r\nb\r\n",
		"a\rb\r":            "a\r\nb\r\n",
		"a\n.\nb":           "a\r\n.\r\nb",
		"a\r.\rb":           "a\r\n.\r\nb",
		"a\r\n.\nb\n.\r\nc": "a\r\n.\r\nb\r\n.\r\nc",
		"\r\r\n\n":          "\r\n\r\n\r\n",
		"":                  "",
	} {
		if got := normalizeLineEndings([]byte(in)); string(got) != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizeLineEndings(f *testing.F) {
	f.Add([]byte("a\r\n.\n\r.\r"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := normalizeLineEndings(b)
		// Every CR is followed by LF and every LF preceded by CR.
		for i, c := range out {
			if c == '\r' && (i+1 >= len(out) || out[i+1] != '\n') || c == '\n' && (i == 0 || out[i-1] != '\r') {
				t.Fatalf("bare line ending at %d in %q (from %q)", i, out, b)
			}
		}
		// Nothing but line endings changes.
		strip := func(x []byte) []byte {
			return bytes.ReplaceAll(bytes.ReplaceAll(x, []byte("\r"), nil), []byte("\n"), nil)
		}
		if !bytes.Equal(strip(out), strip(b)) {
			t.Fatalf("content changed: %q -> %q", b, out)
		}
	})
}

// oneByOne yields its data in reads of at most n bytes, then err.
type oneByOne struct {
	data []byte
	n    int
	err  error
}

func (r *oneByOne) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n, len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

func TestReadMessageKeepsEveryByteAcrossChunks(t *testing.T) {
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		data := bytes.Repeat([]byte("0123456789abcdef\r\n"), size/18+1)[:size]
		for _, step := range []int{7, 4096, chunkSize} {
			got, err := readMessage(&oneByOne{data: data, n: step, err: io.EOF}, []byte("Received: x\r\n"))
			if err != nil || !bytes.Equal(got, append([]byte("Received: x\r\n"), data...)) {
				t.Fatalf("size %d in reads of %d: %d bytes, %v", size, step, len(got), err)
			}
		}
	}
}

func TestAConnectionLostInDataIsAnErrorNotTheEndOfTheMessage(t *testing.T) {
	// go-smtp reports a client gone before CRLF.CRLF as io.ErrUnexpectedEOF.
	_, err := readMessage(&oneByOne{data: []byte("Subject: half"), n: 5, err: io.ErrUnexpectedEOF}, nil)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}
