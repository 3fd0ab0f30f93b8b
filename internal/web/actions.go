package web

// The admin actions. The HTML forms and the JSON API both call these,
// and these call admin.Service, as the boxmail command does.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// badInput is an error the requester must correct: HTTP 400 with its
// message (404 when notFound, status when set).
type badInput struct {
	msg      string
	notFound bool
	status   int
}

func (e *badInput) Error() string { return e.msg }

func badf(format string, a ...any) error { return &badInput{msg: fmt.Sprintf(format, a...)} }

// classify turns the errors of admin and store into badInput; other
// errors stay internal.
func classify(err error) error {
	var ie *admin.InputError
	var bi *badInput
	switch {
	case err == nil, errors.As(err, &bi):
		return err
	case errors.As(err, &ie):
		return &badInput{msg: ie.Msg}
	case errors.Is(err, store.ErrNotFound):
		return &badInput{msg: err.Error(), notFound: true}
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrDomainNotEmpty):
		return &badInput{msg: err.Error()}
	}
	return err
}

func parseAddr(field, s string) (delivery.Address, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return delivery.Address{}, badf("%s is missing", field)
	}
	a, err := delivery.ParseAddress(s)
	if err != nil {
		return a, badf("%s: %v", field, err)
	}
	return a, nil
}

func parseAddrList(field string, l []string) ([]string, error) {
	var out []string
	for _, x := range l {
		for _, y := range strings.Split(x, ",") {
			if y = strings.TrimSpace(y); y == "" {
				continue
			}
			a, err := parseAddr(field, y)
			if err != nil {
				return nil, err
			}
			out = append(out, a.String())
		}
	}
	return out, nil
}

type userInfo struct {
	Email     string `json:"email"`
	Admin     bool   `json:"admin"`
	Created   string `json:"created"`
	SizeBytes int64  `json:"size_bytes"`
	Messages  int64  `json:"messages"`
	LastLogin string `json:"last_login"`
	Disabled  bool   `json:"disabled"` // closed, mail kept (adminmore.go)
	TwoStep   bool   `json:"two_step"` // TOTP on for the web login
}

func (s *Server) listUsers(ctx context.Context) ([]userInfo, error) {
	as, err := s.o.Store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	logins, err := s.o.Store.AllLogins(ctx)
	if err != nil {
		return nil, err
	}
	out := []userInfo{}
	for _, a := range as {
		u := userInfo{Email: a.Email, Admin: a.Admin, Created: a.Created.UTC().Format("2006-01-02"), LastLogin: lastLoginOf(logins, a.ID)}
		mbs, err := s.o.Store.Mailboxes(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		for _, mb := range mbs {
			c, err := s.o.Store.Counts(ctx, mb.ID)
			if err != nil {
				return nil, err
			}
			u.SizeBytes += c.Size
			u.Messages += int64(c.Messages)
		}
		out = append(out, u)
	}
	return out, s.markStates(ctx, out)
}

func (s *Server) addUser(ctx context.Context, email, password string, admin bool) error {
	a, err := parseAddr("email", email)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.AddAccount(ctx, a, password, admin))
}

func (s *Server) setPassword(ctx context.Context, email, password string) error {
	a, err := parseAddr("email", email)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.SetPassword(ctx, a, password))
}

