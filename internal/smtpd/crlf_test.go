package smtpd

import (
	"bytes"
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
