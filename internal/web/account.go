package web

import (
	"errors"
	"net/http"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/store"
)

type accountData struct {
	Aliases  []aliasInfo
	Setup    string       // the /setup link for this address (setupURL)
	Forwards forwardList  // forwarding.go
	Vacation vacationInfo // vacation.go
	// LastLogin: the account's last login (apppasswords.go).
	LastLogin string
	Junk      caughtWeek // spam.go
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) {
	all, err := s.listAliases(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var mine []aliasInfo
	for _, al := range all {
		for _, t := range al.Targets {
			if t == a.Email {
				mine = append(mine, al)
				break
			}
		}
	}
	d := a.Email[strings.LastIndexByte(a.Email, '@')+1:]
	flash, ok := s.sessions.takeFlash(sess)
	l, err := s.o.Store.LoginsOf(r.Context(), a.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, r, err)
		return
	}
	junk, err := s.caughtWeek(r.Context(), a)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, "account", page{Title: "Your account", Email: a.Email, Admin: a.Admin, CSRF: sess.csrf, Flash: flash, FlashOK: ok,
		Data: accountData{Aliases: mine, Setup: setupURL(a.Email, d, s.o.Hostname), LastLogin: admin.DescribeLogin(l.Last, "none recorded"),
			Forwards: s.forwardsOf(r.Context(), a.Email), Vacation: s.vacationOf(r.Context(), a.Email), Junk: junk}})
}

// accountPost changes the user's own password: the current one is asked
// again, and the user's other sessions end.
func (s *Server) accountPost(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) {
	if r.PostFormValue("op") != "passwd" {
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	msg, ok := "Your password is changed. Type the new one on your phone and computer too.", true
	_, err := s.authenticate(r, a.Email, r.PostFormValue("current"))
	switch {
	case errors.Is(err, errRateLimited):
		msg, ok = "Too many wrong passwords. Wait 15 minutes and try again.", false
	case errors.Is(err, store.ErrAuthFailed):
		msg, ok = "Your current password was not right; nothing changed.", false
	case err != nil:
		s.internalError(w, r, err)
		return
	case r.PostFormValue("password") != r.PostFormValue("password2"):
		msg, ok = "The two new passwords differ; nothing changed.", false
	default:
		if err := s.setPassword(r.Context(), a.Email, r.PostFormValue("password")); err != nil {
			var bi *badInput
			if !errors.As(err, &bi) {
				s.internalError(w, r, err)
				return
			}
			msg, ok = strings.ToUpper(bi.msg[:1])+bi.msg[1:]+"; nothing changed.", false
		} else {
			// This session lives on under the new password's stamp; the
			// others end.
			stamp, _, err := s.o.Store.SessionStamp(r.Context(), a.ID)
			if err != nil {
				s.internalError(w, r, err)
				return
			}
			s.sessions.restamp(sess, stamp)
			n := s.sessions.dropUser(a.Email, sess.id)
			s.log.Info("password changed on the web", "user", a.Email, "other_sessions_ended", n)
		}
	}
	s.sessions.setFlash(sess, msg, ok)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}
