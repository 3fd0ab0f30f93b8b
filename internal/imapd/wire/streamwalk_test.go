package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// encodeStructure is the BODYSTRUCTURE (or BODY) a structure is written as.
func encodeStructure(p *BodyPart, extended bool) string {
	var b bytes.Buffer
	e := NewEncoder(NewBufWriter(&b))
	e.BodyStructure(p, extended)
	_ = e.Flush()
	return b.String()
}

// structurePaths lists the part paths of a structure (at most limit),
// and one past the last part of each multipart.
func structurePaths(p *BodyPart, prefix []uint32, out *[][]uint32, limit int) {
	if len(*out) >= limit || len(prefix) > 4 {
		return
	}
	add := func(path []uint32, c *BodyPart) {
		*out = append(*out, path)
		if c != nil {
			structurePaths(c, path, out, limit)
		}
	}
	with := func(k uint32) []uint32 { return append(append([]uint32(nil), prefix...), k) }
	switch {
	case p.Multipart():
		for i, c := range p.Parts {
			add(with(uint32(i+1)), c)
		}
		add(with(uint32(len(p.Parts)+1)), nil)
	case p.Child != nil && len(prefix) > 0:
		if p.Child.Multipart() {
			structurePaths(p.Child, prefix, out, limit)
		} else {
			add(with(1), nil)
			add(with(2), nil)
		}
	default:
		add(with(1), nil)
		add(with(2), nil)
	}
}

var walkSpecifiers = []Section{
	{}, {Specifier: "MIME"}, {Specifier: "TEXT"}, {Specifier: "HEADER"},
	{Specifier: "HEADER.FIELDS", Fields: []string{"Subject", "Content-Type"}},
	{Specifier: "HEADER.FIELDS.NOT", Fields: []string{"Content-Type"}},
}

// checkWalk compares what WalkStructure makes of msg with the whole
// parse: the structure, every section and every BINARY of its parts. It
// says whether the walk could do it (not ErrWalkLimit).
func checkWalk(t *testing.T, msg []byte) bool {
	t.Helper()
	pm, err := WalkStructure(bytes.NewReader(msg))
	if errors.Is(err, ErrWalkLimit) {
		return false
	} else if err != nil {
		t.Fatalf("walk: %v", err)
	}
	whole := ExtractBodyStructure(msg)
	for _, ext := range []bool{true, false} {
		if got, want := encodeStructure(pm.Structure, ext), encodeStructure(whole, ext); got != want {
			t.Fatalf("extended %v: the walk's structure\n%s\nthe whole message's\n%s\nof %q", ext, got, want, msg)
		}
	}
	paths := [][]uint32{nil}
	structurePaths(whole, nil, &paths, 200)
	r := bytes.NewReader(msg)
	for _, path := range paths {
		for _, spec := range walkSpecifiers {
			if len(path) == 0 && spec.Specifier == "MIME" {
				continue // not a section
			}
			s := spec
			s.Part = path
			want, wantOK := ExtractSection(msg, &s)
			sp, fields, ok, err := pm.Section(&s)
			if errors.Is(err, ErrWalkLimit) {
				continue
			}
			got := msg[sp.Start:sp.End]
			if fields {
				hdr, err := ReadHeader(r, sp)
				if err != nil {
					t.Fatal(err)
				}
				got = SectionFields(hdr, &s)
			}
			if ok != wantOK || ok && !bytes.Equal(got, want) {
				t.Fatalf("BODY[%v %s]: the walk's %v %q, the whole message's %v %q\nof %q", path, s.Specifier, ok, got, wantOK, want, msg)
			}
		}
		if len(path) == 0 {
			continue
		}
		want, wantOK, wantErr := ExtractBinary(msg, path)
		hsp, bsp, ok, err := pm.Part(path)
		if errors.Is(err, ErrWalkLimit) {
			continue
		}
		if ok != wantOK {
			t.Fatalf("BINARY[%v]: found %v by the walk, %v whole, of %q", path, ok, wantOK, msg)
		}
		if !ok {
			continue
		}
		hdr, err := ReadHeader(r, hsp)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		d, err := BinaryDecoder(hdr, bytes.NewReader(msg[bsp.Start:bsp.End]))
		if err == nil {
			got, err = io.ReadAll(d)
			if err != nil {
				err = DecodeError(err)
			}
		}
		if (err == nil) != (wantErr == nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("BINARY[%v]: the walk's %q (%v), the whole message's %q (%v), of %q", path, got, err, want, wantErr, msg)
		}
	}
	return true
}

