package web

// The JSON API under /admin/api/ (docs/api.md). Authentication: the
// admin's session cookie plus the X-CSRF-Token header on every request
// that changes something, or HTTP Basic with an admin's address and
// password (scripts; no CSRF token needed, since browsers never send
// these credentials on their own: the API never asks for them).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"boxmail/internal/store"
)

type apiHandler func(r *http.Request, by string) (any, error)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// apiAuth returns the admin making the request, or answers and returns "".
func (s *Server) apiAuth(w http.ResponseWriter, r *http.Request) string {
	return s.requestAccount(w, r, true)
}

// requestAccount returns the account making an API request, by HTTP
// Basic (with X-Boxmail-TOTP when two-step login is on) or by session
// cookie plus the CSRF token for changes, limited to admins when
// needAdmin; otherwise it answers the error itself and returns "".
func (s *Server) requestAccount(w http.ResponseWriter, r *http.Request, needAdmin bool) string {
	whose := "your"
	if needAdmin {
		whose = "an admin's"
	}
	if user, pw, ok := r.BasicAuth(); ok {
		a, err := s.authenticate(r, user, pw)
		switch {
		case errors.Is(err, errRateLimited):
			apiError(w, http.StatusTooManyRequests, err.Error())
		case errors.Is(err, store.ErrAuthFailed):
			apiError(w, http.StatusUnauthorized, "wrong address or password")
		case err != nil:
			s.log.Error("api authentication", "err", err)
			apiError(w, http.StatusInternalServerError, "internal error; see the server log")
		case !s.basicTOTP(w, r, a): // totp.go: X-Boxmail-TOTP
		case needAdmin && !a.Admin:
			apiError(w, http.StatusForbidden, "this account is not an admin")
		default:
			return a.Email
		}
		return ""
	}
	sess, a, ok := s.current(r)
	switch {
	case !ok:
		apiError(w, http.StatusUnauthorized, "log in first (session cookie) or use HTTP Basic with "+whose+" address and password")
	case needAdmin && !a.Admin:
		apiError(w, http.StatusForbidden, "this account is not an admin")
	case r.Method != http.MethodGet && (!sameOrigin(r) || !validCSRF(sess, r.Header.Get("X-CSRF-Token"))):
		apiError(w, http.StatusForbidden, "missing or wrong X-CSRF-Token header")
	default:
		return a.Email
	}
	return ""
}

func (s *Server) api(h apiHandler) http.Handler { return s.serveAPI(h, s.apiAuth) }

// serveAPI authenticates a request with auth, runs h and writes its
// result or error as JSON.
func (s *Server) serveAPI(h apiHandler, auth func(http.ResponseWriter, *http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		by := auth(w, r)
		if by == "" {
			return
		}
		v, err := h(r, by)
		var bi *badInput
		switch {
		case errors.As(err, &bi) && bi.status != 0:
			apiError(w, bi.status, bi.msg)
		case errors.As(err, &bi) && bi.notFound:
			apiError(w, http.StatusNotFound, bi.msg)
		case errors.As(err, &bi):
			apiError(w, http.StatusBadRequest, bi.msg)
		case err != nil:
			s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			apiError(w, http.StatusInternalServerError, "internal error; see the server log")
		case v == nil:
			writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		default:
			writeJSON(w, http.StatusOK, v)
		}
	})
}

// decode reads a JSON body into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return badf("send the body as application/json")
	}
	dec := json.NewDecoder(r.Body) // capped at maxAPIBody (web.go)
	dec.DisallowUnknownFields()
	var mbe *http.MaxBytesError
	if err := dec.Decode(v); errors.As(err, &mbe) {
		return &badInput{msg: fmt.Sprintf("the body is larger than %d bytes", mbe.Limit), status: http.StatusRequestEntityTooLarge}
	} else if err != nil {
		return badf("the body is not the expected JSON: %v", err)
	}
	return nil
}

