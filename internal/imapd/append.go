package imapd

import (
	"errors"
	"fmt"
	"io"
	"time"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

// appendLimit is asked about each APPEND message's announced size before
// a byte of it is read: over Options.MaxMessageBytes is NO [TOOBIG], over
// what is left of the account's quota NO [OVERQUOTA]. Nothing is set
// aside for the announced size: it is the client's word.
func (c *conn) appendLimit(size int64) error {
	if c.state != authenticated && c.state != selected {
		return bad("APPEND is not allowed before login")
	}
	if size > c.srv.opts.MaxMessageBytes {
		c.log.Info("imap append refused before its data", "size", size, "reason", "too big")
		return no(wire.CodeTooBig, fmt.Sprintf("Messages are limited to %d bytes", c.srv.opts.MaxMessageBytes))
	}
	if err := c.storeError("append", c.srv.opts.Store.CheckSpace()); err != nil { // free disk: NO [OVERQUOTA]
		return err
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	ok, _, err := c.srv.opts.Store.QuotaFits(ctx, c.acct.ID, size)
	if err != nil {
		return c.storeError("append", err)
	}
	if !ok {
		c.log.Info("imap append refused before its data", "size", size, "reason", "over quota")
		return errOverQuota
	}
	return nil
}

// cmdAppend stores a message (UIDPLUS: APPENDUID), or each message of a
// MULTIAPPEND (RFC 3502) in turn. A large message is streamed into a
// body file rather than held in memory.
func (c *conn) cmdAppend(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Append)
	var uids []uint32
	var validity uint32
	for m := args.Message; m != nil; {
		uid, v, err := c.appendOne(args.Mailbox, m)
		if err != nil {
			if aerr := c.r.AbortAppend(); aerr != nil {
				return "", errEnd
			}
			return "", err
		}
		uids, validity = append(uids, uid), v
		next, err := c.r.NextAppend()
		var we *wire.Error
		if errors.As(err, &we) {
			return "", we
		} else if err != nil {
			return "", errEnd
		}
		m = next
	}
	c.feed.pump()
	return wire.CodeAppendUID(validity, uidSet(uids)), nil
}

// appendOne reads one message and stores it.
func (c *conn) appendOne(mailbox string, m *wire.AppendMessage) (uid, validity uint32, err error) {
	if err := checkFlags(m.Flags); err != nil {
		return 0, 0, err
	}
	st := c.srv.opts.Store
	var data []byte
	var spooled *store.SpooledBody
	if fileMin := st.FileBodyMin(); fileMin < 0 || m.Size < fileMin {
		data = make([]byte, m.Size) // small: at most FileBodyMin (256 KiB)
		if n, err := io.ReadFull(m.Body, data); err != nil {
			return 0, 0, c.literalError(int64(n), m.Size, err)
		}
	} else if spooled, err = c.spool(m); err != nil {
		return 0, 0, err
	}
	f, kw := store.ParseFlags(m.Flags)
	t := m.Date
	if !m.HasDate {
		t = time.Now()
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	if spooled != nil {
		uid, validity, err = st.AppendSpooled(ctx, c.acct.ID, mailbox, spooled, f, kw, t)
	} else {
		uid, validity, err = st.Append(ctx, c.acct.ID, mailbox, data, f, kw, t)
	}
	if errors.Is(err, store.ErrNotFound) {
		return 0, 0, errTryCreate
	} else if err != nil {
		return 0, 0, c.storeError("append", err)
	}
	return uid, validity, nil
}

// spool streams a large message into a body file.
func (c *conn) spool(m *wire.AppendMessage) (*store.SpooledBody, error) {
	w, err := c.srv.opts.Store.NewBodyWriter()
	if err != nil {
		return nil, c.storeError("append", err)
	}
	n, rerr, werr := copyLiteral(w, m.Body)
	if werr != nil {
		w.Abort()
		return nil, c.storeError("append", werr)
	}
	if rerr != nil || n != m.Size {
		w.Abort()
		return nil, c.literalError(n, m.Size, rerr)
	}
	sb, err := w.Finish()
	if err != nil {
		return nil, c.storeError("append", err)
	}
	return sb, nil
}

// literalError is the answer to a literal that did not arrive whole: the
// connection is gone, and nothing is stored.
func (c *conn) literalError(got, size int64, err error) error {
	c.log.Info("imap append: message shorter than announced", "got", got, "announced", size, "err", err)
	return errEnd
}

// copyLiteral copies r to w through one buffer, telling a read error
// (the client's) from a write error (the store's).
func copyLiteral(w io.Writer, r io.Reader) (n int64, rerr, werr error) {
	buf := make([]byte, 64<<10)
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr = w.Write(buf[:k]); werr != nil {
				return n, nil, werr
			}
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return n, nil, nil
		} else if err != nil {
			return n, err, nil
		}
	}
}
