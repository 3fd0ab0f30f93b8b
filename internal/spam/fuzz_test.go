package spam

import (
	"testing"
	"unicode/utf8"
)

// FuzzParse: any input parses without panicking, within the caps, into
// valid tokens.
func FuzzParse(f *testing.F) {
	f.Add(msg("From: a@b.test\nSubject: hi\n", "hello world https://x.test/\n"))
	f.Add(msg("From: a@b.test\nContent-Type: multipart/alternative; boundary=x\n", "--x\nContent-Type: text/html\n\n<p style=\"display:none\">a<b>c</b></p>\n--x--\n"))
	f.Add(msg("Content-Transfer-Encoding: base64\n", "aGVsbG8gd29ybGQ=\n"))
	f.Add(msg("Authentication-Results: h; spf=pass smtp.mailfrom=a@b; dkim=pass header.d=b\n", "x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := Parse(data, "h")
		if len(p.Tokens) > maxTokens {
			t.Fatalf("%d tokens", len(p.Tokens))
		}
		for _, tok := range p.Tokens {
			if tok == "" || !utf8.ValidString(tok) {
				t.Fatalf("bad token %q", tok)
			}
		}
		m := NewModel()
		d := NewDelta()
		d.Train(p, true, 1)
		d.Train(Parse([]byte("From: a@b.test\r\n\r\nhello\r\n"), ""), false, 1)
		m.Apply(d)
		h := Score(p, m, nil, Thresholds{}).Header("h", Thresholds{})
		for i := 0; i < len(h); i++ {
			if c := h[i]; c >= 0x7f || c < ' ' && c != '\r' && c != '\n' && c != '\t' {
				t.Fatalf("header byte %q in %q", c, h)
			}
		}
	})
}
