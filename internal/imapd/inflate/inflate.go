// Package inflate is an eager reader of raw DEFLATE streams (RFC 1951),
// written for COMPRESS=DEFLATE (RFC 4978) in imapd.
//
// Eager means: Read hands out every byte it can decode from the input it
// already holds before it reads again from the underlying reader, and it
// never reads while it holds output for the caller. An IMAP client that
// ends each batch of commands with a zlib partial flush (Z_PARTIAL_FLUSH,
// as mbsync does) may leave the last bits of that flush unsent until its
// next batch; an inflater that waits for them (compress/flate keeps a
// non-final block's output until the next block header) would make the
// server wait for a command it already has.
//
// How: the reader keeps its own input buffer (4 KiB) and decodes one unit
// at a time (a literal, a length and distance pair, a block header with
// its code tables, a stored block's LEN/NLEN). A unit that runs out of
// buffered input is rolled back to its start and decoded again once more
// input has been read. Memory is fixed: the 32 KiB window, the input
// buffer and two code tables, allocated once in NewReader.
//
// It is not a compressor, and it reads neither zlib (RFC 1950) nor gzip
// (RFC 1952) framing.
package inflate

import (
	"errors"
	"fmt"
	"io"
)

const (
	windowSize = 1 << 15 // RFC 1951 3.2: distances reach 32768 bytes back
	windowMask = windowSize - 1
	maxMatch   = 258
	inSize     = 4096
	// maxEmpty bounds the empty reads in a row from the underlying reader.
	maxEmpty = 100
)

// CorruptError says the stream is not valid DEFLATE. Offset is the
// position in the compressed input near where decoding failed.
type CorruptError struct {
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("inflate: corrupt input near offset %d: %s", e.Offset, e.Reason)
}

// errShort is internal: the unit being decoded needs input not yet read.
var errShort = errors.New("inflate: more input needed")

type state uint8

const (
	stHeader  state = iota // next is a block header
	stStored               // copying a stored block
	stHuffman              // decoding a compressed block
	stDone                 // the final block has ended
)

// Reader decompresses a raw DEFLATE stream read from an io.Reader.
type Reader struct {
	src     io.Reader
	srcErr  error // from src, returned once the buffered input is used up
	corrupt error // sticky

	// Input: in[pos:end] is unread; the bit accumulator holds nbits bits
	// taken from the bytes before pos.
	in       [inSize]byte
	pos, end int
	dropped  int64 // input bytes dropped from the front of in
	bits     uint64
	nbits    uint

	st     state
	final  bool // the current block is the last one
	stored int  // bytes left of the current stored block
	fixed  bool // lit and dist hold the fixed codes (RFC 1951 3.2.6)
	lit    huffman
	dist   huffman

	// Output: a ring of the last 32 KiB; the newest unread bytes before
	// wpos have not been returned yet.
	win    [windowSize]byte
	wpos   int
	unread int
	total  int64 // bytes decoded so far
}

// NewReader returns a Reader of the raw DEFLATE stream in r.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: r}
}

// Read returns decoded bytes as soon as it has any and decoding more
// would need input that has not arrived; it reads r at most once per
// call, and only when it has nothing to return. At the end of the final
// block it returns io.EOF; on a stream that is not valid DEFLATE a
// *CorruptError; on a stream cut short io.ErrUnexpectedEOF.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for empty := 0; ; {
		if r.st != stDone && r.corrupt == nil {
			if err := r.decode(); err != nil && err != errShort {
				r.corrupt = err
			}
		}
		if r.unread > 0 {
			return r.copyOut(p), nil
		}
		if r.corrupt != nil {
			return 0, r.corrupt
		}
		if r.st == stDone {
			return 0, io.EOF
		}
		if r.srcErr != nil {
			err := r.srcErr
			if err != io.ErrUnexpectedEOF {
				r.srcErr = nil // a timeout may be retried
			}
			return 0, err
		}
		if r.fill() == 0 && r.srcErr == nil {
			if empty++; empty >= maxEmpty {
				return 0, io.ErrNoProgress
			}
		}
	}
}

// fill compacts the input buffer and reads once from src.
func (r *Reader) fill() int {
	r.unload()
	if r.pos > 0 {
		r.end = copy(r.in[:], r.in[r.pos:r.end])
		r.dropped += int64(r.pos)
		r.pos = 0
	}
	if r.end == len(r.in) {
		// A unit never needs more than a few hundred bytes.
		r.corrupt = r.errorf("input unit larger than the buffer")
		return 0
	}
	n, err := r.src.Read(r.in[r.end:])
	r.end += n
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	r.srcErr = err
	return n
}

// copyOut moves unread output to p.
func (r *Reader) copyOut(p []byte) int {
	start := (r.wpos - r.unread) & windowMask
	n := min(len(p), r.unread)
	c := copy(p[:n], r.win[start:])
	if c < n {
		copy(p[c:n], r.win[:n-c])
	}
	r.unread -= n
	return n
}

// decode decodes buffered input until it needs more (errShort), the
// window holds as much unread output as it can, or the stream ended.
func (r *Reader) decode() error {
	for r.unread <= windowSize-maxMatch {
		var err error
		switch r.st {
		case stHeader:
			err = r.header()
		case stStored:
			err = r.copyStored()
		case stHuffman:
			err = r.huffmanBlock()
		case stDone:
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// endBlock moves on after a block: to the next header, or to the end.
func (r *Reader) endBlock() {
	if r.final {
		r.st = stDone
	} else {
		r.st = stHeader
	}
}

func (r *Reader) errorf(format string, args ...any) error {
	return &CorruptError{Offset: r.dropped + int64(r.pos) - int64(r.nbits/8), Reason: fmt.Sprintf(format, args...)}
}
