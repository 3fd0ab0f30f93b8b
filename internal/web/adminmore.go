package web

// Editing an alias in place and closing a user while keeping their mail:
// the same admin.Service calls as 'boxmail alias set' and 'boxmail user
// disable|enable'.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

func (s *Server) setAlias(ctx context.Context, address string, targets, permit []string) error {
	al, err := aliasInput(address, targets, permit)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.SetAlias(ctx, al))
}

// setUserDisabled closes (keeping the mail) or reopens an account; the
// closed account's sessions end at once.
func (s *Server) setUserDisabled(ctx context.Context, by, email string, disabled bool) error {
	a, err := parseAddr("email", email)
	if err != nil {
		return err
	}
	if disabled && a.String() == by {
		return badf("you cannot disable your own account while logged in with it")
	}
	if err := s.o.Admin.SetAccountDisabled(ctx, a, disabled); err != nil {
		return classify(err)
	}
	if disabled {
		s.sessions.dropUser(a.String(), "")
	}
	return nil
}

// turnOffTwoStep turns off a user's two-step login (TOTP), for a family
// member who lost the phone with the authenticator: the main password
// alone opens the web again, and works for mail apps again (as
// `boxmail user totp EMAIL disable`). Their app passwords stay.
func (s *Server) turnOffTwoStep(ctx context.Context, email string) error {
	a, err := parseAddr("email", email)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.DisableTOTP(ctx, a.String()))
}

// markStates marks the disabled accounts of the users list, and those
// with two-step login on.
func (s *Server) markStates(ctx context.Context, us []userInfo) error {
	off, err := s.o.Store.DisabledAccounts(ctx)
	if err != nil {
		return err
	}
	for i := range us {
		us[i].Disabled = off[us[i].Email]
		if us[i].TwoStep, err = s.o.Store.TOTPEnabled(ctx, us[i].Email); err != nil {
			return err
		}
	}
	return nil
}

// usersFormMore handles the user form's ops that keep the mail.
func usersFormMore(s *Server, r *http.Request, by string) (string, error) {
	ctx, email := r.Context(), strings.TrimSpace(r.PostFormValue("email"))
	switch r.PostFormValue("op") {
	case "disable", "remove": // "remove" comes here only with mail=keep
		return "Disabled " + email + ": no logins, mail to it is refused, and its mail is kept.", s.setUserDisabled(ctx, by, email, true)
	case "enable":
		return "Enabled " + email + " again.", s.setUserDisabled(ctx, by, email, false)
	case "sign-out":
		so, err := s.signOutEverywhere(ctx, email, r.PostFormValue("revoke_apps") == "on")
		return so.message(email), err
	case "two-step-off":
		return "Two-step login is off for " + email + ": the password alone logs in again.", s.turnOffTwoStep(ctx, email)
	}
	return "", badf("unknown action")
}

// signedOut is what signOutEverywhere ended.
type signedOut struct {
	Sessions     int `json:"ended_sessions"`
	AppPasswords int `json:"revoked_app_passwords"`
}

func (so signedOut) message(email string) string {
	return fmt.Sprintf("Signed %s out everywhere: %d web session(s) ended, %d app password(s) revoked.", email, so.Sessions, so.AppPasswords)
}

// signOutEverywhere ends all web sessions of an account and, with
// revokeApps, deletes its app passwords, so no device stays logged in
// (a lost phone, a password someone saw); the user's own "sign out
// everywhere" and the admin's do the same.
func (s *Server) signOutEverywhere(ctx context.Context, email string, revokeApps bool) (signedOut, error) {
	a, err := parseAddr("email", email)
	if err != nil {
		return signedOut{}, err
	}
	if _, err := s.o.Store.AccountByEmail(ctx, a.String()); err != nil {
		return signedOut{}, classify(fmt.Errorf("account %s: %w", a, err))
	}
	var so signedOut
	if revokeApps {
		if so.AppPasswords, err = s.o.Admin.RevokeAppPasswords(ctx, a.String()); err != nil {
			return signedOut{}, classify(err)
		}
	}
	so.Sessions = s.sessions.dropUser(a.String(), "")
	s.log.Info("signed out everywhere", "user", a.String(), "sessions", so.Sessions, "app_passwords", so.AppPasswords)
	return so, nil
}

func (s *Server) apiSignOut(r *http.Request, _ string) (any, error) {
	var in struct {
		RevokeAppPasswords bool `json:"revoke_app_passwords"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return nil, err
		}
	}
	return s.signOutEverywhere(r.Context(), r.PathValue("email"), in.RevokeAppPasswords)
}

func aliasesFormMore(s *Server, r *http.Request) (string, error) {
	ctx, addr := r.Context(), strings.TrimSpace(r.PostFormValue("address"))
	if r.PostFormValue("op") != "edit" {
		return "", badf("unknown action")
	}
	return "Changed alias " + addr + ".", s.setAlias(ctx, addr, []string{r.PostFormValue("targets")}, []string{r.PostFormValue("permit")})
}

func (s *Server) apiSetAlias(r *http.Request, _ string) (any, error) {
	var in struct {
		Targets []string `json:"targets"`
		Permit  []string `json:"permit"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return nil, s.setAlias(r.Context(), r.PathValue("address"), in.Targets, in.Permit)
}

func (s *Server) apiSetDisabled(r *http.Request, by string) (any, error) {
	var in struct {
		Disabled *bool `json:"disabled"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.Disabled == nil {
		return nil, badf("disabled is missing: true or false")
	}
	return nil, s.setUserDisabled(r.Context(), by, r.PathValue("email"), *in.Disabled)
}