// walkSamples are messages whose structure the walk must read as the
// whole parse does: nested multiparts, an attached message, a digest,
// boundaries that are prefixes of each other, empty parts, parts without
// a blank line, a delimiter right after a header's blank line, bare LFs,
// a missing closing delimiter, a preamble and an epilogue.
var walkSamples = []string{
	"Subject: plain\r\n\r\nhello\r\nworld",
	"Subject: no body\r\n",
	"Subject: only a header\r\nX: y",
	"",
	"\r\n",
	"\r\nbody only\r\n",
	"Content-Type: multipart/mixed; boundary=b1\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n\r\nplain\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b2--\r\n--b1\r\nContent-Type: application/pdf; name=x.pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\naGVsbG8gd29ybGQ=\r\n--b1--\r\nepilogue\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\nA: b\r\n\r\n--b--\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=bb\r\n\r\n--bb\r\n\r\ninner\r\n--b\r\n\r\nouter two\r\n--bb--\r\n--b--\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nsame boundary\r\n--b--\r\n",
	"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in a digest\r\n\r\ntext\r\n--d\r\nContent-Type: text/plain\r\n\r\nnot a message\r\n--d--\r\n",
	"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: a@b.example\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n--q--\r\n",
	"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: message/rfc822\r\n\r\nSubject: attached\r\nContent-Type: text/plain\r\n\r\nline 1\nline 2\n--m\r\nContent-Type: message/rfc822\r\n\r\n--m\r\nContent-Type: message/rfc822\r\n--m--\r\n",
	"Content-Type: multipart/mixed; boundary=n\n\n--n\nContent-Type: text/plain\n\nbare LFs\n\n--n\n\n--n--\n",
	"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x  \r\n\r\ntrailing blanks\r\n--xy\r\nnot a delimiter\r\n--x-- \t\r\n--x\r\nafter the close\r\n",
	"Content-Type: multipart/mixed\r\n\r\n--b\r\nno boundary: opaque\r\n",
	"Content-Type: multipart/mixed; boundary=e\r\n\r\nno delimiter at all\r\n",
	"Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=t\r\n\r\n--t\r\n\r\ntwo types\r\n--t--\r\n",
	"Content-Type: message/global\r\n\r\nSubject: global\r\n\r\nbody\r\n",
	"Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\nends in CR\r\r\n--c\r\n\r\n\r\n--c--",
	"Content-Type: multipart/mixed; boundary=\"a b\"\r\n\r\n--a b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Language: en, fr\r\nContent-ID: <x@y>\r\nContent-Description: desc\r\nContent-MD5: abc\r\nContent-Location: here\r\n\r\nparams\r\n--a b--\r\n",
	"Content-Type: multipart/mixed; boundary=bbbbbbbbbbbbb\n\n--bbbbbbbbbbbbb\n\npart\n--bbbbbbbbbbbbb--\nepilogue\n",
	"Content-Type: multipart/mixed; boundary=u\r\n\r\n--u\r\nContent-Type: application/x\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n?\r\n--u\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64\r\n--u--\r\n",
}

func TestWalkStructureIsTheWholeParse(t *testing.T) {
	for _, buf := range []int{64 << 10, 16} {
		walkBuffer = buf
		for i, m := range walkSamples {
			if !checkWalk(t, []byte(m)) && buf == 64<<10 {
				t.Errorf("sample %d: the walk gave up", i)
			}
		}
	}
	walkBuffer = 64 << 10
}

// The messages of the IMAP dialog tests and of imapd's fuzz corpora
// (the streamed SEARCH's, the header caps') are walked as they are parsed.
func TestWalkStructureOfTestdata(t *testing.T) {
	files, _ := filepath.Glob("../../../test/imapdialogs/msg/*.eml")
	corpus, _ := filepath.Glob("../testdata/fuzz/*/*")
	if len(files) == 0 || len(corpus) == 0 {
		t.Fatal("no test messages found")
	}
	n := 0
	for _, name := range append(files, corpus...) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		msgs := [][]byte{data}
		if strings.Contains(name, "testdata/fuzz") {
			msgs = nil
			for _, l := range strings.Split(string(data), "\n") {
				if q, ok := strings.CutPrefix(l, "[]byte("); ok {
					if v, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
						msgs = append(msgs, []byte(v))
					}
				}
			}
		}
		for _, m := range msgs {
			if checkWalk(t, m) {
				n++
			}
		}
	}
	t.Logf("%d messages walked as they are parsed", n)
}

