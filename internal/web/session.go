package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"boxmail/internal/store"
)

const (
	sessionCookie = "boxmail_session"
	loginCookie   = "boxmail_login" // CSRF token of the login form
	idleTimeout   = 2 * time.Hour
	maxLifetime   = 12 * time.Hour
	maxSessions   = 10000
	// A login with "remember me" (the form's remember=1, offered by the
	// webmail's login form) keeps its session this long, idle or not; its
	// cookie value starts with rememberPrefix, so a session read back from
	// the store after a restart is known as one without a schema change.
	// A password change or a disabled account still ends it at once.
	rememberLifetime = 30 * 24 * time.Hour
	rememberPrefix   = "r."
)

type session struct {
	id      string
	account int64
	email   string
	stamp   string // store.SessionStamp at login: a password set since ends it
	csrf    string
	created time.Time
	seen    time.Time
	saved   time.Time // seen as the store last recorded it
	flash   string    // one message shown on the next page
	flashOK bool

	remember bool // rememberLifetime instead of idleTimeout and maxLifetime
}

// touchEvery is how often a session's use is written to the store: the
// idle timeout is counted from the last write after a restart.
const touchEvery = time.Minute

// sessions are kept in memory and written through to the store (SHA-256
// of the cookie value, store/websession.go), so a restart logs no one
// out: a session the memory does not know is looked up there. The store
// writes are the login path's own, like RecordLogin; a failed one is
// logged and the session lives on in memory.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	now func() time.Time
	st  *store.Store // nil: memory only
	log *slog.Logger
}

func newSessions(now func() time.Time, st *store.Store, log *slog.Logger) *sessions {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &sessions{m: map[string]*session{}, now: now, st: st, log: log}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// storeCtx bounds a session write or read in the store.
func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

func (ss *sessions) create(account int64, email, stamp string, remember bool) *session {
	ss.mu.Lock()
	now := ss.now()
	var evicted []string
	if len(ss.m) >= maxSessions {
		evicted = ss.expireLocked(now)
	}
	s := &session{id: randomToken(), account: account, email: email, stamp: stamp, csrf: randomToken(), created: now, seen: now, saved: now, remember: remember}
	if remember {
		s.id = rememberPrefix + s.id
	}
	ss.m[s.id] = s
	ss.mu.Unlock()
	if ss.st == nil {
		return s
	}
	ctx, cancel := storeCtx()
	defer cancel()
	for _, id := range evicted {
		ss.end(ctx, id)
	}
	err := ss.st.RecordWebSession(ctx, s.id, store.WebSession{AccountID: account, Stamp: stamp, CSRF: s.csrf, Created: now, Seen: now})
	if err != nil {
		ss.log.Error("recording a web session", "user", email, "err", err)
	}
	return s
}

// expireLocked drops expired sessions and, when still full, the least
// recently used one; it returns the IDs dropped.
func (ss *sessions) expireLocked(now time.Time) []string {
	var oldest *session
	var out []string
	for id, s := range ss.m {
		if expired(s, now) {
			delete(ss.m, id)
			out = append(out, id)
		} else if oldest == nil || s.seen.Before(oldest.seen) {
			oldest = s
		}
	}
	if len(ss.m) >= maxSessions && oldest != nil {
		delete(ss.m, oldest.id)
		out = append(out, oldest.id)
	}
	return out
}

func expired(s *session, now time.Time) bool {
	if s.remember {
		return now.Sub(s.seen) > rememberLifetime || now.Sub(s.created) > rememberLifetime
	}
	return now.Sub(s.seen) > idleTimeout || now.Sub(s.created) > maxLifetime
}

// end forgets a session in the store.
func (ss *sessions) end(ctx context.Context, id string) {
	if err := ss.st.EndWebSession(ctx, id); err != nil {
		ss.log.Error("ending a web session", "err", err)
	}
}

func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	s := ss.m[id]
	ss.mu.Unlock()
	if s == nil {
		s = ss.load(id)
		if s == nil {
			return nil
		}
	}
	ss.mu.Lock()
	now := ss.now()
	if expired(s, now) {
		delete(ss.m, id)
		ss.mu.Unlock()
		ss.remove(id)
		return nil
	}
	s.seen = now
	touch := now.Sub(s.saved) >= touchEvery
	if touch {
		s.saved = now
	}
	stamp := s.stamp
	ss.mu.Unlock()
	if touch && ss.st != nil {
		ctx, cancel := storeCtx()
		defer cancel()
		if err := ss.st.TouchWebSession(ctx, id, stamp, now); err != nil {
			ss.log.Error("recording a web session's use", "user", s.email, "err", err)
		}
	}
	return s
}

