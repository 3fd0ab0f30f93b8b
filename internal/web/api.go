package web

// The JSON APIs under /admin/api/ and /account/api/ (docs/api.md), whose
// routes are in routes.go and handlers beside the pages they mirror.
// Authentication: the session cookie plus the X-CSRF-Token header on
// every request that changes something, or HTTP Basic with the
// account's address and password (scripts; no CSRF token needed, since
// browsers never send these credentials on their own: the API never
// asks for them). /admin/api/ takes only admins.

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
	_ = enc.Encode(v) // the status is sent: a write error means the client left
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// requestAccount returns the account making an API request, by HTTP
// Basic (with X-Boxmail-TOTP when two-step login is on) or by session
// cookie plus the CSRF token when the route changes state, limited to
// admins when needAdmin; otherwise it answers the error itself and
// returns "".
func (s *Server) requestAccount(w http.ResponseWriter, r *http.Request, needAdmin, changes bool) string {
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
	case changes && (!sameOrigin(r) || !validCSRF(sess, r.Header.Get("X-CSRF-Token"))):
		apiError(w, http.StatusForbidden, "missing or wrong X-CSRF-Token header")
	default:
		return a.Email
	}
	return ""
}

// api authenticates a request (requestAccount), runs h with the account
// making it and writes h's result or error as JSON.
func (s *Server) api(h apiHandler, needAdmin, changes bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		by := s.requestAccount(w, r, needAdmin, changes)
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
