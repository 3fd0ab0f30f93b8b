package imapd

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/flate"

	"boxmail/internal/imapd/wire"
)

// cmdCompress turns on COMPRESS=DEFLATE (RFC 4978): after the OK, both
// directions are raw deflate streams. What the server writes is flushed
// (a deflate sync flush) with every batch of responses, so a client
// never waits for a response held in the compressor.
//
// COMPRESS=DEFLATE is NOT advertised yet: a client that ends its commands
// with a zlib partial flush (mbsync does) leaves the last bits of the
// flush's empty block unsent, and no Go inflater at hand hands out a
// command before it has seen them (the standard library keeps a
// non-final block's output until the next block; klauspost/compress,
// used here with WithPartialBlock, reads 10 bits past a non-final
// dynamic block). Clients using sync flushes work; advertising waits for
// an inflater that emits each symbol as it is decoded.
func (c *conn) cmdCompress(cmd *wire.Command) (string, error) {
	if cmd.Args.(*wire.Compress).Mechanism != "DEFLATE" {
		return "", bad("Unknown compression mechanism")
	}
	if c.zw != nil {
		return "", no(wire.CodeCompressActive, "Compression is already on")
	}
	if err := c.enc.Status(cmd.Tag, "OK", "", "DEFLATE active"); err != nil {
		return "", errEnd
	}
	if err := c.flush(); err != nil {
		return "", errEnd
	}
	zw, err := flate.NewWriter(deadlineWriter{c.nc}, flate.BestSpeed)
	if err != nil {
		return "", err
	}
	// Bytes the client sent after COMPRESS, already buffered, are the
	// start of its deflate stream.
	pending, err := c.br.Peek(c.br.Buffered())
	if err != nil {
		return "", errEnd
	}
	in := io.MultiReader(bytes.NewReader(bytes.Clone(pending)), netReader{c, c.nc})
	c.zw = zw
	c.setupIOOver(flate.NewReaderOpts(in, flate.WithPartialBlock()), zwriter{c})
	return "", errTagged
}
