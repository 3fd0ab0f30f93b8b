package mailmsg

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestBounds(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name, msg         string
		fieldsEnd, bodyAt int
	}{
		{"crlf", "A: 1\r\nB: 2\r\n\r\nbody\r\n", 12, 14},
		{"bare LF", "A: 1\nB: 2\n\nbody\n", 10, 11},
		{"mixed, LF line then CRLF empty line", "A: 1\nB: 2\r\n\r\nbody", 11, 13},
		{"mixed, CRLF line then LF empty line", "A: 1\r\n\nbody", 6, 7},
		{"mixed, bare-LF line then CRLF empty line", "A: 1\n\r\nbody", 5, 7},
		{"no body", "A: 1\r\n\r\n", 6, 8},
		{"no header", "\r\nbody\r\n\r\nmore", 0, 2},
		{"no header, bare LF", "\nbody", 0, 1},
		{"header only without blank line", "A: 1\r\nB: 2\r\n", 12, 12},
		{"header only without final line end", "A: 1\r\nB: 2", 10, 10},
		{"folded", "A: 1\r\n 2\r\n\t3\r\n\r\nbody", 14, 16},
		{"empty", "", 0, 0},
		{"lone CR", "\r", 1, 1},
		{"CR CR LF is not empty", "A: 1\r\n\r\r\nbody\r\n\r\nx", 15, 17},
		{"blank line of spaces is a continuation", "A: 1\r\n \r\nB: 2\r\n\r\n", 15, 17},
		{"NUL bytes", "A: \x00\r\n\x00\r\n\r\n\x00", 9, 11},
		{"very long line", "A: " + long + "\r\n\r\nb", 3 + len(long) + 2, 3 + len(long) + 4},
		{"CRLF CRLF not at a line start is still found", "A: 1\r\n\r\n", 6, 8},
		{"LF LF inside a CRLF message", "A: 1\r\nB: x\n\nC: 3\r\n\r\n", 11, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(tc.msg)
			fe, bs := Bounds(msg)
			if fe != tc.fieldsEnd || bs != tc.bodyAt {
				t.Fatalf("Bounds = %d, %d; want %d, %d", fe, bs, tc.fieldsEnd, tc.bodyAt)
			}
			if HeaderEnd(msg) != bs {
				t.Fatalf("HeaderEnd = %d", HeaderEnd(msg))
			}
			h, b := Split(msg)
			if len(h) != bs || !bytes.Equal(append(bytes.Clone(h), b...), msg) {
				t.Fatalf("Split = %q, %q", h, b)
			}
			checkInvariants(t, msg)
		})
	}
}

// TestCRLFIsFirstCRLFCRLF: for CRLF-only messages the policy is the
// "first CRLF CRLF" rule the store and the bounces used before.
func TestCRLFIsFirstCRLFCRLF(t *testing.T) {
	for _, msg := range []string{
		"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n",
		"A: 1\r\n folded\r\n\r\n",
		"Subject: x\r\n\r\n\r\n",
		"Subject: x\r\n",
		"Subject: x",
		"X: a\rb\r\n\r\n",
	} {
		want := len(msg)
		if i := strings.Index(msg, "\r\n\r\n"); i >= 0 {
			want = i + 4
		}
		if got := HeaderEnd([]byte(msg)); got != want {
			t.Errorf("%q: %d, want %d", msg, got, want)
		}
	}
}

