package imapd

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/flate"

	"boxmail/internal/imapd/inflate"
	"boxmail/internal/imapd/wire"
)

// cmdCompress turns on COMPRESS=DEFLATE (RFC 4978): after the OK, both
// directions are raw deflate streams. What the server writes is flushed
// (a deflate sync flush) with every batch of responses, so a client
// never waits for a response held in the compressor.
//
// What the client sends is read with imapd/inflate, which hands out each
// byte as soon as it is decoded: a client that ends its commands with a
// zlib partial flush (mbsync does) may leave the last bits of that
// flush's empty block unsent until its next command, and an inflater
// that waited for them (compress/flate keeps a non-final block's output
// until the next block) would never see the command it already holds.
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
	c.setupIOOver(inflate.NewReader(in), zwriter{c})
	return "", errTagged
}
