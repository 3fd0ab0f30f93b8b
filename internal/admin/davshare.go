package admin

// Shared contacts and calendars (issue 20): an admin makes an address
// book or a calendar in one account (the owner; often the admin's own)
// and grants chosen accounts read or read/write access. Each of them
// then finds it in its own home set (CardDAV/CalDAV discovery), so a
// phone or vdirsyncer picks it up beside its own; a revoked account
// loses it on its next sync. Who may do this (an admin) is checked by
// the caller.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"boxmail/internal/store"
)

// ParseDAVKind reads "contacts" (an address book) or "calendars"
// (singular forms too).
func ParseDAVKind(s string) (store.DAVKind, error) {
	switch strings.ToLower(s) {
	case "contacts", "contact", "addressbook", "card":
		return store.DAVCards, nil
	case "calendars", "calendar", "cal":
		return store.DAVCalendars, nil
	}
	return "", inputErrorf("%q: want contacts or calendars", s)
}

// DAVKindName is the word ParseDAVKind reads for kind.
func DAVKindName(kind store.DAVKind) string {
	if kind == store.DAVCards {
		return "contacts"
	}
	return "calendars"
}

// CreateSharedDAVCollection makes an address book or calendar named name
// in owner's account to share, with a display name (default: name); an
// existing one of that name is returned as it is, so the owner's default
// collection can be shared too.
func (s *Service) CreateSharedDAVCollection(ctx context.Context, owner string, kind store.DAVKind, name, display string) (store.DAVCollection, error) {
	if !store.ValidDAVName(name) || strings.HasPrefix(name, "shared~") {
		return store.DAVCollection{}, inputErrorf("collection name %q: use letters, digits and -_.@+=~:, (not starting with a dot or shared~)", name)
	}
	if strings.ContainsFunc(display, func(r rune) bool { return r < ' ' || r == 0x7f }) || len(display) > 1024 {
		return store.DAVCollection{}, inputErrorf("the display name must be one line of at most 1024 bytes")
	}
	acc, err := s.st.AccountByEmail(ctx, owner)
	if err != nil {
		return store.DAVCollection{}, fmt.Errorf("account %s: %w", owner, err)
	}
	if display == "" {
		display = name
	}
	c, err := s.st.CreateDAVCollection(ctx, store.DAVCollection{AccountID: acc.ID, Kind: kind, Name: name, DisplayName: display}, true)
	if errors.Is(err, store.ErrCollectionFull) {
		return c, inputErrorf("%s has %d %s already, the most an account may have", acc.Email, store.DAVMaxCollections, DAVKindName(kind))
	}
	return c, err
}

// davShareTarget finds owner's collection and the account to grant.
func (s *Service) davShareTarget(ctx context.Context, owner string, kind store.DAVKind, name, user string) (store.DAVCollection, store.Account, error) {
	o, err := s.st.AccountByEmail(ctx, owner)
	if err != nil {
		return store.DAVCollection{}, store.Account{}, fmt.Errorf("account %s: %w", owner, err)
	}
	c, err := s.st.DAVCollection(ctx, o.ID, kind, name)
	if err != nil {
		return c, store.Account{}, fmt.Errorf("%s of %s named %q: %w", DAVKindName(kind), o.Email, name, err)
	}
	u, err := s.st.AccountByEmail(ctx, user)
	if err != nil {
		return c, u, fmt.Errorf("account %s: %w", user, err)
	}
	if u.ID == o.ID {
		return c, u, inputErrorf("%s owns %s/%s; share it with other accounts", o.Email, DAVKindName(kind), name)
	}
	return c, u, nil
}

// GrantDAVCollection shares owner's collection with user, read-only or
// read/write; granting again changes the access.
func (s *Service) GrantDAVCollection(ctx context.Context, owner string, kind store.DAVKind, name, user string, write bool) error {
	c, u, err := s.davShareTarget(ctx, owner, kind, name, user)
	if err != nil {
		return err
	}
	if err := s.st.ShareDAVCollection(ctx, c.ID, u.ID, write); err != nil {
		return err
	}
	s.log.Info("dav collection shared", "owner", strings.ToLower(owner), "kind", string(kind), "name", name, "with", u.Email, "write", write)
	return nil
}

// RevokeDAVCollection stops sharing owner's collection with user.
func (s *Service) RevokeDAVCollection(ctx context.Context, owner string, kind store.DAVKind, name, user string) error {
	c, u, err := s.davShareTarget(ctx, owner, kind, name, user)
	if err != nil {
		return err
	}
	if err := s.st.UnshareDAVCollection(ctx, c.ID, u.ID); err != nil {
		return fmt.Errorf("%s/%s is not shared with %s: %w", DAVKindName(kind), name, u.Email, err)
	}
	s.log.Info("dav collection unshared", "owner", strings.ToLower(owner), "kind", string(kind), "name", name, "with", u.Email)
	return nil
}

// DAVShares lists every grant.
func (s *Service) DAVShares(ctx context.Context) ([]store.DAVShare, error) {
	return s.st.DAVShares(ctx)
}
