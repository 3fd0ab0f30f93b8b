package wire

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestAppendStreamsTheMessage(t *testing.T) {
	msg := "Subject: hi\r\n\r\nbody\r\n"
	in := "a APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {21}\r\n" + msg + "\r\nb NOOP\r\n"
	r, conts := newTestReader(in, Limits{})
	var asked int64
	r.AppendLimit = func(n int64) error { asked = n; return nil }
	cmd, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	a := cmd.Args.(*Append)
	m := a.Message
	if a.Mailbox != "saved-messages" || m.Size != 21 || asked != 21 || *conts != 1 {
		t.Fatalf("got %+v %+v asked=%d conts=%d", a, m, asked, *conts)
	}
	if len(m.Flags) != 1 || m.Flags[0] != `\Seen` || !m.HasDate || !m.Date.Equal(time.Date(1994, 2, 8, 5, 52, 25, 0, time.UTC)) {
		t.Errorf("flags/date: %+v", m)
	}
	body, err := io.ReadAll(m.Body)
	if err != nil || string(body) != msg {
		t.Fatalf("body %q %v", body, err)
	}
	next, err := r.NextAppend()
	if err != nil || next != nil {
		t.Fatalf("NextAppend: %v %v", next, err)
	}
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Fatalf("next: %v %v", cmd, err)
	}
}

func TestMultiAppendAndLiteral8(t *testing.T) {
	in := "a APPEND INBOX ~{3+}\r\n\x00\x01\x02 (\\Draft) UTF8 (~{3}\r\nhé)\r\nb NOOP\r\n"
	r, conts := newTestReader(in, Limits{})
	cmd, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	m := cmd.Args.(*Append).Message
	if !m.Binary || m.Size != 3 {
		t.Fatalf("%+v", m)
	}
	m, err = r.NextAppend() // Body left unread: NextAppend drops it
	if err != nil || m == nil || !m.UTF8 || m.Flags[0] != `\Draft` {
		t.Fatalf("%+v %v", m, err)
	}
	if b, _ := io.ReadAll(m.Body); string(b) != "hé" {
		t.Errorf("body %q", b)
	}
	if m, err = r.NextAppend(); m != nil || err != nil {
		t.Fatalf("%+v %v", m, err)
	}
	if *conts != 1 {
		t.Errorf("%d continuations", *conts)
	}
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Fatalf("next: %v %v", cmd, err)
	}
}

func TestAbortedAppendSkipsToTheNextCommand(t *testing.T) {
	in := "a APPEND INBOX {5}\r\nhello {5}\r\nb NOOP\r\n"
	r, conts := newTestReader(in, Limits{})
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	// The server gives up (store failed): the second message is never
	// asked for, so the line after it is a new command.
	cmd, err := r.ReadCommand()
	if err != nil || cmd.Name != "NOOP" || *conts != 1 {
		t.Fatalf("%v %v conts=%d", cmd, err, *conts)
	}
}

// hugeReader is an endless source of one byte: a client that keeps
// sending.
type hugeReader struct{ n int64 }

func (h *hugeReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	h.n += int64(len(p))
	return len(p), nil
}

func TestHugeAppendIsRefusedBeforeItsData(t *testing.T) {
	limit := errors.New("over the limit")
	for _, tc := range []struct {
		in   string
		kind Kind
	}{
		{"a APPEND INBOX {4294967296}\r\nb NOOP\r\n", NO},
		{"a APPEND INBOX (\\Seen) ~{4294967296}\r\nb NOOP\r\n", NO},
		{"a APPEND INBOX {4294967296+}\r\n", BYE},
	} {
		src := io.MultiReader(strings.NewReader(tc.in), &hugeReader{})
		r := NewReader(newBufReader(src), Limits{})
		conts := 0
		r.Continue = func() error { conts++; return nil }
		r.AppendLimit = func(n int64) error {
			if n > 50<<20 {
				return limit
			}
			return nil
		}
		_, err := r.ReadCommand()
		var e *Error
		if !errors.As(err, &e) || e.Kind != tc.kind || e.Code != "TOOBIG" || conts != 0 {
			t.Errorf("%q: got %v, conts=%d", tc.in, err, conts)
			continue
		}
		if tc.kind == NO {
			if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
				t.Errorf("%q: next: %v %v", tc.in, cmd, err)
			}
		}
	}
}

func TestAppendLimitCanAnswerItsOwnError(t *testing.T) {
	r, _ := newTestReader("a APPEND INBOX {10}\r\n", Limits{})
	r.AppendLimit = func(int64) error { return &Error{Kind: NO, Code: CodeOverQuota, Text: "quota"} }
	_, err := r.ReadCommand()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeOverQuota || e.Tag != "a" {
		t.Fatalf("got %v", err)
	}
}
