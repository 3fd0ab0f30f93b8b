package web

import "net/http"

// The two hooks the webmail (Options.Mail, internal/webmail) logs in
// with, so that it has no second login or session of its own: its login
// form posts to /login like the account pages' (same fields, same
// two-step code, same limits) with next=/mail/, and its pages ask for
// the session here.

// MailSession returns the account logged in by r's session cookie (its
// id and address) and the session's CSRF token; ok is false without a
// live session. As for every page, the account is re-read: a removed or
// disabled user, or a password set since, has no session.
func (s *Server) MailSession(r *http.Request) (accountID int64, email, csrf string, ok bool) {
	sess, a, ok := s.current(r)
	if !ok {
		return 0, "", "", false
	}
	return a.ID, a.Email, sess.csrf, true
}

// LoginToken starts a login form shown by another page: it sets the
// login cookie on w and returns the token the form posts as csrf to
// /login.
func (s *Server) LoginToken(w http.ResponseWriter) string {
	tok := randomToken()
	setCookie(w, loginCookie, tok, 3600)
	return tok
}
