package admin

// The ways into an account besides its password: two-step login (TOTP)
// and per-device app passwords; and how a recorded login is shown.

import (
	"context"

	"boxmail/internal/store"
)

// EnableTOTP turns two-step login on with secret (store.NewTOTPSecret);
// usedStep is the step of the code that confirmed it (0: none). One
// already on is store.ErrExists.
func (s *Service) EnableTOTP(ctx context.Context, email, secret string, usedStep int64) error {
	return s.st.EnableTOTP(ctx, email, secret, usedStep)
}

// DisableTOTP turns two-step login off: the main password alone logs in
// again, also on mail apps.
func (s *Service) DisableTOTP(ctx context.Context, email string) error {
	return s.st.DisableTOTP(ctx, email)
}

// ForgetTOTPKey is the way back from a lost TOTP sealing key
// (keys/totp.key on no node any more): every account's two-step login
// goes off, and the next setup makes a new key. It returns how many
// accounts had it on.
func (s *Service) ForgetTOTPKey(ctx context.Context) (int, error) {
	return s.st.ForgetTOTPKey(ctx)
}

// AddAppPassword makes an app password named name and returns it: the
// only time it is seen. A taken name is store.ErrExists, a bad one
// store.ErrInvalid.
func (s *Service) AddAppPassword(ctx context.Context, email, name string) (string, error) {
	return s.st.AddAppPassword(ctx, email, name)
}

// RevokeAppPassword deletes one app password (store.ErrNotFound: none
// of that name).
func (s *Service) RevokeAppPassword(ctx context.Context, email, name string) error {
	return s.st.RevokeAppPassword(ctx, email, name)
}

// RevokeAppPasswords deletes all of an account's app passwords and
// returns how many there were.
func (s *Service) RevokeAppPasswords(ctx context.Context, email string) (int, error) {
	return s.st.RevokeAppPasswords(ctx, email)
}

// DescribeLogin is "2026-11-30 14:02 UTC, imap from 192.0.2.1", or none
// when there was no login.
func DescribeLogin(l store.LoginRecord, none string) string {
	if l.At.IsZero() {
		return none
	}
	s := l.At.UTC().Format("2006-01-02 15:04 UTC") + ", " + l.Protocol
	if l.Addr != "" {
		s += " from " + l.Addr
	}
	return s
}
