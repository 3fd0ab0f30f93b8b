package webmail

// The settings page (/mail/settings): filters, the vacation reply with
// its dates and interval, and the password. Filters and the vacation
// reply are rules of the account's Sieve script, written through
// admin.Service (AddFilter, RemoveRule, SetVacation, RemoveVacation), the
// same code the account page, the boxmail command and ManageSieve's
// script check use; the script is compiled before it is saved. The
// password form posts to web's /account (op=passwd) with the session's
// CSRF token, so the password rules, the rate limit and the ending of
// the other sessions are web's own.

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/store"
)

// defaultVacationDays is the reply interval offered when none is set.
const defaultVacationDays = 7

// vacationRuleName is the rule admin.SetVacation writes ("# rule:[Vacation]").
const vacationRuleName = "Vacation"

// maxVacationText caps the vacation reply's text.
const maxVacationText = 16 << 10

// settingsData is the settings page.
type settingsData struct {
	Off      bool // no admin.Service: settings cannot be changed here
	Filters  []admin.Filter
	Others   []admin.OtherRule
	Targets  []folder // folders a filter may move into
	Vacation admin.Vacation
	VacOn    bool
	VacText  string // a vacation rule edited in a Sieve client: its text
	Error    string // why the last change was refused
	Form     admin.Filter
	// Identities: the addresses the user may write from, with the name
	// and signature compose uses (store.Identities).
	Identities []identity
}

// filterFieldNames and filterActionNames label the filter form's choices.
var filterFieldNames = []struct{ Value, Label string }{
	{"from", "From"}, {"to", "To or Cc"}, {"subject", "Subject"}, {"list-id", "List-Id"},
}

var filterActionNames = []struct{ Value, Label string }{
	{admin.FilterMove, "move to folder"}, {admin.FilterRead, "mark read"},
	{admin.FilterForward, "forward, keeping a copy, to"}, {admin.FilterTrash, "move to Trash"},
}

// FieldLabel and ActionLabel name a filter's field and action on the page.
func (settingsData) FieldLabel(v string) string {
	for _, f := range filterFieldNames {
		if f.Value == v {
			return f.Label
		}
	}
	return v
}

func (settingsData) ActionLabel(v string) string {
	for _, a := range filterActionNames {
		if a.Value == v {
			return a.Label
		}
	}
	return v
}

func (settingsData) FieldChoices() any  { return filterFieldNames }
func (settingsData) ActionChoices() any { return filterActionNames }

// settingsPage shows the settings.
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, sess Session) {
	s.showSettings(w, r, sess, http.StatusOK, settingsData{Form: admin.Filter{Field: "from", Action: admin.FilterMove}})
}

// showSettings renders the page with d's Error and Form kept.
func (s *Server) showSettings(w http.ResponseWriter, r *http.Request, sess Session, status int, d settingsData) {
	fs, err := s.folders(r.Context(), sess.AccountID, 0)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if d.Identities, err = s.identities(r.Context(), sess); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	for _, f := range fs {
		if f.Special != `\Trash` {
			d.Targets = append(d.Targets, f)
		}
	}
	if s.o.Admin == nil {
		d.Off = true
		s.render(w, r, status, "settings", page{Title: "Settings", Email: sess.Email, CSRF: sess.CSRF, Folders: fs, Data: d})
		return
	}
	d.Filters, d.Others, err = s.o.Admin.Filters(r.Context(), sess.Email)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	v, rule, on, err := s.o.Admin.VacationOf(r.Context(), sess.Email)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d.VacOn, d.Vacation = on, v
	if on { // the vacation card shows it: not again among the other rules
		d.Others = slices.DeleteFunc(d.Others, func(o admin.OtherRule) bool { return o.Name == vacationRuleName })
	}
	if on && v.Days == 0 {
		d.VacText = rule
	}
	if d.Vacation.Days == 0 {
		d.Vacation.Days = defaultVacationDays
	}
	s.render(w, r, status, "settings", page{Title: "Settings", Email: sess.Email, CSRF: sess.CSRF, Folders: fs, Data: d})
}

// settingsChanged answers a change: back to the page, or the page again
// with the reason a person must correct.
func (s *Server) settingsChanged(w http.ResponseWriter, r *http.Request, sess Session, err error, form admin.Filter) {
	if err == nil {
		http.Redirect(w, r, "/mail/settings?note=changed", http.StatusSeeOther)
		return
	}
	if msg, ok := admin.IsInputError(err); ok {
		s.showSettings(w, r, sess, http.StatusBadRequest, settingsData{Error: msg, Form: form})
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		s.showSettings(w, r, sess, http.StatusNotFound, settingsData{Error: "There is no such rule (any more).", Form: form})
		return
	}
	s.fail(w, r, sess, err)
}

var errSettingsOff = &admin.InputError{Msg: "Settings cannot be changed here on this box."}

