package web

// /account/security: the user's two-step login (totp.go) and app
// passwords, and their last logins. An app password is shown once, on
// the page answering its creation; a TOTP secret only until it is
// confirmed.

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/store"
)

type appPasswordInfo struct {
	Name     string `json:"name"`
	Created  string `json:"created"`
	LastUsed string `json:"last_used"`
}

type securityData struct {
	TOTP bool
	// Setup is the TOTP being set up: QR code and key, until confirmed.
	SetupQR  template.URL
	SetupKey string
	Apps     []appPasswordInfo
	// NewName and NewPassword: the app password just created.
	NewName, NewPassword  string
	FirstLogin, LastLogin string
}

func (s *Server) securityData(r *http.Request, sess *session, a store.Account) (securityData, error) {
	var d securityData
	var err error
	if d.TOTP, err = s.o.Store.TOTPEnabled(r.Context(), a.Email); err != nil {
		return d, err
	}
	if sec := s.pending.secret(sess.id); sec != "" && !d.TOTP {
		qr, err := qrDataURI(store.TOTPURI(s.o.Hostname, a.Email, sec))
		if err != nil {
			return d, err
		}
		d.SetupQR, d.SetupKey = template.URL(qr), sec
	}
	ps, err := s.o.Store.AppPasswords(r.Context(), a.Email)
	if err != nil {
		return d, err
	}
	for _, p := range ps {
		d.Apps = append(d.Apps, appPasswordInfo{Name: p.Name, Created: p.Created.UTC().Format("2006-01-02"), LastUsed: admin.DescribeLogin(p.LastUsed, "never")})
	}
	l, err := s.o.Store.LoginsOf(r.Context(), a.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return d, err
	}
	d.FirstLogin, d.LastLogin = admin.DescribeLogin(l.First, "none recorded"), admin.DescribeLogin(l.Last, "none recorded")
	return d, nil
}

func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, sess *session, a store.Account, d securityData) {
	flash, ok := s.sessions.takeFlash(sess)
	s.render(w, r, "security", page{Title: "Two-step login and app passwords", Email: a.Email, Admin: a.Admin, CSRF: sess.csrf,
		Flash: flash, FlashOK: ok, Data: d})
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) {
	d, err := s.securityData(r, sess, a)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.renderSecurity(w, r, sess, a, d)
}

func (s *Server) securityPost(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) {
	ctx := r.Context()
	msg, ok := "", true
	switch r.PostFormValue("op") {
	case "totp-start":
		// The password again: someone at an unlocked computer must not
		// tie the account to their own phone.
		switch _, err := s.authenticate(r, a.Email, r.PostFormValue("password")); {
		case errors.Is(err, errRateLimited):
			msg, ok = "Too many wrong passwords. Wait 15 minutes and try again.", false
		case errors.Is(err, store.ErrAuthFailed):
			msg, ok = "That password was not right; two-step login is still off.", false
		case err != nil:
			s.internalError(w, r, err)
			return
		default:
			s.pending.setSecret(sess.id, store.NewTOTPSecret())
		}
	case "sign-out-everywhere":
		if _, err := s.signOutEverywhere(ctx, a.Email, r.PostFormValue("revoke_apps") == "on"); err != nil {
			s.internalError(w, r, err)
			return
		}
		setCookie(w, sessionCookie, "", -1)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	case "totp-cancel":
		s.pending.setSecret(sess.id, "")
	case "totp-enable":
		sec := s.pending.secret(sess.id)
		if sec == "" {
			msg, ok = "Start again: the set-up had expired.", false
			break
		}
		st, match := store.MatchTOTP(sec, r.PostFormValue("code"), s.o.Now(), 0)
		if !match {
			msg, ok = "That code is not right; two-step login is still off. Type the code the app shows now.", false
			break
		}
		err := s.o.Admin.EnableTOTP(ctx, a.Email, sec, st)
		if err != nil && !errors.Is(err, store.ErrExists) {
			s.internalError(w, r, err)
			return
		}
		s.pending.setSecret(sess.id, "")
		s.log.Info("two-step login turned on", "user", a.Email)
		msg = "Two-step login is on. Your mail apps now need app passwords: create one for each device below."
	case "totp-disable":
		switch err := s.checkTOTP(r, a.Email, r.PostFormValue("code")); {
		case errors.Is(err, errRateLimited):
			msg, ok = "Too many wrong codes. Wait 15 minutes and try again.", false
		case errors.Is(err, store.ErrAuthFailed):
			msg, ok = "That code is not right; two-step login is still on.", false
		case err != nil:
			s.internalError(w, r, err)
			return
		default:
			if err := s.o.Admin.DisableTOTP(ctx, a.Email); err != nil {
				s.internalError(w, r, err)
				return
			}
			s.log.Info("two-step login turned off", "user", a.Email)
			msg = "Two-step login is off. Your main password works on your devices again."
		}
	case "app-add":
		var answered bool
		if msg, ok, answered = s.addAppPassword(w, r, sess, a); answered {
			return
		}
	case "app-revoke":
		name := r.PostFormValue("name")
		switch err := s.o.Admin.RevokeAppPassword(ctx, a.Email, name); {
		case errors.Is(err, store.ErrNotFound):
			msg, ok = "That app password was already gone.", false
		case err != nil:
			s.internalError(w, r, err)
			return
		default:
			s.log.Info("app password revoked", "user", a.Email, "name", name)
			msg = "Revoked “" + name + "”: that device can no longer fetch or send mail. Your other devices are not affected."
		}
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if msg != "" {
		s.sessions.setFlash(sess, msg, ok)
	}
	http.Redirect(w, r, "/account/security", http.StatusSeeOther)
}

// addAppPassword is the security form's "app-add": the page showing the
// new password once, or a flash message; answered when it has answered.
func (s *Server) addAppPassword(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) (msg string, ok, answered bool) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	pw, err := s.o.Admin.AddAppPassword(r.Context(), a.Email, name)
	switch {
	case errors.Is(err, store.ErrExists):
		return "You already have an app password with that name; pick another name.", false, false
	case errors.Is(err, store.ErrInvalid):
		return "Give the app password a name of up to 64 characters, such as the device it is for.", false, false
	case err != nil:
		s.internalError(w, r, err)
		return "", false, true
	}
	s.log.Info("app password created", "user", a.Email, "name", name)
	d, err := s.securityData(r, sess, a)
	if err != nil {
		s.internalError(w, r, err)
		return "", false, true
	}
	d.NewName, d.NewPassword = name, pw
	s.renderSecurity(w, r, sess, a, d)
	return "", false, true
}

// lastLoginOf is the admin Users list's column: "none" or the last login.
func lastLoginOf(all map[int64]store.Logins, id int64) string {
	return admin.DescribeLogin(all[id].Last, "never")
}
