package delivery

import (
	"fmt"

	"boxmail/internal/store"
)

// ErrOverQuota: a local mailbox of the recipient has no room for the
// message (SMTP 452 4.2.2: the sender retries, and bounces only after its
// own retry period, as with any full mailbox).
var ErrOverQuota = store.ErrOverQuota

// SetSize tells the transaction the message size the client declared
// (SMTP SIZE=), so a recipient whose mailbox cannot take it is refused
// at RCPT rather than after the data was sent.
func (t *Txn) SetSize(n int64) { t.size = n }

// checkQuota refuses a route when any of its local mailboxes is full: a
// message to an alias reaches all its members or, for now, none.
// Each account of r is in accs: resolve records what it read of every
// account it routes to, quota use included.
func (t *Txn) checkQuota(r Route, accs recipientAccounts) error {
	for _, a := range r.Accounts {
		ra := accs[a]
		if ra == nil {
			return fmt.Errorf("account %d: routed but not read", a)
		}
		if u := ra.Usage; !u.Fits(max(t.size, 1)) {
			return fmt.Errorf("%w: %s uses %s of %s", ErrOverQuota, u.Email, store.FormatBytes(u.Used), store.FormatBytes(u.Quota))
		}
	}
	return nil
}