// generated builds a message of random-ish shape from seed: nesting,
// parts, line ends, long lines.
func generated(seed int) []byte {
	var b strings.Builder
	rnd := uint32(seed)*2654435761 + 1
	next := func(n int) int {
		rnd ^= rnd << 13
		rnd ^= rnd >> 17
		rnd ^= rnd << 5
		return int(rnd % uint32(n))
	}
	var part func(depth int)
	part = func(depth int) {
		eol := []string{"\r\n", "\n"}[next(2)]
		switch k := next(5); {
		case k == 0 && depth < 4:
			bd := fmt.Sprintf("b%d%s", next(3), strings.Repeat("x", next(15))) // some cross a small buffer
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%s%s%s", bd, eol, eol)
			for range next(4) {
				fmt.Fprintf(&b, "--%s%s", bd, eol)
				part(depth + 1)
				b.WriteString(eol)
			}
			if next(3) > 0 {
				fmt.Fprintf(&b, "--%s--%s", bd, eol)
			}
		case k == 1 && depth < 4:
			fmt.Fprintf(&b, "Content-Type: message/rfc822%sSubject: s%d%s", eol, depth, eol)
			part(depth + 1)
		case k == 2:
			fmt.Fprintf(&b, "Content-Transfer-Encoding: base64%s%s", eol, eol)
			for range next(4) {
				b.WriteString(strings.Repeat("QUJD", 1+next(30)) + eol)
			}
		default:
			fmt.Fprintf(&b, "Content-Type: text/plain%s%s", eol, eol)
			for range next(5) {
				b.WriteString(strings.Repeat("x", next(80)) + eol)
			}
		}
	}
	part(0)
	return []byte(b.String())
}

func TestWalkStructureOfGeneratedMessages(t *testing.T) {
	for _, buf := range []int{64 << 10, 32, 16} {
		walkBuffer = buf
		for seed := range 2000 {
			checkWalk(t, generated(seed))
		}
	}
	walkBuffer = 64 << 10
}

// The caps: a message of more parts than MaxMIMEParts is given up (the
// caller reads it whole); one of MaxMIMEDepth+5 nested multiparts is
// walked, opaque past the cap, as the whole parse does; a header past
// MaxParsedHeader is cut the same.
func TestWalkStructureCaps(t *testing.T) {
	var many bytes.Buffer
	many.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for range MaxMIMEParts + 1 {
		many.WriteString("--p\r\n\r\nx\r\n")
	}
	if _, err := WalkStructure(bytes.NewReader(many.Bytes())); !errors.Is(err, ErrWalkLimit) {
		t.Errorf("%d parts: %v, want ErrWalkLimit", MaxMIMEParts+1, err)
	}
	var deep bytes.Buffer
	for i := range MaxMIMEDepth + 5 {
		fmt.Fprintf(&deep, "Content-Type: multipart/mixed; boundary=d%d\r\n\r\n--d%d\r\n", i, i)
	}
	deep.WriteString("\r\ndeepest\r\n")
	if !checkWalk(t, deep.Bytes()) {
		t.Error("deep nesting: the walk gave up")
	}
	var long bytes.Buffer
	long.WriteString("Content-Type: multipart/mixed; boundary=h\r\n\r\n--h\r\n")
	for long.Len() < MaxParsedHeader+1000 {
		long.WriteString("X-Filler: " + strings.Repeat("f", 70) + "\r\n")
	}
	long.WriteString("Content-Type: text/html\r\n\r\nlate type\r\n--h--\r\n")
	if !checkWalk(t, long.Bytes()) {
		t.Error("a long header: the walk gave up")
	}
}

// FuzzWalkStructure: for any input the walk either gives up or gives
// what the whole parse gives, with a large buffer and a tiny one.
func FuzzWalkStructure(f *testing.F) {
	for _, m := range walkSamples {
		f.Add([]byte(m))
	}
	for seed := range 20 {
		f.Add(generated(seed))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		defer func() { walkBuffer = 64 << 10 }()
		for _, buf := range []int{64 << 10, 16} {
			walkBuffer = buf
			checkWalk(t, msg)
		}
	})
}
