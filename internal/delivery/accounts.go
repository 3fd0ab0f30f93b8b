package delivery

// The admin actions on accounts and aliases, shared by the boxmail
// command and the web API so that each action has one code path: the
// same rules, the same errors.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"boxmail/internal/store"
)

// InputError is a request the caller must correct (a weak password, an
// alias target that does not exist); its message is meant for people.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputErrorf(format string, a ...any) error { return &InputError{fmt.Sprintf(format, a...)} }

var commonPasswords = []string{"password", "12345678", "123456789", "1234567890", "qwertyui", "qwertyuiop", "iloveyou", "password1", "letmein1", "abcdefgh"}

// CheckPassword refuses empty, short and trivially guessable passwords
// for the account a.
func CheckPassword(pw string, a Address) error {
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
func (d *Deliverer) AddAccount(ctx context.Context, a Address, pw string, admin bool) (store.Account, error) {
	if err := CheckPassword(pw, a); err != nil {
		return store.Account{}, err
	}
	if ok, err := d.st.IsLocalDomain(ctx, a.Domain); err != nil {
		return store.Account{}, err
	} else if !ok {
		return store.Account{}, inputErrorf("domain %s is not hosted here; add it first with 'boxmail domain add %s'", a.Domain, a.Domain)
	}
	return d.st.AddAccount(ctx, a.String(), pw, admin)
}

// SetPassword checks and sets an account's new password.
func (d *Deliverer) SetPassword(ctx context.Context, a Address, pw string) error {
	if err := CheckPassword(pw, a); err != nil {
		return err
	}
	return d.st.SetPassword(ctx, a.String(), pw)
}

// ParseAliasAddress parses an alias: "local@domain" or "@domain" (a
// catch-all).
func ParseAliasAddress(s string) (string, error) {
	if strings.HasPrefix(s, "@") {
		dom, err := ParseHostedDomain(s[1:])
		if err != nil {
			return "", err
		}
		return "@" + dom, nil
	}
	a, err := ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// AddAlias creates an alias whose targets and permitted senders are
// parsed addresses. Local targets must exist (an account or an alias),
// so a typo does not swallow mail.
func (d *Deliverer) AddAlias(ctx context.Context, al store.Alias) error {
	if err := d.checkAliasTargets(ctx, al); err != nil {
		return err
	}
	return d.st.AddAlias(ctx, al)
}

// SetAlias replaces an existing alias's targets and permitted senders,
// with the rules of AddAlias.
func (d *Deliverer) SetAlias(ctx context.Context, al store.Alias) error {
	if err := d.checkAliasTargets(ctx, al); err != nil {
		return err
	}
	return d.st.SetAlias(ctx, al)
}

func (d *Deliverer) checkAliasTargets(ctx context.Context, al store.Alias) error {
	if len(al.Targets) == 0 {
		return inputErrorf("an alias needs at least one target")
	}
	for _, p := range al.Permit {
		if _, err := d.st.AccountByEmail(ctx, p); errors.Is(err, store.ErrNotFound) {
			return inputErrorf("permitted sender %s is not an account here", p)
		} else if err != nil {
			return err
		}
	}
	for _, t := range al.Targets {
		if strings.EqualFold(t, al.Address) {
			return inputErrorf("an alias cannot forward to itself")
		}
		a, err := ParseAddress(t)
		if err != nil {
			return err
		}
		if local, err := d.st.IsLocalDomain(ctx, a.Domain); err != nil {
			return err
		} else if !local {
			continue
		}
		if _, err := d.st.AliasByAddress(ctx, t); err == nil {
			continue // an alias, even one that leads nowhere yet
		}
		if _, err := d.Resolve(ctx, t); errors.Is(err, ErrUnknownRecipient) {
			return inputErrorf("target %s is not an account or alias here", t)
		} else if err != nil {
			return err
		}
	}
	return nil
}
