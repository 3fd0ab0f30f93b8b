package web

// The download of an account's mail as a zip of mbox files: a user's own
// on /account, any user's for an admin on the Users tab. The zip is made
// by Options.ExportMail (migrate's mbox export, wired by cmd/boxmail: web
// does not import migrate) and streamed as it is made, nothing held but
// the message being written. A download is bounded in size
// (exportMaxBytes: a bigger account is refused before anything is sent)
// and in time (exportTimeout), and at most exportsAtOnce run at once.
// It only reads, so a GET without the CSRF token is safe.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"boxmail/internal/store"
)

const (
	exportMaxBytes = 16 << 30
	exportTimeout  = 2 * time.Hour
	exportsAtOnce  = 2
)

// mailDownload sends the logged-in user their own mail.
func (s *Server) mailDownload(w http.ResponseWriter, r *http.Request, _ *session, a store.Account) {
	s.sendMail(w, r, a, a.Email)
}

// adminMailDownload sends an admin the mail of the user the path names.
func (s *Server) adminMailDownload(w http.ResponseWriter, r *http.Request, sess *session) {
	a, err := s.o.Store.AccountByEmail(r.Context(), strings.ToLower(r.PathValue("email")))
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "No such user.", http.StatusNotFound)
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.sendMail(w, r, a, sess.email)
}

func (s *Server) sendMail(w http.ResponseWriter, r *http.Request, a store.Account, by string) {
	if s.o.ExportMail == nil {
		http.Error(w, "Mail downloads are not offered here.", http.StatusNotFound)
		return
	}
	u, err := s.o.Store.AccountUsage(r.Context(), a.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if u.Used > exportMaxBytes {
		http.Error(w, fmt.Sprintf("This mail (%d MB) is too large to download here; the admin can write it out with 'boxmail export %s --mbox DIR'.", u.Used>>20, a.Email), http.StatusRequestEntityTooLarge)
		return
	}
	select {
	case s.exports <- struct{}{}:
		defer func() { <-s.exports }()
	default:
		w.Header().Set("Retry-After", "300")
		http.Error(w, "Other downloads of mail are running; try again in a few minutes.", http.StatusServiceUnavailable)
		return
	}
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(exportTimeout)); err != nil {
		s.log.Warn("mail download: no longer write deadline", "err", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), exportTimeout)
	defer cancel()
	name := "mail-" + strings.Map(func(c rune) rune {
		if c < 0x80 && (c == '@' || c == '.' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return c
		}
		return '_'
	}, a.Email) + "-" + s.o.Now().UTC().Format("2006-01-02") + ".zip"
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	start := time.Now()
	if err := s.o.ExportMail(ctx, a.ID, w, exportMaxBytes); err != nil {
		s.log.Error("mail download failed", "account", a.Email, "by", by, "err", err)
		// Headers are out: break the connection so the browser reports
		// a failed download rather than keep a short zip.
		panic(http.ErrAbortHandler)
	}
	s.log.Info("mail downloaded", "account", a.Email, "by", by, "elapsed", time.Since(start))
}
