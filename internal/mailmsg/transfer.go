package mailmsg

import (
	"encoding/base64"
	"io"
	"mime/quotedprintable"
)

// Decoder undoes the Content-Transfer-Encoding enc (lower case) of a
// body read from r, as it is read, so that a large body streams. ok is
// false for an encoding other than base64 and quoted-printable (the
// identity encodings among them): then r is returned as it is and the
// caller decides what an unknown encoding means.
func Decoder(enc string, r io.Reader) (d io.Reader, ok bool) {
	switch enc {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &skipSpace{r: r}), true
	case "quoted-printable":
		return quotedprintable.NewReader(r), true
	}
	return r, false
}

// skipSpace reads r without the white space and line ends that base64
// bodies are folded with.
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // else a read of nothing would wait for a byte that is not space
	}
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				continue
			}
			p[k] = c
			k++
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// A Source reads R and keeps in Err its first error other than io.EOF,
// so that a caller that reads a body through a Decoder, or a MIME
// parser, tells a body that could not be read (the store failed) from
// one whose encoding or structure is broken: both end the read with an
// error.
type Source struct {
	R   io.Reader
	Err error
}

func (s *Source) Read(p []byte) (int, error) {
	n, err := s.R.Read(p)
	if err != nil && err != io.EOF && s.Err == nil {
		s.Err = err
	}
	return n, err
}