// load reads a session the memory does not know (kept before a restart)
// from the store into the memory.
func (ss *sessions) load(id string) *session {
	if ss.st == nil || id == "" {
		return nil
	}
	ctx, cancel := storeCtx()
	defer cancel()
	ws, err := ss.st.WebSessionByToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		ss.log.Error("reading a web session", "err", err)
		return nil
	}
	s := &session{id: id, account: ws.AccountID, email: ws.Email, stamp: ws.Stamp, csrf: ws.CSRF, created: ws.Created, seen: ws.Seen, saved: ws.Seen,
		remember: strings.HasPrefix(id, rememberPrefix)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if old := ss.m[id]; old != nil {
		return old // loaded meanwhile by another request
	}
	if len(ss.m) >= maxSessions {
		ss.expireLocked(ss.now()) // dropped from memory only: the store still has them
	}
	ss.m[id] = s
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
	if ss.st != nil {
		ctx, cancel := storeCtx()
		defer cancel()
		ss.end(ctx, id)
	}
}

// dropUser ends the sessions of an account except one (after a password
// change: other devices must log in again) and returns how many ended.
func (ss *sessions) dropUser(email, except string) int {
	ss.mu.Lock()
	n := 0
	for id, s := range ss.m {
		if s.email == email && id != except {
			delete(ss.m, id)
			n++
		}
	}
	now := ss.now()
	ss.mu.Unlock()
	if ss.st == nil {
		return n
	}
	ctx, cancel := storeCtx()
	defer cancel()
	// Expired sessions are cleared by the longest rule (a remembered
	// one's); a shorter-lived one left over is refused when read back.
	m, err := ss.st.EndWebSessions(ctx, email, except, now.Add(-rememberLifetime), now.Add(-rememberLifetime))
	if err != nil {
		ss.log.Error("ending web sessions", "user", email, "err", err)
		return n
	}
	return max(n, m)
}

// restamp keeps a session alive across its own password change.
func (ss *sessions) restamp(s *session, stamp string) {
	ss.mu.Lock()
	s.stamp = stamp
	now := s.seen
	ss.mu.Unlock()
	if ss.st == nil {
		return
	}
	ctx, cancel := storeCtx()
	defer cancel()
	if err := ss.st.TouchWebSession(ctx, s.id, stamp, now); err != nil {
		ss.log.Error("recording a web session's stamp", "user", s.email, "err", err)
	}
}

func (ss *sessions) setFlash(s *session, msg string, ok bool) {
	ss.mu.Lock()
	s.flash, s.flashOK = msg, ok
	ss.mu.Unlock()
}

func (ss *sessions) takeFlash(s *session) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	m, ok := s.flash, s.flashOK
	s.flash = ""
	return m, ok
}

// limiter counts failed logins per key (IP or account) in a window.
type limiter struct {
	mu  sync.Mutex
	m   map[string]*window
	now func() time.Time
}

type window struct {
	start time.Time
	n     int
}

// The web's own count is per client address only. Accounts are
// protected by the shared guard (internal/guard), which keeps admitting
// the networks an account is used from: a per-account lock here would let
// anyone lock any account out of the web by failing on purpose.
const (
	limitWindow   = 15 * time.Minute
	maxFailsPerIP = 20
)

func newLimiter(now func() time.Time) *limiter { return &limiter{m: map[string]*window{}, now: now} }

func (l *limiter) blocked(key string, max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	return w != nil && l.now().Sub(w.start) < limitWindow && w.n >= max
}

func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.m) > 100000 {
		for k, w := range l.m {
			if now.Sub(w.start) >= limitWindow {
				delete(l.m, k)
			}
		}
	}
	w := l.m[key]
	if w == nil || now.Sub(w.start) >= limitWindow {
		w = &window{start: now}
		l.m[key] = w
	}
	w.n++
}

var errRateLimited = errors.New("too many failed logins: wait 15 minutes and try again")

// authenticate checks a login, rate-limited per client IP here and per
// network and account by the guard.
func (s *Server) authenticate(r *http.Request, email, password string) (store.Account, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	ip := "ip:" + clientIP(r)
	if s.limit.blocked(ip, maxFailsPerIP) {
		s.log.Warn("web login rate-limited", "ip", clientIP(r), "user", email)
		return store.Account{}, errRateLimited
	}
	var a store.Account
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	err := s.o.Guard.Login(r.Context(), ap.Addr().Unmap(), email, password, func() (err error) {
		a, err = s.o.Store.Authenticate(r.Context(), email, password)
		return err
	})
	if errors.Is(err, store.ErrAuthFailed) {
		s.limit.fail(ip)
		s.log.Info("web login failed", "ip", clientIP(r), "user", email)
	}
	return a, err
}

// current returns the session of the request and its account, re-read
// from the store so removed users and revoked admins lose access at once.
func (s *Server) current(r *http.Request) (*session, store.Account, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, store.Account{}, false
	}
	sess := s.sessions.get(c.Value)
	if sess == nil {
		return nil, store.Account{}, false
	}
	a, err := s.o.Store.AccountByEmail(r.Context(), sess.email)
	if err != nil {
		s.sessions.remove(sess.id)
		return nil, store.Account{}, false
	}
	// Disabled, or its password set since (here or by 'boxmail user
	// passwd' in another process): the session has ended.
	stamp, off, err := s.o.Store.SessionStamp(r.Context(), a.ID)
	if err != nil || off || stamp != sess.stamp {
		s.sessions.remove(sess.id)
		return nil, store.Account{}, false
	}
	return sess, a, true
}

