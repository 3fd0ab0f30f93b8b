package managesieve

import (
	"context"
	"net/netip"

	"boxmail/internal/store"
)

// Errors a Backend or Session returns that the server answers
// specifically; any other error is logged and answered generically.
var (
	// ErrAuthFailed: wrong user name or password (store.ErrAuthFailed, so
	// the login limiter counts it).
	ErrAuthFailed = store.ErrAuthFailed
	// ErrNotFound: no such script, or (from Login) no such user.
	ErrNotFound = store.ErrNotFound
	// ErrScriptActive: the script is active and cannot be deleted.
	ErrScriptActive = store.ErrScriptActive
	// ErrExists: a script of that name exists already.
	ErrExists = store.ErrExists
)

// Backend authenticates users: the NON-AUTHENTICATED state.
type Backend interface {
	// Login checks the credentials and opens the account's scripts.
	Login(ctx context.Context, username, password string, remote netip.Addr) (Session, error)
}

// Script is one script as LISTSCRIPTS shows it.
type Script struct {
	Name   string
	Active bool
}

// Session is a logged-in account's scripts: the AUTHENTICATED state.
// Scripts reach it validated (package sieve) and with checked names.
type Session interface {
	// Owner is the account's address (the OWNER capability).
	Owner() string
	// Scripts lists the account's scripts.
	Scripts(ctx context.Context) ([]Script, error)
	// Script returns a script's content; ErrNotFound when there is none.
	Script(ctx context.Context, name string) (string, error)
	// Put stores a script, replacing one of the same name.
	Put(ctx context.Context, name, content string) error
	// SetActive makes a script the active one ("" deactivates all);
	// ErrNotFound when there is none of that name.
	SetActive(ctx context.Context, name string) error
	// Delete removes a script: ErrNotFound, ErrScriptActive.
	Delete(ctx context.Context, name string) error
	// Rename renames a script: ErrNotFound, ErrExists.
	Rename(ctx context.Context, from, to string) error
}
