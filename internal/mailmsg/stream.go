package mailmsg

import (
	"bufio"
	"errors"
)

// ReadHeader reads from br the header section of a message or of a MIME
// part that arrives as a stream (a large body read from the store): up to
// and including the empty line that ends it, by the rules of Bounds, and
// not one byte past it, so that br is left at the body. It stops after
// max bytes (a hostile header; the rest of it is then read as body) and
// at the end of br or a read error, which it returns (io.EOF for a
// message that is all header).
func ReadHeader(br *bufio.Reader, max int) ([]byte, error) {
	var hdr []byte
	for len(hdr) < max {
		line, err := br.ReadSlice('\n')
		lineStart := len(hdr) == 0 || hdr[len(hdr)-1] == '\n'
		hdr = append(hdr, line...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line goes on
		}
		if err != nil {
			return hdr, err
		}
		if lineStart && (string(line) == "\n" || string(line) == "\r\n") {
			break
		}
	}
	return hdr, nil
}
