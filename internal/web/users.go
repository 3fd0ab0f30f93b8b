package web

// /admin/users and /admin/api/users: list, add, remove, disable and
// re-enable accounts, reset passwords and admin rights, turn off two-step
// login, sign a user out everywhere; every change through admin.Service,
// as the boxmail user commands do.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

type userInfo struct {
	Email     string `json:"email"`
	Admin     bool   `json:"admin"`
	Created   string `json:"created"`
	SizeBytes int64  `json:"size_bytes"`
	Messages  int64  `json:"messages"`
	LastLogin string `json:"last_login"`
	Disabled  bool   `json:"disabled"` // closed, mail kept
	TwoStep   bool   `json:"two_step"` // TOTP on for the web login
	// QuotaBytes is the account's quota (0: none); shown and set on the
	// Users page, not part of the API.
	QuotaBytes int64 `json:"-"`
	// Vacation is the user's away reply (vacation.go), on the Users page
	// only.
	Vacation vacationInfo `json:"-"`
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
	if err := s.markQuotas(ctx, out); err != nil {
		return nil, err
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

// usersForm performs an op of the /admin/users forms.
func usersForm(s *Server, r *http.Request, by string) (string, error) {
	ctx, email := r.Context(), strings.TrimSpace(r.PostFormValue("email"))
	switch r.PostFormValue("op") {
	case "add":
		if r.PostFormValue("password") != r.PostFormValue("password2") {
			return "", badf("the two passwords differ")
		}
		return "Added " + strings.ToLower(email) + ".", s.addUser(ctx, email, r.PostFormValue("password"), r.PostFormValue("admin") == "on")
	case "passwd":
		return s.resetPassword(ctx, email, r.PostFormValue("password"))
	case "admin":
		on := r.PostFormValue("admin") == "on"
		return map[bool]string{true: email + " is now an admin.", false: email + " is no longer an admin."}[on], s.setAdmin(ctx, by, email, on)
	case "remove":
		if r.PostFormValue("mail") == "keep" { // disabled, mail kept
			return disabledMessage(email), s.setUserDisabled(ctx, by, email, true)
		}
		if r.PostFormValue("confirm") != email {
			return "", badf("to remove %s and all its mail, type the address into the confirmation box", email)
		}
		return "Removed " + email + " and all its mail.", s.removeUser(ctx, by, email)
	case "disable":
		return disabledMessage(email), s.setUserDisabled(ctx, by, email, true)
	case "enable":
		return "Enabled " + email + " again.", s.setUserDisabled(ctx, by, email, false)
	case "sign-out":
		so, err := s.signOutEverywhere(ctx, email, r.PostFormValue("revoke_apps") == "on")
		return so.message(email), err
	case "quota":
		return s.setQuota(ctx, email, r.PostFormValue("quota_mb"))
	case "vacation-set":
		return "The away reply of " + email + " is on.", s.setVacationFromForm(ctx, email, r)
	case "vacation-off":
		return "The away reply of " + email + " is off.", s.removeVacation(ctx, email)
	case "two-step-off":
		return "Two-step login is off for " + email + ": the password alone logs in again.", s.turnOffTwoStep(ctx, email)
	}
	return "", badf("unknown action")
}

func disabledMessage(email string) string {
	return "Disabled " + email + ": no logins, mail to it is refused, and its mail is kept."
}

// The /admin/api/users calls (docs/api.md).

func (s *Server) apiUsers(r *http.Request, _ string) (any, error) { return s.listUsers(r.Context()) }

func (s *Server) apiAddUser(r *http.Request, _ string) (any, error) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return nil, s.addUser(r.Context(), in.Email, in.Password, in.Admin)
}

func (s *Server) apiSetPassword(r *http.Request, _ string) (any, error) {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	_, err := s.resetPassword(r.Context(), r.PathValue("email"), in.Password)
	return nil, err
}

func (s *Server) apiSetAdmin(r *http.Request, by string) (any, error) {
	var in struct {
		Admin *bool `json:"admin"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.Admin == nil {
		return nil, badf("admin is missing: true or false")
	}
	return nil, s.setAdmin(r.Context(), by, r.PathValue("email"), *in.Admin)
}

// apiRemoveUser removes a user and their mail, or with ?keep_mail=true
// disables them and keeps it.
func (s *Server) apiRemoveUser(r *http.Request, by string) (any, error) {
	if r.URL.Query().Get("keep_mail") == "true" {
		return nil, s.setUserDisabled(r.Context(), by, r.PathValue("email"), true)
	}
	return nil, s.removeUser(r.Context(), by, r.PathValue("email"))
}

func (s *Server) apiTwoStepOff(r *http.Request, _ string) (any, error) {
	return nil, s.turnOffTwoStep(r.Context(), r.PathValue("email"))
}

// markQuotas fills in each user's quota.
func (s *Server) markQuotas(ctx context.Context, us []userInfo) error {
	qs, err := s.o.Store.Usages(ctx)
	if err != nil {
		return err
	}
	byEmail := map[string]int64{}
	for _, q := range qs {
		byEmail[q.Email] = q.Quota
	}
	for i := range us {
		us[i].QuotaBytes = byEmail[us[i].Email]
		us[i].Vacation = s.vacationOf(ctx, us[i].Email)
	}
	return nil
}

// setQuota sets a user's quota from the form's megabytes (empty or 0: no
// limit).
func (s *Server) setQuota(ctx context.Context, email, mb string) (string, error) {
	a, err := parseAddr("email", email)
	if err != nil {
		return "", err
	}
	mb = strings.TrimSpace(mb)
	n := int64(0)
	if mb != "" {
		if _, err := fmt.Sscan(mb, &n); err != nil || n < 0 || n > 1<<40 {
			return "", badf("quota %q: want a whole number of megabytes (0: no limit)", mb)
		}
	}
	if err := classify(s.o.Admin.SetQuota(ctx, a, n<<20)); err != nil {
		return "", err
	}
	if n == 0 {
		return a.String() + " has no quota now.", nil
	}
	return fmt.Sprintf("%s may now store %d MB.", a, n), nil
}
