package pop3d

import (
	"context"
	"errors"
	"io"
	"net/netip"

	"boxmail/internal/store"
)

// Errors a Backend returns that the server answers specifically.
var (
	// ErrAuthFailed: wrong user name or password (store.ErrAuthFailed, so
	// the login limiter counts it). Answered "-ERR [AUTH]".
	ErrAuthFailed = store.ErrAuthFailed
	// ErrInUse: another session holds the maildrop (RFC 2449 8.1.1).
	ErrInUse = errors.New("maildrop in use")
	// ErrGone: the message was removed by another client meanwhile.
	ErrGone = errors.New("message removed by another session")
)

// Backend authenticates users and opens their maildrops.
type Backend interface {
	// Login checks the credentials and opens the account's maildrop,
	// locked to this session until Session.Close.
	Login(ctx context.Context, username, password string, remote netip.Addr) (Session, error)
}

// Message is one message of a maildrop as LIST and UIDL show it.
type Message struct {
	Size int64
	// UID is the unique-id listing (RFC 1939 7, UIDL): the same message
	// has the same one in every session, across restarts.
	UID string
}

// Session is a logged-in maildrop. Its message list is fixed at login:
// RFC 1939 message numbers do not change during a session, whatever
// other clients do meanwhile.
type Session interface {
	// Messages lists the maildrop, message 1 first.
	Messages() []Message
	// Retrieve opens message i (0-based) as stored, to be read while ctx
	// lasts and then closed; ErrGone when it was removed since login.
	Retrieve(ctx context.Context, i int) (io.ReadCloser, error)
	// Update is the UPDATE state (RFC 1939 6), atomically: the retrieved
	// messages are marked seen and the deleted ones removed (0-based).
	Update(ctx context.Context, retrieved, deleted []int) error
	// Close releases the maildrop.
	Close() error
}
