package web

// Editing an alias in place and closing a user while keeping their mail:
// the same delivery functions as 'boxmail alias set' and 'boxmail user
// disable|enable'.

import (
	"context"
	"net/http"
	"strings"

	"boxmail/internal/store"
)

func (s *Server) setAlias(ctx context.Context, address string, targets, permit []string) error {
	al, err := aliasInput(address, targets, permit)
	if err != nil {
		return err
	}
	return classify(s.o.Deliverer.SetAlias(ctx, al))
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
	if err := s.o.Deliverer.SetAccountDisabled(ctx, a, disabled); err != nil {
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
	return classify(s.o.Store.DisableTOTP(ctx, a.String()))
}

// accountClosed reports whether a logged-in account was disabled since.
func (s *Server) accountClosed(ctx context.Context, a store.Account) bool {
	off, err := s.o.Store.AccountDisabled(ctx, a.ID)
	return err != nil || off
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
	case "two-step-off":
		return "Two-step login is off for " + email + ": the password alone logs in again.", s.turnOffTwoStep(ctx, email)
	}
	return "", badf("unknown action")
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
