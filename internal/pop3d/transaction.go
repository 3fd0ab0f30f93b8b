package pop3d

import (
	"errors"
)

// The TRANSACTION state commands (RFC 1939 5, 7). Message numbers are
// 1-based on the wire and refer to the list fixed at login.

// msg parses a message-number argument: a message that exists and is not
// deleted, 0-based. ok is false when an error reply was written.
func (c *conn) msg(n int) (int, bool) {
	if n < 1 || n > len(c.msgs) {
		c.reply("-ERR No such message")
		return 0, false
	}
	if c.deleted[n-1] {
		c.reply("-ERR Message already deleted")
		return 0, false
	}
	return n - 1, true
}

// args parses numeric arguments, answering a syntax error itself.
func (c *conn) args(arg string, n int, optional bool) ([]int, bool, error) {
	a, err := parseMsgArgs(arg, n, optional)
	switch {
	case errors.Is(err, errNumber):
		c.reply("-ERR Invalid message number")
		return nil, false, nil
	case err != nil:
		return nil, false, c.badCommand("-ERR Syntax error")
	}
	return a, true, nil
}

func (c *conn) stat(string) error {
	n, size := 0, int64(0)
	for i, m := range c.msgs {
		if !c.deleted[i] {
			n++
			size += m.Size
		}
	}
	c.replyf("+OK %d %d", n, size)
	return nil
}

// list answers LIST and UIDL, which differ only in the column shown.
func (c *conn) listing(arg string, col func(m Message) any) error {
	a, ok, err := c.args(arg, 1, true)
	if !ok {
		return err
	}
	if a != nil {
		if i, ok := c.msg(a[0]); ok {
			c.replyf("+OK %d %v", i+1, col(c.msgs[i]))
		}
		return nil
	}
	c.reply("+OK")
	for i, m := range c.msgs {
		if !c.deleted[i] {
			c.replyf("%d %v", i+1, col(m))
		}
	}
	c.reply(".")
	return nil
}

func (c *conn) list(arg string) error {
	return c.listing(arg, func(m Message) any { return m.Size })
}

func (c *conn) uidl(arg string) error {
	return c.listing(arg, func(m Message) any { return m.UID })
}

func (c *conn) retr(arg string) error {
	return c.send(arg, false)
}

func (c *conn) top(arg string) error {
	return c.send(arg, true)
}

// send answers RETR (the whole message, which then counts as retrieved)
// and TOP n lines (the header and the first lines of the body).
func (c *conn) send(arg string, top bool) error {
	nargs := 1
	if top {
		nargs = 2
	}
	a, ok, err := c.args(arg, nargs, false)
	if !ok {
		return err
	}
	i, ok := c.msg(a[0])
	if !ok {
		return nil
	}
	// The message is read while it is sent, which may take longer than
	// an operation's timeout for a slow client: the reads last as long
	// as the connection (a write that fails ends them).
	body, err := c.sess.Retrieve(c.ctx, i)
	if errors.Is(err, ErrGone) {
		c.reply("-ERR Message was removed by another client")
		return nil
	} else if err != nil {
		c.log.Error("pop3 retrieve", "msg", i+1, "err", err)
		c.reply("-ERR [SYS/TEMP] Internal error, try again later")
		return nil
	}
	defer func() { _ = body.Close() }() // only read: a failed read has ended the session already
	lines := -1
	if top {
		c.reply("+OK")
		lines = a[1]
	} else {
		c.replyf("+OK %d octets", c.msgs[i].Size)
	}
	if err := c.writeBody(body, lines); err != nil {
		if errors.Is(err, errClientGone) {
			c.log.Debug("pop3 retrieve: the client left midway", "msg", i+1, "err", err)
		} else {
			c.log.Error("pop3 retrieve: reading the message failed midway", "msg", i+1, "err", err)
		}
		return err // the response cannot be completed: the session ends
	}
	if !top {
		c.retrieved[i] = true
	}
	return nil
}

func (c *conn) dele(arg string) error {
	a, ok, err := c.args(arg, 1, false)
	if !ok {
		return err
	}
	if i, ok := c.msg(a[0]); ok {
		c.deleted[i] = true
		c.replyf("+OK Message %d deleted", i+1)
	}
	return nil
}

// rset unmarks the deleted messages (RFC 1939 5).
func (c *conn) rset(string) error {
	clear(c.deleted)
	return c.stat("")
}

func (c *conn) noop(string) error {
	c.reply("+OK")
	return nil
}
