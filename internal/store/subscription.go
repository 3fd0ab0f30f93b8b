package store

import (
	"context"
	"database/sql"
)

// Subscriptions (IMAP SUBSCRIBE, LSUB, LIST (SUBSCRIBED)) are mailbox
// names an account keeps in a table of their own (migration 22), not a
// property of a mailbox: a name stays subscribed when its mailbox is
// deleted or renamed (RFC 9051 6.3.7: a server "SHOULD NOT unilaterally
// remove an existing mailbox name from the subscription list even if a
// mailbox by that name no longer exists"), and LIST shows it then as
// \NonExistent (RFC 5258). Every new mailbox is subscribed
// (createMailbox). The names are normalised like mailbox names (INBOX).
//
// Not to be confused with the change feed's Subscription (feed.go).

// Subscriptions returns the names the account subscribes to, sorted,
// whether or not a mailbox has the name.
func (s *Store) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (string, error) {
		var name string
		err := rows.Scan(&name)
		return name, err
	}, "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name", accountID)
}

// SetSubscribed subscribes the account to a mailbox name (sub) or
// unsubscribes it. The name need not be a mailbox's (checking that is
// the caller's policy: the IMAP server refuses to subscribe to a name
// that is no mailbox, as Dovecot does), but must be a valid mailbox name
// to be subscribed. Subscribing twice, or unsubscribing a name that is
// not subscribed, is no error.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, sub bool) error {
	name = NormalizeMailboxName(name)
	if sub {
		if err := validMailboxName(name); err != nil {
			return err
		}
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		if sub {
			return subscribe(ctx, tx, accountID, name)
		}
		_, err := tx.exec(ctx, "DELETE FROM subscriptions WHERE account_id = ? AND name = ?", accountID, name)
		return err
	})
}

// subscribe adds a subscription in a write transaction.
func subscribe(ctx context.Context, tx *Tx, accountID int64, name string) error {
	_, err := tx.exec(ctx, "INSERT INTO subscriptions(account_id, name) VALUES(?, ?) ON CONFLICT DO NOTHING", accountID, name)
	return err
}
