package admin

// Accounts: create, password, admin right, close and reopen, quota,
// remove.

import (
	"context"
	"strings"

	"boxmail/internal/delivery"
)

var commonPasswords = []string{"password", "12345678", "123456789", "1234567890", "qwertyui", "qwertyuiop", "iloveyou", "password1", "letmein1", "abcdefgh"}

// CheckPassword refuses empty, short and trivially guessable passwords
// for the account a.
func CheckPassword(pw string, a delivery.Address) error {
	switch {
	case pw == "":
		return inputErrorf("empty password")
	case len([]rune(pw)) < 8:
		return inputErrorf("password too short: use at least 8 characters")
	case strings.Trim(pw, pw[:1]) == "":
		return inputErrorf("password too weak: one repeated character")
	case strings.EqualFold(pw, a.Local) || strings.EqualFold(pw, a.String()):
		return inputErrorf("password too weak: it is the address")
	}
	for _, c := range commonPasswords {
		if strings.EqualFold(pw, c) {
			return inputErrorf("password too weak: it is one of the most common passwords")
		}
	}
	return nil
}

// AddAccount creates an account after checking its password and that
// its domain is hosted here.
func (s *Service) AddAccount(ctx context.Context, a delivery.Address, pw string, admin bool) error {
	if err := CheckPassword(pw, a); err != nil {
		return err
	}
	if ok, err := s.st.IsLocalDomain(ctx, a.Domain); err != nil {
		return err
	} else if !ok {
		return inputErrorf("domain %s is not hosted here; add it first with 'boxmail domain add %s'", a.Domain, a.Domain)
	}
	_, err := s.st.AddAccount(ctx, a.String(), pw, admin)
	return err
}

// SetPassword checks and sets an account's new password; the web
// sessions made with the old one end at their next request
// (store.SessionStamp), its app passwords stay.
func (s *Service) SetPassword(ctx context.Context, a delivery.Address, pw string) error {
	if err := CheckPassword(pw, a); err != nil {
		return err
	}
	return s.st.SetPassword(ctx, a.String(), pw)
}

// SetAdmin gives or takes an account's admin right.
func (s *Service) SetAdmin(ctx context.Context, a delivery.Address, admin bool) error {
	return s.st.SetAdmin(ctx, a.String(), admin)
}

// RemoveAccount deletes an account and all its mail.
func (s *Service) RemoveAccount(ctx context.Context, a delivery.Address) error {
	return s.st.RemoveAccount(ctx, a.String())
}

// SetAccountDisabled closes or reopens an account, keeping its mail
// (store.SetAccountDisabled). A missing account is store.ErrNotFound.
func (s *Service) SetAccountDisabled(ctx context.Context, a delivery.Address, disabled bool) error {
	return s.st.SetAccountDisabled(ctx, a.String(), disabled)
}

// SetQuota sets an account's quota in bytes (0: none).
func (s *Service) SetQuota(ctx context.Context, a delivery.Address, bytes int64) error {
	return s.st.SetQuota(ctx, a.String(), bytes)
}
