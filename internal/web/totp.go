package web

// The TOTP second factor of the web login (store/auth.go, store/totp.go):
// a login whose password is right but whose account has TOTP on gets a
// second form asking for the 6-digit code, tied to a short-lived token;
// /account/security turns TOTP on (QR code of a new secret, confirmed by
// a code) and off (with a code). HTTP Basic on the API takes the code in
// the X-Boxmail-TOTP header. Codes go through the same limits as
// passwords. A secret is shown only while it is being set up.

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"boxmail/internal/store"
)

const (
	pendingLoginTTL   = 5 * time.Minute
	pendingLoginTries = 5
	maxPending        = 10000
)

// pendingLogin is a login past its password, waiting for the code.
type pendingLogin struct {
	email, next string
	remember    bool // the login form's "remember me"
	until       time.Time
	tries       int
}

// pendingLogins holds logins waiting for a code and, per web session,
// the TOTP secret being set up. The zero value is ready to use.
type pendingLogins struct {
	mu      sync.Mutex
	logins  map[string]*pendingLogin
	secrets map[string]string // session id → secret not yet confirmed
}

func (p *pendingLogins) add(email, next string, remember bool, now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logins == nil {
		p.logins = map[string]*pendingLogin{}
	}
	if len(p.logins) >= maxPending {
		for k, l := range p.logins {
			if now.After(l.until) {
				delete(p.logins, k)
			}
		}
		if len(p.logins) >= maxPending {
			for k := range p.logins {
				delete(p.logins, k)
				break
			}
		}
	}
	tok := randomToken()
	p.logins[tok] = &pendingLogin{email: email, next: next, remember: remember, until: now.Add(pendingLoginTTL)}
	return tok
}

// get returns the pending login of a token, counting a try.
func (p *pendingLogins) get(tok string, now time.Time) (pendingLogin, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.logins[tok]
	if l == nil || now.After(l.until) || l.tries >= pendingLoginTries {
		delete(p.logins, tok)
		return pendingLogin{}, false
	}
	l.tries++
	return *l, true
}

func (p *pendingLogins) done(tok string) {
	p.mu.Lock()
	delete(p.logins, tok)
	p.mu.Unlock()
}

func (p *pendingLogins) setSecret(sessID, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.secrets == nil {
		p.secrets = map[string]string{}
	}
	if len(p.secrets) >= maxPending {
		clear(p.secrets)
	}
	if secret == "" {
		delete(p.secrets, sessID)
	} else {
		p.secrets[sessID] = secret
	}
}

func (p *pendingLogins) secret(sessID string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.secrets[sessID]
}

// askTOTP answers a login whose password was right: when the account has
// TOTP on it shows the code form and returns true; the caller then must
// not start a session.
func (s *Server) askTOTP(w http.ResponseWriter, r *http.Request, a store.Account) bool {
	on, err := s.o.Store.TOTPEnabled(r.Context(), a.Email)
	if err != nil {
		s.internalError(w, r, err)
		return true
	}
	if !on {
		return false
	}
	tok := s.pending.add(a.Email, safeNext(r.PostFormValue("next")), r.PostFormValue("remember") == "1", s.o.Now())
	s.renderCode(w, r, http.StatusOK, tok, "")
	return true
}

func (s *Server) renderCode(w http.ResponseWriter, r *http.Request, status int, tok, msg string) {
	w.WriteHeader(status)
	s.render(w, r, "logincode", page{Title: "Two-step login", Error: msg, Data: map[string]string{"Token": tok}})
}

// checkTOTP checks a code under the web's and the shared login limits.
func (s *Server) checkTOTP(r *http.Request, email, code string) error {
	email = strings.ToLower(email)
	ip := "ip:" + clientIP(r)
	if s.limit.blocked(ip, maxFailsPerIP) {
		return errRateLimited
	}
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	err := s.o.Guard.Login(r.Context(), ap.Addr().Unmap(), email, "totp:"+code, func() error {
		return s.o.Store.CheckTOTP(r.Context(), email, code, s.o.Now())
	})
	if errors.Is(err, store.ErrAuthFailed) {
		s.limit.fail(ip)
		s.log.Info("web login: wrong TOTP code", "ip", clientIP(r), "user", email)
	}
	return err
}

// loginCode is the second step of a login with TOTP.
func (s *Server) loginCode(w http.ResponseWriter, r *http.Request) {
	tok := r.PostFormValue("token")
	if !sameOrigin(r) {
		s.renderLogin(w, r, http.StatusForbidden, "", "The login form had expired. Please try again.")
		return
	}
	l, ok := s.pending.get(tok, s.o.Now())
	if !ok {
		s.renderLogin(w, r, http.StatusUnauthorized, "", "That login took too long or had too many wrong codes. Please log in again.")
		return
	}
	err := s.checkTOTP(r, l.email, r.PostFormValue("code"))
	switch {
	case errors.Is(err, errRateLimited):
		s.pending.done(tok)
		s.renderLogin(w, r, http.StatusTooManyRequests, l.email, "Too many failed logins. Wait 15 minutes and try again.")
		return
	case errors.Is(err, store.ErrAuthFailed):
		s.renderCode(w, r, http.StatusUnauthorized, tok, "That code is not right (or was already used). Type the code your app shows now.")
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	s.pending.done(tok)
	a, err := s.o.Store.AccountByEmail(r.Context(), l.email)
	if err != nil {
		s.renderLogin(w, r, http.StatusUnauthorized, "", "That address and password do not match.")
		return
	}
	next, err := s.startSession(w, r, a, safeNext(l.next), true, l.remember)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// recordWebLogin records a successful web login as the account's last.
func (s *Server) recordWebLogin(r *http.Request, a store.Account) {
	if err := s.o.Store.RecordLogin(r.Context(), a.ID, "web", clientIP(r)); err != nil {
		s.log.Error("recording a web login", "user", a.Email, "err", err)
	}
}

// basicTOTP checks the X-Boxmail-TOTP header of an API request made with
// HTTP Basic by an account with TOTP on; it answers and returns false
// when the code is missing or wrong.
func (s *Server) basicTOTP(w http.ResponseWriter, r *http.Request, a store.Account) bool {
	on, err := s.o.Store.TOTPEnabled(r.Context(), a.Email)
	if err != nil {
		s.log.Error("api authentication", "err", err)
		apiError(w, http.StatusInternalServerError, "internal error; see the server log")
		return false
	}
	if !on {
		return true
	}
	code := r.Header.Get("X-Boxmail-TOTP")
	if code == "" {
		apiError(w, http.StatusUnauthorized, "this account has two-step login on: send the current code in the X-Boxmail-TOTP header")
		return false
	}
	switch err := s.checkTOTP(r, a.Email, code); {
	case errors.Is(err, errRateLimited):
		apiError(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, store.ErrAuthFailed):
		apiError(w, http.StatusUnauthorized, "wrong or already used two-step login code")
	case err != nil:
		s.log.Error("api authentication", "err", err)
		apiError(w, http.StatusInternalServerError, "internal error; see the server log")
	default:
		return true
	}
	return false
}

// qrDataURI renders text as a QR code in a PNG data: URI (the CSP allows
// data: images; no request leaves the page).
func qrDataURI(text string) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", err
	}
	png, err := q.PNG(256)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}