func (s *Server) apiRoutes(m *http.ServeMux) {
	a := func(pattern string, h apiHandler) { m.Handle(pattern, s.api(h)) }
	a("GET /admin/api/users", func(r *http.Request, _ string) (any, error) { return s.listUsers(r.Context()) })
	a("POST /admin/api/users", func(r *http.Request, _ string) (any, error) {
		var in struct {
			Email    string `json:"email"`
			Password string `json:"password"`
			Admin    bool   `json:"admin"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.addUser(r.Context(), in.Email, in.Password, in.Admin)
	})
	a("POST /admin/api/users/{email}/password", func(r *http.Request, _ string) (any, error) {
		var in struct {
			Password string `json:"password"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		_, err := s.resetPassword(r.Context(), r.PathValue("email"), in.Password)
		return nil, err
	})
	a("POST /admin/api/users/{email}/admin", func(r *http.Request, by string) (any, error) {
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
	})
	a("DELETE /admin/api/users/{email}", func(r *http.Request, by string) (any, error) {
		if r.URL.Query().Get("keep_mail") == "true" { // disabled, mail kept (adminmore.go)
			return nil, s.setUserDisabled(r.Context(), by, r.PathValue("email"), true)
		}
		return nil, s.removeUser(r.Context(), by, r.PathValue("email"))
	})
	a("GET /admin/api/aliases", func(r *http.Request, _ string) (any, error) { return s.listAliases(r.Context()) })
	a("POST /admin/api/aliases", func(r *http.Request, _ string) (any, error) {
		var in struct {
			Address string   `json:"address"`
			Targets []string `json:"targets"`
			Permit  []string `json:"permit"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.addAlias(r.Context(), in.Address, in.Targets, in.Permit)
	})
	a("DELETE /admin/api/aliases/{address}", func(r *http.Request, _ string) (any, error) {
		return nil, s.removeAlias(r.Context(), r.PathValue("address"))
	})
	a("GET /admin/api/domains", func(r *http.Request, _ string) (any, error) {
		ds, err := s.o.Store.Domains(r.Context())
		out := []string{}
		for _, d := range ds {
			out = append(out, d.Name)
		}
		return out, err
	})
	a("POST /admin/api/domains", func(r *http.Request, _ string) (any, error) {
		var in struct {
			Domain string `json:"domain"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.addDomain(r.Context(), in.Domain)
	})
	a("DELETE /admin/api/domains/{domain}", func(r *http.Request, _ string) (any, error) {
		return nil, s.removeDomain(r.Context(), r.PathValue("domain"))
	})
	a("GET /admin/api/dns/records", func(r *http.Request, _ string) (any, error) {
		set, err := s.records(r.Context())
		if set == nil && err == nil {
			return nil, badf("DNS records are not available on this server")
		}
		return set, err
	})
	a("GET /admin/api/status", func(r *http.Request, _ string) (any, error) {
		if s.o.Status == nil {
			return nil, badf("status checks are not available on this server")
		}
		return s.o.Status(r.Context())
	})
	a("GET /admin/api/queue", func(r *http.Request, _ string) (any, error) {
		items, err := s.o.Store.Queue(r.Context())
		type item struct {
			ID          int64    `json:"id"`
			Sender      string   `json:"sender"`
			Recipients  []string `json:"recipients"`
			Created     string   `json:"created"`
			NextAttempt string   `json:"next_attempt"`
			Attempts    int      `json:"attempts"`
			LastError   string   `json:"last_error"`
		}
		out := []item{}
		for _, it := range items {
			out = append(out, item{it.ID, it.Sender, it.Recipients, it.Created.UTC().Format("2006-01-02T15:04:05Z"), it.NextAttempt.UTC().Format("2006-01-02T15:04:05Z"), it.Attempts, it.LastError})
		}
		return out, err
	})
	a("POST /admin/api/queue/{id}/retry", func(r *http.Request, _ string) (any, error) {
		return nil, s.retryQueued(r.Context(), r.PathValue("id"))
	})
	a("DELETE /admin/api/queue/{id}", func(r *http.Request, _ string) (any, error) {
		return nil, s.removeQueued(r.Context(), r.PathValue("id"), r.URL.Query().Get("silent") == "true")
	})
	a("GET /admin/api/tls", func(r *http.Request, _ string) (any, error) { return s.tlsInfo(), nil })
	m.Handle("/admin/api/", s.api(func(*http.Request, string) (any, error) {
		return nil, &badInput{msg: "no such API call; see docs/api.md", notFound: true}
	}))
}
