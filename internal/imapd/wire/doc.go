// Package wire parses IMAP commands and encodes IMAP responses (RFC 9051,
// RFC 3501 and the extensions boxmail speaks: CONDSTORE/QRESYNC,
// LIST-EXTENDED, LIST-STATUS, SPECIAL-USE, BINARY, ESEARCH, SEARCHRES,
// LITERAL+/-, UTF8=ACCEPT, ID, QUOTA, COMPRESS, MOVE, UIDPLUS, IDLE,
// ENABLE, SASL-IR).
//
// A Reader reads one command at a time from a bufio.Reader with every
// size bounded (line length, literal sizes, parenthesis depth, argument
// count); a violation is an *Error that says how to answer it (BAD, NO
// with a response code, or BYE). APPEND's message literal is handed to
// the caller as an io.Reader and never buffered. An Encoder writes
// responses to a BufWriter (a buffer lent by a pool while there is
// output), choosing atom, quoted string or literal for each string. ENVELOPE and BODYSTRUCTURE are extracted from raw
// message bytes here too, with the same caps the box uses elsewhere.
//
// A connection loop looks like this:
//
//	r := wire.NewReader(br, wire.Limits{})
//	r.Continue = func() error { return enc.Continuation("Ready") } // + flush
//	r.AppendLimit = func(n int64) error { ... }                   // quota, APPENDLIMIT
//	for {
//		cmd, err := r.ReadCommand()
//		var werr *wire.Error
//		if errors.As(err, &werr) {
//			werr.Answer(enc) // BAD, NO [code] or BYE; after BYE, close
//			continue
//		} else if err != nil {
//			return err // the connection is gone
//		}
//		switch args := cmd.Args.(type) { ... }
//	}
//
// An APPEND hands out Append.Message.Body (read it to the end), then
// NextAppend gives the next message of a MULTIAPPEND or nil; AbortAppend
// (or the next ReadCommand) drops what is left. AUTHENTICATE responses
// and IDLE's DONE are read with ReadLine. Set Reader.UTF8 and
// Encoder.UTF8 when the client enables UTF8=ACCEPT.
//
// It knows nothing of the store, of sessions, of authentication or of
// which commands are allowed in which state: that is the server's job.
package wire
