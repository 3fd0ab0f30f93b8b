package web

// The vacation form of /account: the user's own away reply (on/off, first
// and last day, subject, text), set through admin.Service as the boxmail
// vacation command does. Not the Sieve editor: a rule edited in a Sieve
// client shows as its text only.

import (
	"context"
	"net/http"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/store"
)

// defaultVacationDays is how often one sender gets the reply when no
// earlier setting says otherwise.
const defaultVacationDays = 7

// vacationInfo is the /account vacation card.
type vacationInfo struct {
	On     bool
	Custom string // the Sieve text of a rule edited in a Sieve client
	admin.Vacation
}

func (s *Server) vacationOf(ctx context.Context, email string) vacationInfo {
	v, rule, ok, err := s.o.Admin.VacationOf(ctx, email)
	if err != nil {
		s.log.Error("reading the vacation reply failed", "user", email, "err", err)
		return vacationInfo{}
	}
	if !ok {
		return vacationInfo{}
	}
	if v.Days == 0 {
		return vacationInfo{On: true, Custom: rule}
	}
	return vacationInfo{On: true, Vacation: v}
}

// vacationPost turns the user's vacation reply on (replacing any) or off.
func (s *Server) vacationPost(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) {
	ctx := r.Context()
	var msg string
	var err error
	switch r.PostFormValue("op") {
	case "set":
		msg, err = "Your away reply is on.", s.setVacationFromForm(ctx, a.Email, r)
	case "off":
		msg, err = "Your away reply is off.", s.removeVacation(ctx, a.Email)
	default:
		err = badf("unknown action")
	}
	s.flashChange(sess, "vacation", a.Email, msg, err)
	http.Redirect(w, r, "/account#vacation", http.StatusSeeOther)
}

// setVacationFromForm sets email's away reply from the form fields from,
// until, subject and body, keeping the reply interval of an earlier one.
func (s *Server) setVacationFromForm(ctx context.Context, email string, r *http.Request) error {
	days := defaultVacationDays
	if old, _, ok, err := s.o.Admin.VacationOf(ctx, email); err == nil && ok && old.Days > 0 {
		days = old.Days
	}
	v := admin.Vacation{Subject: strings.TrimSpace(r.PostFormValue("subject")), Body: strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n"),
		From: strings.TrimSpace(r.PostFormValue("from")), Until: strings.TrimSpace(r.PostFormValue("until")), Days: days}
	if v.Subject == "" || strings.TrimSpace(v.Body) == "" {
		return badf("the reply needs a subject and a text")
	}
	_, err := s.o.Admin.SetVacation(ctx, email, v)
	return classify(err)
}

func (s *Server) removeVacation(ctx context.Context, email string) error {
	_, err := s.o.Admin.RemoveVacation(ctx, email)
	return classify(err)
}
