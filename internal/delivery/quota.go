package delivery

import (
	"context"
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
// What routing read of an account (accs) is used; an account it did
// not read is asked for.
func (t *Txn) checkQuota(ctx context.Context, r Route, accs recipientAccounts) error {
	for _, a := range r.Accounts {
		var fits bool
		var u store.Usage
		if ra := accs[a]; ra != nil {
			fits, u = ra.Usage.Fits(max(t.size, 1)), ra.Usage
		} else {
			var err error
			if fits, u, err = t.d.st.QuotaFits(ctx, a, max(t.size, 1)); err != nil {
				return err
			}
		}
		if !fits {
			return fmt.Errorf("%w: %s uses %s of %s", ErrOverQuota, u.Email, store.FormatBytes(u.Used), store.FormatBytes(u.Quota))
		}
	}
	return nil
}
