package imapd

import (
	"errors"
	"time"

	"boxmail/internal/imapd/wire"
)

// idleLine is what the reader goroutine of IDLE read.
type idleLine struct {
	line string
	err  error
}

// cmdIdle pushes mailbox updates as they come until the client sends
// DONE (RFC 2177). DONE is read by a helper goroutine, the only reader
// of the connection until it returns.
func (c *conn) cmdIdle(*wire.Command) (string, error) {
	if err := c.enc.Continuation("idling"); err != nil {
		return "", errEnd
	}
	lines := make(chan idleLine, 1)
	c.idling.Store(true) // the reader goroutine must not flush: this one writes
	defer c.idling.Store(false)
	defer c.srv.opts.Metrics.Idle()()
	go func() {
		line, err := c.r.ReadLine()
		lines <- idleLine{line, err}
	}()
	var notify chan struct{}
	check := time.NewTicker(c.srv.opts.OpenCheckEvery)
	defer check.Stop()
	for {
		if c.sel != nil {
			notify = c.sel.view.notify
			c.sendUpdates(true)
		}
		if c.flush() != nil {
			return "", c.endIdle(lines)
		}
		select {
		case <-notify:
			continue
		case <-check.C:
		case <-c.kick:
		case <-c.ctx.Done():
			_ = c.bye("Server shutting down")
			return "", c.endIdle(lines)
		case l := <-lines:
			return c.idleDone(l)
		}
		if err := c.stillOpen(); err != nil {
			return "", c.endIdle(lines)
		}
	}
}

// idleDone answers the line that ended IDLE.
func (c *conn) idleDone(l idleLine) (string, error) {
	var we *wire.Error
	switch {
	case errors.As(l.err, &we):
		return "", we
	case l.err != nil:
		return "", c.readFailed(l.err)
	case !wire.IsDone(l.line):
		return "", bad("Expected DONE")
	}
	return "", nil
}

// endIdle closes the connection under the reader goroutine and waits for
// it to return.
func (c *conn) endIdle(lines <-chan idleLine) error {
	_ = c.nc.Close() // the session ends either way
	<-lines
	return errEnd
}
