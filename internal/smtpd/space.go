package smtpd

import (
	"github.com/emersion/go-smtp"
)

// spaceGate refuses a recipient or a message while the data dir's disk
// is below the space kept free (store.CheckSpace), before any write can
// fail: 452 4.3.1, so the sender retries later (RFC 3463 4.3.1).
func (c *session) spaceGate() error {
	if err := c.s.o.Store.CheckSpace(); err != nil {
		c.log.Warn("mail refused: the disk is nearly full", "err", err)
		return smtpErr(452, smtp.EnhancedCode{4, 3, 1}, "Insufficient system storage, try again later")
	}
	return nil
}
