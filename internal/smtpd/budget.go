package smtpd

import (
	"errors"
	"sync"
)

// DataBudget bounds the message data that the SMTP sessions sharing it
// hold in memory at once: a message is read whole before it is checked
// and stored, so twenty clients sending 20 MiB each at the same moment
// would otherwise cost the box gigabytes. A message that cannot get more
// of the budget is read to its end and refused with 452 4.3.1: its
// sender tries again later, and nothing is lost.
//
// Small messages (up to smallMessage bytes) may also draw on a reserve
// of half the limit that large ones cannot touch, so the family's
// everyday mail is accepted while big messages fill the budget. One
// budget serves every SMTP port of a box (see Options.DataBudget).
type DataBudget struct {
	mu          sync.Mutex
	held, limit int64
}

// smallMessage is the size up to which a message may use the reserve.
const smallMessage = 1 << 20

// errNoBudget ends the reading of a message the budget could not hold.
var errNoBudget = errors.New("too much message data held at once")

// NewDataBudget returns a budget of limit bytes for large messages (and
// limit/2 more for small ones). limit should be at least the largest
// message accepted, or such a message could never be received.
func NewDataBudget(limit int64) *DataBudget { return &DataBudget{limit: limit} }

// take reserves n more bytes for a message that will then have read
// size bytes in all, and reports whether it may.
func (b *DataBudget) take(n, size int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.limit
	if size <= smallMessage {
		limit += b.limit / 2
	}
	if b.held+n > limit {
		return false
	}
	b.held += n
	return true
}

// give returns n bytes taken before.
func (b *DataBudget) give(n int64) {
	b.mu.Lock()
	b.held -= n
	b.mu.Unlock()
}