// filterPost adds (op=add) or removes (op=remove, name) a filter or rule.
func (s *Server) filterPost(w http.ResponseWriter, r *http.Request, sess Session) {
	f := admin.Filter{Name: strings.TrimSpace(r.PostFormValue("name")), Field: r.PostFormValue("field"),
		Contains: r.PostFormValue("contains"), Action: r.PostFormValue("action"), Arg: strings.TrimSpace(r.PostFormValue("arg"))}
	if s.o.Admin == nil {
		s.settingsChanged(w, r, sess, errSettingsOff, f)
		return
	}
	var err error
	switch r.PostFormValue("op") {
	case "add":
		if f.Action == admin.FilterMove {
			f.Arg = r.PostFormValue("folder")
		}
		if f.Name == "" {
			f.Name = settingsData{}.FieldLabel(f.Field) + ": " + strings.TrimSpace(f.Contains)
			if len(f.Name) > 100 {
				f.Name = f.Name[:100]
			}
			f.Name = strings.ToValidUTF8(strings.NewReplacer("[", "(", "]", ")").Replace(f.Name), "")
		}
		_, err = s.o.Admin.AddFilter(r.Context(), sess.Email, f)
	case "remove":
		err = s.o.Admin.RemoveRule(r.Context(), sess.Email, r.PostFormValue("name"))
		f = admin.Filter{Field: "from", Action: admin.FilterMove}
	default:
		err = &admin.InputError{Msg: "unknown action"}
	}
	if err == nil {
		s.log.Info("webmail filters changed", "user", sess.Email, "op", r.PostFormValue("op"))
	}
	s.settingsChanged(w, r, sess, err, f)
}

// vacationPost turns the vacation reply on (op=set: from, until,
// subject, body, days) or off (op=off).
func (s *Server) vacationPost(w http.ResponseWriter, r *http.Request, sess Session) {
	form := admin.Filter{Field: "from", Action: admin.FilterMove}
	if s.o.Admin == nil {
		s.settingsChanged(w, r, sess, errSettingsOff, form)
		return
	}
	var err error
	switch r.PostFormValue("op") {
	case "set":
		err = s.setVacation(r, sess)
	case "off":
		_, err = s.o.Admin.RemoveVacation(r.Context(), sess.Email)
	default:
		err = &admin.InputError{Msg: "unknown action"}
	}
	if err == nil {
		s.log.Info("webmail vacation changed", "user", sess.Email, "op", r.PostFormValue("op"))
	}
	s.settingsChanged(w, r, sess, err, form)
}

func (s *Server) setVacation(r *http.Request, sess Session) error {
	days, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("days")))
	if err != nil || days < 1 || days > 365 {
		return &admin.InputError{Msg: "the interval must be a number of days from 1 to 365"}
	}
	v := admin.Vacation{Subject: strings.TrimSpace(r.PostFormValue("subject")), Body: strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n"),
		From: strings.TrimSpace(r.PostFormValue("from")), Until: strings.TrimSpace(r.PostFormValue("until")), Days: days}
	switch {
	case v.Subject == "" || strings.TrimSpace(v.Body) == "":
		return &admin.InputError{Msg: "the reply needs a subject and a text"}
	case len(v.Body) > maxVacationText || len(v.Subject) > 998:
		return &admin.InputError{Msg: "the reply is too long"}
	case strings.ContainsRune(v.Body, 0):
		return &admin.InputError{Msg: "the text holds a NUL character"}
	}
	_, err = s.o.Admin.SetVacation(r.Context(), sess.Email, v)
	return err
}

// identityPost sets the display name and signature of one address the
// user may write from (address, name, signature); another address is
// refused, as submission would refuse it as From.
func (s *Server) identityPost(w http.ResponseWriter, r *http.Request, sess Session) {
	form := admin.Filter{Field: "from", Action: admin.FilterMove}
	ids, err := s.identities(r.Context(), sess)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	addr := strings.TrimSpace(r.PostFormValue("address"))
	i := slices.IndexFunc(ids, func(id identity) bool { return strings.EqualFold(id.Address, addr) })
	if i < 0 {
		s.settingsChanged(w, r, sess, &admin.InputError{Msg: "You cannot write from that address."}, form)
		return
	}
	id := store.Identity{Address: ids[i].Address, Name: strings.TrimSpace(r.PostFormValue("name")),
		Signature: strings.ReplaceAll(r.PostFormValue("signature"), "\r\n", "\n")}
	err = s.o.Store.SetIdentity(r.Context(), sess.AccountID, id)
	if errors.Is(err, store.ErrBadIdentity) {
		err = &admin.InputError{Msg: fmt.Sprintf("The name must be one line of at most %d bytes, the signature at most %d bytes.", store.MaxIdentityName, store.MaxSignature)}
	}
	if err == nil {
		s.log.Info("webmail identity changed", "user", sess.Email, "address", id.Address)
	}
	s.settingsChanged(w, r, sess, err, form)
}
