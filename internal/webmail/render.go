package webmail

import (
	"bytes"
	"crypto/subtle"
	"html/template"
	"net/http"
)

// page is what every template gets.
type page struct {
	Title   string
	Email   string // the logged-in account; "" on the login page
	CSRF    string
	Folders []folder
	Note    string // one line about the last action
	Data    any
}

type templates map[string]*template.Template

var pageNames = []string{"login", "list", "message", "compose", "settings", "folders"}

func parseTemplates() templates {
	base := template.Must(template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/trust.html"))
	m := templates{}
	for _, n := range pageNames {
		t := template.Must(base.Clone())
		m[n] = template.Must(t.ParseFS(templateFS, "templates/"+n+".html"))
	}
	return m
}

// notes are the lines an action's redirect may ask a page to show
// (?note=), so no text from the URL reaches a page.
var notes = map[string]string{
	"sent":    "Your message is sent.",
	"moved":   "Moved.",
	"deleted": "Moved to Trash.",
	"gone":    "Deleted.",
	"changed": "Done.",
	// unsubscribe.go
	"unsubscribed": "The list was asked to unsubscribe you.",
	"unsubfailed":  "The list's unsubscribe page did not accept the request; try its link instead.",
}

// render executes a page into a buffer first, so a template error never
// sends half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Note == "" {
		p.Note = notes[r.URL.Query().Get("note")]
	}
	var b bytes.Buffer
	if err := s.tmpl[name].ExecuteTemplate(&b, "layout.html", p); err != nil {
		s.log.Error("webmail page", "page", name, "err", err)
		http.Error(w, "Something went wrong on the server; the administrator can find the details in its log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes()) // a write error means the client left
}

func validCSRF(sess Session, token string) bool {
	return token != "" && sess.CSRF != "" && subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(token)) == 1
}

// loginPage is /mail/ without a session: the account pages' login form
// (same fields, posted to web's /login), coming back here.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	tok := s.o.LoginToken(w)
	s.render(w, r, http.StatusOK, "login", page{Title: "Log in to your mail", CSRF: tok})
}
