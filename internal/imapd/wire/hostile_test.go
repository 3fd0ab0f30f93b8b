package wire

import (
	"bufio"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 4096) }

// heapGrowth runs f and returns how many bytes were allocated.
func heapGrowth(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func wantError(t *testing.T, err error, kind Kind, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind || e.Code != code {
		t.Fatalf("got %v, want %v [%s]", err, kind, code)
	}
}

func TestMillionMessageSequenceSet(t *testing.T) {
	var cmd *Command
	var err error
	grew := heapGrowth(func() {
		r, _ := newTestReader("a UID FETCH 1:1000000,1:* (FLAGS)\r\n", Limits{})
		cmd, err = r.ReadCommand()
	})
	if err != nil {
		t.Fatal(err)
	}
	s := cmd.Args.(*Fetch).Seq
	if len(s.Ranges) != 2 || !s.Contains(999999, 5) || s.Contains(2000000, 1500000) {
		t.Errorf("%+v", s)
	}
	if grew > 64<<10 {
		t.Errorf("parsing a million-message set allocated %d bytes", grew)
	}
}

func TestTenThousandNestedParens(t *testing.T) {
	for _, in := range []string{
		"a SEARCH " + strings.Repeat("(", 10000) + "ALL" + strings.Repeat(")", 10000) + "\r\nb NOOP\r\n",
		"a SEARCH " + strings.Repeat("NOT ", 10000) + "ALL\r\nb NOOP\r\n",
		"a FETCH 1 " + strings.Repeat("(", 10000) + "\r\nb NOOP\r\n",
	} {
		var err error
		var r *Reader
		grew := heapGrowth(func() {
			r, _ = newTestReader(in, Limits{})
			_, err = r.ReadCommand()
		})
		if strings.HasPrefix(in, "a FETCH") {
			wantError(t, err, BAD, "") // a fetch att cannot start with "("
		} else {
			wantError(t, err, BAD, "LIMIT")
		}
		if grew > 1<<20 {
			t.Errorf("%.20q: allocated %d bytes", in, grew)
		}
		if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
			t.Errorf("next: %v %v", cmd, err)
		}
	}
}

func TestOneMebibyteLine(t *testing.T) {
	in := "a LOGIN " + strings.Repeat("x", 1<<20) + " y\r\nb NOOP\r\n"
	var r *Reader
	var err error
	grew := heapGrowth(func() {
		r, _ = newTestReader(in, Limits{})
		_, err = r.ReadCommand()
	})
	wantError(t, err, BAD, "TOOBIG")
	if grew > 512<<10 {
		t.Errorf("allocated %d bytes", grew)
	}
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Errorf("next: %v %v", cmd, err)
	}
}

func TestEndlessLineIsBye(t *testing.T) {
	src := io.MultiReader(strings.NewReader("a LOGIN "), &hugeReader{})
	r := NewReader(newBufReader(src), Limits{})
	_, err := r.ReadCommand()
	wantError(t, err, BYE, "TOOBIG")
}

func TestFourGiBLiteralAnnouncement(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind Kind
	}{
		{"a LOGIN {4294967296}\r\nb NOOP\r\n", BAD},
		{"a LOGIN x {4294967296+}\r\n", BYE},
		{"a SEARCH TEXT {4294967296}\r\nb NOOP\r\n", BAD},
		{"a APPEND INBOX {4294967296}\r\nb NOOP\r\n", NO},
	} {
		src := io.MultiReader(strings.NewReader(tc.in), &hugeReader{})
		var r *Reader
		var err error
		grew := heapGrowth(func() {
			r = NewReader(newBufReader(src), Limits{})
			r.Continue = func() error { t.Error("continuation sent"); return nil }
			_, err = r.ReadCommand()
		})
		wantError(t, err, tc.kind, "TOOBIG")
		if grew > 64<<10 {
			t.Errorf("%q: allocated %d bytes", tc.in, grew)
		}
		if tc.kind != BYE {
			if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
				t.Errorf("%q: next: %v %v", tc.in, cmd, err)
			}
		}
	}
}

func TestTooManyArguments(t *testing.T) {
	in := "a SEARCH" + strings.Repeat(" SEEN", 10001) + "\r\nb NOOP\r\n"
	r, _ := newTestReader(in, Limits{})
	_, err := r.ReadCommand()
	wantError(t, err, BAD, "LIMIT")
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Errorf("next: %v %v", cmd, err)
	}
}

func TestTotalLiteralBytesPerCommand(t *testing.T) {
	lit := "{60000+}\r\n" + strings.Repeat("x", 60000)
	in := "a SEARCH TEXT " + lit + " TEXT " + lit + " TEXT " + lit + " TEXT " + lit + " TEXT " + lit + "\r\nb NOOP\r\n"
	r, _ := newTestReader(in, Limits{})
	_, err := r.ReadCommand()
	wantError(t, err, BAD, "TOOBIG")
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Errorf("next: %v %v", cmd, err)
	}
}

func TestBadLineWithNonSyncLiteralIsSkippedWhole(t *testing.T) {
	// The error comes before the literal; its data must not be read as
	// a command.
	in := "a FROB {9+}\r\nc LOGOUT\r\nb NOOP\r\n"
	r, _ := newTestReader(in, Limits{})
	_, err := r.ReadCommand()
	wantError(t, err, BAD, "")
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Errorf("next: %v %v", cmd, err)
	}
}