// resetPassword is an admin setting a user's password: the user's web
// sessions end (they were made with the old one; store.SessionStamp ends
// them in any case); the app passwords stay, and the message says so.
func (s *Server) resetPassword(ctx context.Context, email, password string) (string, error) {
	if err := s.setPassword(ctx, email, password); err != nil {
		return "", err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	n := s.sessions.dropUser(email, "")
	s.log.Info("password reset by an admin on the web", "user", email, "sessions_ended", n)
	msg := "Changed the password of " + email + "; their web sessions are ended."
	if ps, err := s.o.Store.AppPasswords(ctx, email); err == nil && len(ps) > 0 {
		msg += fmt.Sprintf(" Their %d app password(s) still work; “Sign out everywhere” revokes them.", len(ps))
	}
	return msg, nil
}

func (s *Server) setAdmin(ctx context.Context, by, email string, admin bool) error {
	a, err := parseAddr("email", email)
	if err != nil {
		return err
	}
	if a.String() == by && !admin {
		return badf("you cannot take away your own admin right; ask another admin")
	}
	return classify(s.o.Admin.SetAdmin(ctx, a, admin))
}

func (s *Server) removeUser(ctx context.Context, by, email string) error {
	a, err := parseAddr("email", email)
	if err != nil {
		return err
	}
	if a.String() == by {
		return badf("you cannot remove your own account while logged in with it")
	}
	if err := s.o.Admin.RemoveAccount(ctx, a); err != nil {
		return classify(err)
	}
	s.sessions.dropUser(a.String(), "")
	return nil
}

type aliasInfo struct {
	Address   string   `json:"address"`
	Targets   []string `json:"targets"`
	Permit    []string `json:"permit"`
	Automatic bool     `json:"automatic,omitempty"`
	CatchAll  bool     `json:"catch_all,omitempty"`
}

// listAliases returns the aliases, then the automatic role addresses of
// each domain that no alias overrides.
func (s *Server) listAliases(ctx context.Context) ([]aliasInfo, error) {
	as, err := s.o.Store.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	out := []aliasInfo{}
	have := map[string]bool{}
	for _, a := range as {
		have[a.Address] = true
		out = append(out, aliasInfo{Address: a.Address, Targets: nonNil(a.Targets), Permit: nonNil(a.Permit), CatchAll: strings.HasPrefix(a.Address, "@")})
	}
	ds, err := s.o.Store.Domains(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		adm, err := s.o.Store.FirstAdmin(ctx, d.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		for _, r := range delivery.RoleLocals {
			addr := r + "@" + d.Name
			if !have[addr] {
				out = append(out, aliasInfo{Address: addr, Targets: []string{adm.Email}, Permit: []string{}, Automatic: true})
			}
		}
	}
	return out, nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (s *Server) addAlias(ctx context.Context, address string, targets, permit []string) error {
	al, err := aliasInput(address, targets, permit)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.AddAlias(ctx, al))
}

// aliasInput checks an alias form or API body: the address, at least one
// target, and the permitted senders.
func aliasInput(address string, targets, permit []string) (store.Alias, error) {
	address = strings.TrimSpace(address)
	if address == "" {
		return store.Alias{}, badf("address is missing")
	}
	addr, err := admin.ParseAliasAddress(address)
	if err != nil {
		return store.Alias{}, badf("address: %v", err)
	}
	ts, err := parseAddrList("target", targets)
	if err != nil {
		return store.Alias{}, err
	}
	if len(ts) == 0 {
		return store.Alias{}, badf("targets are missing: give at least one address the mail goes to")
	}
	ps, err := parseAddrList("permitted sender", permit)
	if err != nil {
		return store.Alias{}, err
	}
	return store.Alias{Address: addr, Targets: ts, Permit: ps}, nil
}

func (s *Server) removeAlias(ctx context.Context, address string) error {
	addr, err := admin.ParseAliasAddress(strings.TrimSpace(address))
	if err != nil {
		return badf("address: %v", err)
	}
	return classify(s.o.Admin.RemoveAlias(ctx, addr))
}

func (s *Server) addDomain(ctx context.Context, name string) error {
	if strings.TrimSpace(name) == "" {
		return badf("domain is missing")
	}
	d, err := delivery.ParseHostedDomain(strings.TrimSpace(name))
	if err != nil {
		return badf("domain: %v", err)
	}
	return classify(s.o.Admin.AddDomain(ctx, d))
}

func (s *Server) removeDomain(ctx context.Context, name string) error {
	d, err := delivery.ParseHostedDomain(strings.TrimSpace(name))
	if err != nil {
		return badf("domain: %v", err)
	}
	return classify(s.o.Admin.RemoveDomain(ctx, d))
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, badf("queue id %q is not a number", s)
	}
	return id, nil
}

func (s *Server) retryQueued(ctx context.Context, idStr string) error {
	id, err := parseID(idStr)
	if err != nil {
		return err
	}
	n, err := s.o.Admin.RetryQueued(ctx, id)
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return &badInput{msg: fmt.Sprintf("queue entry %d: not found", id), notFound: true}
	}
	return nil
}

func (s *Server) removeQueued(ctx context.Context, idStr string, silent bool) error {
	id, err := parseID(idStr)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.RemoveQueued(ctx, id, silent))
}
