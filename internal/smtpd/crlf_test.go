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
			got, _, err := readMessage(&oneByOne{data: data, n: step, err: io.EOF}, []byte("Received: x\r\n"), nil)
			if err != nil || !bytes.Equal(got[headroom:], append([]byte("Received: x\r\n"), data...)) {
				t.Fatalf("size %d in reads of %d: %d bytes, %v", size, step, len(got), err)
			}
		}
	}
}

func TestAConnectionLostInDataIsAnErrorNotTheEndOfTheMessage(t *testing.T) {
	// go-smtp reports a client gone before CRLF.CRLF as io.ErrUnexpectedEOF.
	_, _, err := readMessage(&oneByOne{data: []byte("Subject: half"), n: 5, err: io.ErrUnexpectedEOF}, nil, nil)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestAMessageTheBudgetCannotHoldIsReadToItsEndAndHoldsNothing(t *testing.T) {
	b := NewDataBudget(4 * chunkSize)
	if !b.take(3*chunkSize, 3*chunkSize) {
		t.Fatal("3 chunks of a 4-chunk budget refused")
	}
	big := &oneByOne{data: bytes.Repeat([]byte("x"), 3*chunkSize), n: 4096, err: io.EOF}
	if _, held, err := readMessage(big, nil, b); err != errNoBudget || held != 0 {
		t.Fatalf("a message over the budget: held %d, %v; want 0, errNoBudget", held, err)
	}
	if len(big.data) != 0 {
		t.Errorf("%d bytes of the refused message left unread: the next command would be read from them", len(big.data))
	}
	// A small message still fits, in the reserve big ones cannot use.
	small := &oneByOne{data: bytes.Repeat([]byte("y"), 2*chunkSize), n: 4096, err: io.EOF}
	_, held, err := readMessage(small, nil, b)
	if err != nil || held != 3*chunkSize {
		t.Fatalf("a small message with the budget full: held %d, %v", held, err)
	}
	b.give(held)
	b.give(3 * chunkSize)
	if b.held != 0 {
		t.Errorf("%d bytes still held after everything was given back", b.held)
	}
}

func TestFieldsAddedAtTheEndOfDataGoInFrontOfTheMessageWithoutACopy(t *testing.T) {
	buf, _, err := readMessage(&oneByOne{data: []byte("Subject: hi\r\n\r\nbody\r\n"), n: 5, err: io.EOF}, []byte("Received: x\r\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := buf[headroom:]
	trace, body := msg[:13], msg[13:]
	want := "DKIM-Signature: s\r\nAuthentication-Results: a\r\nReceived: x\r\nSubject: hi\r\n\r\nbody\r\n"
	got := assemble(buf, []byte("DKIM-Signature: s\r\n"), []byte("Authentication-Results: a\r\n"), trace, body)
	if string(got) != want {
		t.Fatalf("in place: %q", got)
	}
	if &got[len(got)-1] != &buf[len(buf)-1] {
		t.Error("the message was copied although the headroom had room")
	}
	// Without room in front (a body normalised into a new slice) the
	// fields are joined into a new message.
	other := []byte("Subject: hi\r\n\r\nbody\r\n")
	if got := assemble(buf, nil, []byte("A: b\r\n"), []byte("Received: x\r\n"), other); string(got) != "A: b\r\nReceived: x\r\nSubject: hi\r\n\r\nbody\r\n" {
		t.Errorf("joined: %q", got)
	}
}
