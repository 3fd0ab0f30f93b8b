package mailmsg

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDecoderUndoesTheTransferEncodingAsItReads(t *testing.T) {
	for _, c := range []struct{ enc, in, want string }{
		{"base64", "aGVs\r\nbG8g\r\n d29y\tbGQ=\r\n", "hello world"},
		{"quoted-printable", "caf=C3=A9 =\r\nau lait", "café au lait"},
	} {
		d, ok := Decoder(c.enc, strings.NewReader(c.in))
		if !ok {
			t.Fatalf("%s: not decoded", c.enc)
		}
		if n, err := d.Read(nil); n != 0 || err != nil {
			t.Errorf("%s: a read of nothing: %d, %v", c.enc, n, err)
		}
		got, err := io.ReadAll(d)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.enc, got, err, c.want)
		}
	}
	for _, enc := range []string{"", "7bit", "8bit", "binary", "x-uuencode"} {
		r := strings.NewReader("as it is")
		if d, ok := Decoder(enc, r); ok || d != io.Reader(r) {
			t.Errorf("%q: decoded (%v) or not the reader given", enc, ok)
		}
	}
}

// A Source tells a body that could not be read from one that does not
// decode: both end a Decoder's read with an error, only the first is
// kept in Err.
func TestSourceKeepsTheReadErrorNotTheDecodingOne(t *testing.T) {
	broken := &Source{R: strings.NewReader("!!!! not base64")}
	d, _ := Decoder("base64", broken)
	if _, err := io.ReadAll(d); err == nil || broken.Err != nil {
		t.Errorf("bad base64: %v, source error %v", err, broken.Err)
	}
	failing := &Source{R: io.MultiReader(strings.NewReader("aGVs"), iotest.ErrReader(io.ErrUnexpectedEOF))}
	d, _ = Decoder("base64", failing)
	if _, err := io.ReadAll(d); err == nil || failing.Err != io.ErrUnexpectedEOF {
		t.Errorf("a failing read: %v, source error %v", err, failing.Err)
	}
}