func TestFields(t *testing.T) {
	msg := "A: 1\r\nB: 2\r\n folded\r\n\tagain\r\nbroken line\r\nC :3\n\r\nbody: no\r\n"
	type fv struct{ name, value, raw string }
	var got []fv
	for f := range Fields([]byte(msg)) {
		got = append(got, fv{string(f.Name), string(f.Value), string(f.Raw)})
	}
	want := []fv{
		{"A", " 1", "A: 1\r\n"},
		{"B", " 2\r\n folded\r\n\tagain", "B: 2\r\n folded\r\n\tagain\r\n"},
		{"", "", "broken line\r\n"},
		{"C", "3", "C :3\n"},
	}
	if len(got) != len(want) {
		t.Fatalf("fields %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
	f, ok := Lookup([]byte(msg), "b")
	if !ok || string(Unfold(f.Value)) != " 2 folded\tagain" {
		t.Errorf("Lookup b = %q, %v", f.Value, ok)
	}
	if _, ok := Lookup([]byte(msg), "body"); ok {
		t.Error("found a field in the body")
	}
	if _, ok := Lookup([]byte(msg), "broken line"); ok {
		t.Error("found a field without a colon")
	}
}

func TestFieldNames(t *testing.T) {
	for _, tc := range []struct{ line, name string }{
		{"Subject: x", "Subject"},
		{"Subject \t: x", "Subject"},
		{": x", ""},
		{"no colon", ""},
		{"two words: x", ""},
		{" Leading: continuation at the start", ""},
		{"A\r: x", ""},
		{"X-\x00: nul", "X-\x00"},
		{"Empty:", "Empty"},
	} {
		var fs []Field
		for f := range Fields([]byte(tc.line + "\r\n\r\n")) {
			fs = append(fs, f)
		}
		if len(fs) != 1 || string(fs[0].Name) != tc.name || (fs[0].Name == nil) != (tc.name == "") {
			t.Errorf("%q: %+v", tc.line, fs)
		}
	}
	if f, _ := Lookup([]byte("Empty:\r\n"), "empty"); f.Value == nil || len(f.Value) != 0 {
		t.Errorf("empty value: %q", f.Value)
	}
}

func TestUnfold(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "",
		"plain":                 "plain",
		" a\r\n b":              " a b",
		" a\n\tb":               " a\tb",
		" a\r\n \r\n c":         " a  c",
		"a\r\nb":                "a\r\nb",
		"a\nb":                  "a\nb",
		"a\r\r\n b":             "a\r b",
		"a\n":                   "a\n",
		"a\r\n":                 "a\r\n",
		"\n b":                  " b",
		"a\n\n b":               "a\n b",
		strings.Repeat("x", 99): strings.Repeat("x", 99),
	} {
		if got := string(Unfold([]byte(in))); got != want {
			t.Errorf("Unfold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEndFinderPieces(t *testing.T) {
	msg := []byte("A: 1\r\nB: 2\r\n folded\r\n\r\nbody\r\n\r\n")
	for step := 1; step <= len(msg); step++ {
		if got := feedInPieces(msg, step); got != HeaderEnd(msg) {
			t.Errorf("step %d: %d, want %d", step, got, HeaderEnd(msg))
		}
	}
	var f EndFinder
	if f.Feed([]byte("A: 1\n")) != -1 || f.Feed([]byte("\nB")) != 1 || f.Feed([]byte("\n\n")) != -1 {
		t.Error("EndFinder reported twice or not at all")
	}
}

// feedInPieces returns where an EndFinder fed msg step bytes at a time
// says the body starts (len(msg) if it never says).
func feedInPieces(msg []byte, step int) int {
	var f EndFinder
	for off := 0; off < len(msg); off += step {
		if i := f.Feed(msg[off:min(off+step, len(msg))]); i >= 0 {
			return off + i
		}
	}
	return len(msg)
}

// checkInvariants holds for any input: the bounds are in range, the
// header has no empty line before fieldsEnd and the line at fieldsEnd is
// empty, the fields cover exactly the header bytes, names and values are
// cut from their Raw, unfolding only removes line ends before white
// space, and the streaming finder agrees.
func checkInvariants(t *testing.T, msg []byte) {
	t.Helper()
	fe, bs := Bounds(msg)
	if fe < 0 || fe > bs || bs > len(msg) {
		t.Fatalf("bounds %d, %d of %d bytes", fe, bs, len(msg))
	}
	switch blank := string(msg[fe:bs]); {
	case blank == "" && (fe != len(msg)):
		t.Fatalf("no empty line at %d", fe)
	case blank != "" && blank != "\n" && blank != "\r\n":
		t.Fatalf("empty line %q", blank)
	case fe > 0 && msg[fe-1] != '\n' && bs > fe:
		t.Fatalf("empty line not at a line start")
	}
	for i := 0; i < fe; i++ {
		if (i == 0 || msg[i-1] == '\n') && (msg[i] == '\n' || (msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n')) {
			t.Fatalf("an empty line at %d, before the end at %d", i, fe)
		}
	}
	var cat []byte
	for f := range Fields(msg) {
		cat = append(cat, f.Raw...)
		if len(f.Raw) == 0 {
			t.Fatal("empty field")
		}
		if f.Name == nil {
			if f.Value != nil {
				t.Fatalf("value without a name: %q", f.Raw)
			}
		} else {
			if !bytes.HasPrefix(f.Raw, f.Name) || bytes.IndexByte(f.Name, ':') >= 0 || len(f.Name) == 0 {
				t.Fatalf("name %q of %q", f.Name, f.Raw)
			}
			rest := f.Raw[len(f.Name):]
			rest = bytes.TrimLeft(rest, " \t")
			if !bytes.HasPrefix(rest, []byte(":")) || !bytes.HasPrefix(rest[1:], f.Value) {
				t.Fatalf("value %q of %q", f.Value, f.Raw)
			}
			if tail := string(rest[1+len(f.Value):]); tail != "" && tail != "\n" && tail != "\r\n" {
				t.Fatalf("value %q leaves %q", f.Value, tail)
			}
			if !f.Is(string(f.Name)) {
				t.Fatalf("field is not its own name %q", f.Name)
			}
			checkUnfold(t, f.Value)
		}
	}
	if !bytes.Equal(cat, msg[:fe]) {
		t.Fatalf("fields %q do not cover the header %q", cat, msg[:fe])
	}
	checkUnfold(t, msg)
	if !bareLF(msg) {
		// CRLF mail: the rule the store and bounces had, "up to and
		// including the first CRLF CRLF", except that a message starting
		// with CRLF has an empty header (as IMAP FETCH always had it).
		want := len(msg)
		if bytes.HasPrefix(msg, []byte("\r\n")) {
			want = 2
		} else if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
			want = i + 4
		}
		if bs != want {
			t.Fatalf("CRLF message: body at %d, want %d", bs, want)
		}
	}
	for _, step := range []int{1, 3, 7, 4096} {
		if got := feedInPieces(msg, step); got != bs {
			t.Fatalf("EndFinder in steps of %d: %d, want %d", step, got, bs)
		}
	}
	checkReadHeader(t, msg, bs)
}

// checkReadHeader: ReadHeader over a stream of msg, through a small and
// a large buffer (long lines read in pieces or whole), reads exactly the
// header section and leaves the reader at the body; with a cap it reads
// no more than the cap and the lines that reach it.
func checkReadHeader(t *testing.T, msg []byte, bodyStart int) {
	t.Helper()
	for _, size := range []int{16, 4096} {
		br := bufio.NewReaderSize(bytes.NewReader(msg), size)
		hdr, err := ReadHeader(br, len(msg)+1)
		if !bytes.Equal(hdr, msg[:bodyStart]) {
			t.Fatalf("ReadHeader (buffer %d) = %q, want %q", size, hdr, msg[:bodyStart])
		}
		if rest, _ := io.ReadAll(br); !bytes.Equal(rest, msg[bodyStart:]) {
			t.Fatalf("ReadHeader (buffer %d) left %q, want the body %q", size, rest, msg[bodyStart:])
		}
		fe, _ := Bounds(msg)
		if (err != nil) != (fe == bodyStart) { // an error when there is no empty line
			t.Fatalf("ReadHeader (buffer %d): error %v for a header of %d of %d bytes", size, err, bodyStart, len(msg))
		}
		capped, _ := ReadHeader(bufio.NewReaderSize(bytes.NewReader(msg), size), 8)
		if !bytes.HasPrefix(msg, capped) || len(capped) >= 8+size {
			t.Fatalf("ReadHeader capped at 8 (buffer %d) read %d bytes", size, len(capped))
		}
	}
}

// checkUnfold: Unfold(v) is v with some CR and LF bytes removed, each run
// removed being CRLF or LF and followed in v by a space or a tab.
func checkUnfold(t *testing.T, v []byte) {
	t.Helper()
	out := Unfold(v)
	i := 0
	for j := 0; j < len(v); {
		if i < len(out) && out[i] == v[j] {
			i, j = i+1, j+1
			continue
		}
		n := 1
		if v[j] == '\r' {
			n = 2
		}
		if j+n >= len(v) || v[j+n-1] != '\n' || (v[j+n] != ' ' && v[j+n] != '\t') {
			t.Fatalf("Unfold(%q) = %q removed byte %d", v, out, j)
		}
		j += n
	}
	if i != len(out) {
		t.Fatalf("Unfold(%q) = %q added bytes", v, out)
	}
}

// bareLF reports whether msg has an LF without a CR before it.
func bareLF(msg []byte) bool {
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			return true
		}
	}
	return false
}
