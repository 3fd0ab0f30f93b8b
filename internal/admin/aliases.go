package admin

// Aliases: an address (or a domain's catch-all "@domain") whose mail
// goes to targets, with the accounts permitted to send as it. A domain
// alias is the "@old" alias whose one target is "@new": x@old goes to
// x@new unless an account or explicit alias takes x@old.

import (
	"context"
	"errors"
	"strings"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// ParseAliasAddress parses an alias: "local@domain" or "@domain" (a
// catch-all).
func ParseAliasAddress(s string) (string, error) {
	if strings.HasPrefix(s, "@") {
		dom, err := delivery.ParseHostedDomain(s[1:])
		if err != nil {
			return "", err
		}
		return "@" + dom, nil
	}
	a, err := delivery.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// ParseAliasTarget parses one target of an alias: an address, or
// "@domain" (the target of a domain alias, whose address is "@domain"
// too and which has no other target; AddAlias checks that).
func ParseAliasTarget(s string) (string, error) {
	if strings.HasPrefix(s, "@") {
		return ParseAliasAddress(s)
	}
	a, err := delivery.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// AddAlias creates an alias whose targets and permitted senders are
// parsed addresses. Local targets must exist (an account or an alias),
// so a typo does not swallow mail.
func (s *Service) AddAlias(ctx context.Context, al store.Alias) error {
	if err := s.checkAliasTargets(ctx, al); err != nil {
		return err
	}
	return s.st.AddAlias(ctx, al)
}

// SetAlias replaces an existing alias's targets and permitted senders,
// with the rules of AddAlias.
func (s *Service) SetAlias(ctx context.Context, al store.Alias) error {
	if err := s.checkAliasTargets(ctx, al); err != nil {
		return err
	}
	return s.st.SetAlias(ctx, al)
}

// RemoveAlias deletes an alias (address as ParseAliasAddress returns it).
func (s *Service) RemoveAlias(ctx context.Context, address string) error {
	return s.st.RemoveAlias(ctx, address)
}

func (s *Service) checkAliasTargets(ctx context.Context, al store.Alias) error {
	if len(al.Targets) == 0 {
		return inputErrorf("an alias needs at least one target")
	}
	for _, p := range al.Permit {
		if _, err := s.st.AccountByEmail(ctx, p); errors.Is(err, store.ErrNotFound) {
			return inputErrorf("permitted sender %s is not an account here", p)
		} else if err != nil {
			return err
		}
	}
	for _, t := range al.Targets {
		if strings.HasPrefix(t, "@") {
			return s.checkDomainAlias(ctx, al)
		}
		if err := s.checkAliasTarget(ctx, al, t); err != nil {
			return err
		}
	}
	return nil
}

// checkDomainAlias checks an alias with a "@domain" target: it must be a
// domain alias ("@old" with the one target "@new"), both domains hosted
// (the box receives for old.example because it is a domain here: MX,
// DKIM and certificate follow it, as in Mail-in-a-Box), and no chain:
// "@new" is not itself a domain alias and no domain alias leads to "@old".
func (s *Service) checkDomainAlias(ctx context.Context, al store.Alias) error {
	if !strings.HasPrefix(al.Address, "@") || len(al.Targets) != 1 {
		return inputErrorf("a @domain target makes a domain alias: its address must be @domain and it has no other target")
	}
	from, to := strings.ToLower(al.Address[1:]), strings.ToLower(al.Targets[0][1:])
	if from == to {
		return inputErrorf("a domain alias cannot lead to its own domain")
	}
	for _, d := range []string{from, to} {
		if local, err := s.st.IsLocalDomain(ctx, d); err != nil {
			return err
		} else if !local {
			return inputErrorf("%s is not a domain of this box: add it first (boxmail domain add %s)", d, d)
		}
	}
	all, err := s.st.Aliases(ctx)
	if err != nil {
		return err
	}
	for _, o := range all {
		dom, ok := delivery.DomainAliasTarget(o)
		switch {
		case !ok:
		case o.Address == "@"+to:
			return inputErrorf("@%s is itself a domain alias (to @%s): point @%s at @%s directly", to, dom, from, dom)
		case dom == from && o.Address != "@"+from:
			return inputErrorf("%s is a domain alias to @%s: a chain of domain aliases is not allowed", o.Address, from)
		}
	}
	return nil
}

// checkAliasTarget refuses a target that is the alias itself or a local
// address that is neither an account nor an alias.
func (s *Service) checkAliasTarget(ctx context.Context, al store.Alias, t string) error {
	if strings.EqualFold(t, al.Address) {
		return inputErrorf("an alias cannot forward to itself")
	}
	a, err := delivery.ParseAddress(t)
	if err != nil {
		return err
	}
	if local, err := s.st.IsLocalDomain(ctx, a.Domain); err != nil || !local {
		return err
	}
	if _, err := s.st.AliasByAddress(ctx, t); err == nil {
		return nil // an alias, even one that leads nowhere yet
	}
	if _, err := s.d.Resolve(ctx, t); errors.Is(err, delivery.ErrUnknownRecipient) {
		return inputErrorf("target %s is not an account or alias here", t)
	} else if err != nil {
		return err
	}
	return nil
}