// startSession logs an account in: a new session, its cookie, the login
// cookie cleared, the login recorded; it returns where to go next.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, a store.Account, next string, totp, remember bool) (string, error) {
	stamp, _, err := s.o.Store.SessionStamp(r.Context(), a.ID)
	if err != nil {
		return "", err
	}
	sess := s.sessions.create(a.ID, a.Email, stamp, remember)
	life := maxLifetime
	if remember {
		life = rememberLifetime
	}
	setCookie(w, sessionCookie, sess.id, int(life/time.Second))
	setCookie(w, loginCookie, "", -1)
	s.log.Info("web login", "user", a.Email, "ip", clientIP(r), "admin", a.Admin, "totp", totp, "remember", remember)
	s.recordWebLogin(r, a)
	if next == defaultNext && a.Admin {
		next = "/admin"
	}
	return next, nil
}

// sameOrigin refuses cross-site posts that carry an Origin header naming
// another host (defence in depth besides the CSRF token).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func validCSRF(sess *session, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(sess.csrf), []byte(token)) == 1
}

type userHandler func(w http.ResponseWriter, r *http.Request, sess *session, a store.Account)

// user requires a logged-in account (any) and, when the route changes
// state (its row in routes.go), the CSRF token.
func (s *Server) user(h userHandler, changes bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, a, ok := s.current(r)
		if !ok {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return
		}
		if changes && (!sameOrigin(r) || !validCSRF(sess, r.PostFormValue("csrf"))) {
			http.Error(w, "This form has expired or did not come from this site; go back, reload the page and try again.", http.StatusForbidden)
			return
		}
		h(w, r, sess, a)
	})
}

type adminHandler func(w http.ResponseWriter, r *http.Request, sess *session)

// admin requires an admin session (and the CSRF token, as user).
func (s *Server) admin(h adminHandler, changes bool) http.Handler {
	return s.user(func(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) {
		if !a.Admin {
			w.WriteHeader(http.StatusForbidden)
			s.render(w, r, "denied", page{Title: "Not for this account", Email: a.Email, CSRF: sess.csrf})
			return
		}
		h(w, r, sess)
	}, changes)
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.current(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "", "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, email, msg string) {
	tok := randomToken()
	setCookie(w, loginCookie, tok, 3600)
	w.WriteHeader(status)
	s.render(w, r, "login", page{Title: "Log in", CSRF: tok, Error: msg,
		Data: map[string]string{"Email": email, "Next": safeNext(r.FormValue("next"))}})
}

// defaultNext is where a login goes without a (usable) next.
const defaultNext = "/account"

// maxNext bounds a next= value.
const maxNext = 2048

// safeNext keeps redirects after login on this site: n must be a path on
// it (no scheme, host or user; one leading slash), free of control bytes,
// spaces and backslashes both as sent and in its decoded path, since browsers
// drop tabs and newlines from URLs and read \ as / (so "/\t/evil" and
// "/\\evil" would lead to //evil, another site). Anything else gives
// defaultNext.
func safeNext(n string) string {
	if n == "" || len(n) > maxNext || !localPath(n) {
		return defaultNext
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !localPath(u.Path) {
		return defaultNext
	}
	return n
}

// localPath reports whether p starts with exactly one slash and holds no
// control byte, space, backslash or dot segment (which could fold into
// a leading //).
func localPath(p string) bool {
	path, _, _ := strings.Cut(p, "?")
	path, _, _ = strings.Cut(path, "#")
	path += "/"
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.ContainsFunc(p, badURLRune) &&
		!strings.Contains(path, "/../") && !strings.Contains(path, "/./")
}

func badURLRune(r rune) bool {
	return r <= ' ' || r == 0x7f || r == '\\' || (r >= 0x80 && r <= 0x9f) || r == utf8.RuneError
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.renderLogin(w, r, http.StatusForbidden, "", "The login form had expired. Please try again.")
		return
	}
	email := r.PostFormValue("email")
	a, err := s.authenticate(r, email, r.PostFormValue("password"))
	switch {
	case errors.Is(err, errRateLimited):
		s.renderLogin(w, r, http.StatusTooManyRequests, email, "Too many failed logins. Wait 15 minutes and try again.")
		return
	case errors.Is(err, store.ErrAuthFailed):
		s.renderLogin(w, r, http.StatusUnauthorized, email, "That address and password do not match.")
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	if s.askTOTP(w, r, a) {
		return
	}
	next, err := s.startSession(w, r, a, safeNext(r.PostFormValue("next")), false, r.PostFormValue("remember") == "1")
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if sess, _, ok := s.current(r); ok {
		if !validCSRF(sess, r.PostFormValue("csrf")) {
			http.Error(w, "This form has expired; reload the page and try again.", http.StatusForbidden)
			return
		}
		s.sessions.remove(sess.id)
	}
	setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
