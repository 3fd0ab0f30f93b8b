package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

// page is what every template gets.
type page struct {
	Title   string
	Email   string // the logged-in account, "" when none
	Admin   bool
	CSRF    string
	Section string // the admin tab
	Flash   string
	FlashOK bool
	Error   string
	Data    any
}

var pageNames = []string{"login", "denied", "setup", "account", "users", "aliases", "domains", "dns", "status", "queue", "tls", "migration", "logincode", "security", "spam", "dashboard", "deliverability"}

func parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"mb": func(n int64) int64 { return n >> 20 },
		// cut splits s at the first sep, e.g. a login's date from its
		// protocol and address, so the date alone can be kept on one line.
		"cut": func(s, sep string) struct{ Before, After string } {
			b, a, _ := strings.Cut(s, sep)
			return struct{ Before, After string }{b, a}
		},
		"size": func(n int64) string {
			switch {
			case n >= 1<<30:
				return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
			case n >= 1<<20:
				return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
			case n >= 1<<10:
				return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
			}
			return fmt.Sprintf("%d bytes", n)
		},
		"join": strings.Join,
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	m := map[string]*template.Template{}
	for _, n := range pageNames {
		t := template.Must(base.Clone())
		m[n] = template.Must(t.ParseFS(templateFS, "templates/"+n+".html"))
	}
	return m
}

// render executes a page into a buffer first, so a template error never
// sends half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	var b bytes.Buffer
	if err := s.tmpl[name].ExecuteTemplate(&b, "layout.html", p); err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes()) // a write error means the client left; nothing to tell it
}
