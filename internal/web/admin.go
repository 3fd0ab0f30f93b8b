package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"boxmail/internal/dnsrecords"
)

// adminPageDef is one tab of /admin: load gives its data; do (if the tab
// has forms) performs the form's op and returns the message to show.
// Their routes are in routes.go.
type adminPageDef struct {
	path, title string
	load        func(s *Server, r *http.Request) (any, error)
	do          func(s *Server, r *http.Request, by string) (string, error)
}

var adminPages = []adminPageDef{
	{path: "users", title: "Users", load: func(s *Server, r *http.Request) (any, error) { return s.listUsers(r.Context()) }, do: usersForm},
	{path: "aliases", title: "Aliases", load: func(s *Server, r *http.Request) (any, error) { return s.listAliases(r.Context()) }, do: aliasesForm},
	{path: "domains", title: "Domains", load: func(s *Server, r *http.Request) (any, error) { return s.o.Store.Domains(r.Context()) }, do: domainsForm},
	{path: "dns", title: "External DNS", load: loadDNS},
	{path: "status", title: "Status checks", load: loadStatus},
	{path: "queue", title: "Mail queue", load: loadQueue, do: queueForm},
	{path: "tls", title: "TLS", load: loadTLS, do: tlsForm},
	{path: "migration", title: "Migration", load: loadMigration}, // migration.go
	// spam.go
	{path: "spam", title: "Spam caught this week", load: loadSpam, do: spamForm},
	{path: "dashboard", title: "Dashboard", load: loadDashboard}, // dashboard.go
	// deliverability.go
	{path: "deliverability", title: "Deliverability", load: loadDeliverability},
}

// adminTab is the tab of adminPages at path.
func adminTab(path string) adminPageDef {
	for _, p := range adminPages {
		if p.path == path {
			return p
		}
	}
	panic("web: no admin tab " + path) // a typo in routes.go; every test fails
}

// adminPage shows the tab at path.
func (s *Server) adminPage(path string) adminHandler {
	p := adminTab(path)
	return func(w http.ResponseWriter, r *http.Request, sess *session) {
		data, err := p.load(s, r)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		flash, ok := s.sessions.takeFlash(sess)
		s.render(w, r, p.path, page{Title: p.title, Email: sess.email, Admin: true, CSRF: sess.csrf, Section: p.path, Flash: flash, FlashOK: ok, Data: data})
	}
}

// adminForm performs a form's op, then redirects back (post/redirect/get)
// with the outcome as a one-time message.
func (s *Server) adminForm(path string) adminHandler {
	p := adminTab(path)
	if p.do == nil {
		panic("web: admin tab " + path + " has no form") // a typo in routes.go; every test fails
	}
	return func(w http.ResponseWriter, r *http.Request, sess *session) {
		msg, err := p.do(s, r, sess.email)
		var bi *badInput
		switch {
		case errors.As(err, &bi):
			s.sessions.setFlash(sess, bi.msg, false)
		case err != nil:
			s.log.Error("admin action failed", "page", p.path, "op", r.PostFormValue("op"), "err", err)
			s.sessions.setFlash(sess, "That did not work because of a problem on the server; its log has the details.", false)
		case msg != "":
			s.sessions.setFlash(sess, msg, true)
		}
		http.Redirect(w, r, "/admin/"+p.path, http.StatusSeeOther)
	}
}

type dnsZone struct {
	Zone    string
	Records []dnsrecords.Record
}

func loadDNS(s *Server, r *http.Request) (any, error) {
	set, err := s.records(r.Context())
	if err != nil || set == nil {
		return nil, err
	}
	var out []dnsZone
	for _, z := range set.Zones {
		out = append(out, dnsZone{Zone: z, Records: set.Zone(z)})
	}
	return out, nil
}

func (s *Server) records(ctx context.Context) (*dnsrecords.Set, error) {
	if s.o.Records == nil {
		return nil, nil
	}
	return s.o.Records(ctx)
}

func (s *Server) zoneDownload(w http.ResponseWriter, r *http.Request, _ *session) {
	set, err := s.records(r.Context())
	if err != nil || set == nil {
		s.internalError(w, r, errors.New("no DNS records"))
		return
	}
	zones := set.Zones
	if z := r.URL.Query().Get("zone"); z != "" {
		zones = []string{z}
		if !containsString(set.Zones, z) {
			http.Error(w, "no such zone", http.StatusNotFound)
			return
		}
	}
	w.Header().Set("Content-Type", "text/dns; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.Join(zones, "_")+`.zone"`)
	if err := set.WriteZone(w, zones); err != nil {
		s.log.Error("writing zone", "err", err)
	}
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

type statusGroup struct {
	Subject string
	Results []dnsrecords.Result
	Worst   dnsrecords.Level
}

type statusData struct {
	Groups           []statusGroup
	OK, Warn, Fail   int
	Ran              string
	Age              string
	NotAvailableText string
}

// lastStatus keeps the latest status result in memory, so the Status page
// shows it at once with its age instead of an empty page.
type lastStatus struct {
	mu  sync.Mutex
	res []dnsrecords.Result
	at  time.Time
}

func (l *lastStatus) get() ([]dnsrecords.Result, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res, l.at, !l.at.IsZero()
}

func (l *lastStatus) set(res []dnsrecords.Result, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res, l.at = res, at
}

// loadStatus shows the last result with its age; it runs the checks when
// asked to (run=1) or when none has run since the server started.
func loadStatus(s *Server, r *http.Request) (any, error) {
	if s.o.Status == nil {
		return statusData{NotAvailableText: "Status checks are not wired into this server."}, nil
	}
	now := s.o.Now()
	res, at, err := s.latestStatus(r.Context(), r.URL.Query().Get("run") != "") // deliverability.go
	if err != nil {
		return nil, err
	}
	d := groupResults(res, at)
	d.Age = ageText(now.Sub(at))
	return d, nil
}

func ageText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func groupResults(res []dnsrecords.Result, now time.Time) statusData {
	d := statusData{Ran: now.UTC().Format("2006-01-02 15:04:05 UTC")}
	idx := map[string]int{}
	rank := map[dnsrecords.Level]int{dnsrecords.OK: 0, dnsrecords.Warn: 1, dnsrecords.Fail: 2}
	for _, x := range res {
		switch x.Level {
		case dnsrecords.OK:
			d.OK++
		case dnsrecords.Warn:
			d.Warn++
		case dnsrecords.Fail:
			d.Fail++
		}
		i, ok := idx[x.Subject]
		if !ok {
			i = len(d.Groups)
			idx[x.Subject] = i
			d.Groups = append(d.Groups, statusGroup{Subject: x.Subject, Worst: dnsrecords.OK})
		}
		g := &d.Groups[i]
		g.Results = append(g.Results, x)
		if rank[x.Level] > rank[g.Worst] {
			g.Worst = x.Level
		}
	}
	return d
}

type tlsInfo struct {
	Known               bool
	Subject, Issuer     string
	Names               []string
	NotAfter            string
	DaysLeft            int
	Trusted, SelfSigned bool
	// Staged is the pair waiting for its TLSA (tlsupload.go), SwitchAt
	// when it is served ("15:04 UTC").
	Staged   *StagedCertificate `json:",omitempty"`
	SwitchAt string             `json:",omitempty"`
}

func (s *Server) tlsInfo() tlsInfo {
	var info tlsInfo
	if st := s.staged(); st != nil {
		info.Staged, info.SwitchAt = st, switchTime(st.SwitchAt)
	}
	if s.o.Certificate == nil {
		return info
	}
	c, trusted := s.o.Certificate()
	if c == nil {
		return info
	}
	info.Known, info.Subject, info.Issuer, info.Names = true, c.Subject.CommonName, c.Issuer.String(), c.DNSNames
	info.NotAfter, info.DaysLeft = c.NotAfter.UTC().Format("2006-01-02"), int(c.NotAfter.Sub(s.o.Now()).Hours()/24)
	info.Trusted, info.SelfSigned = trusted, c.Issuer.String() == c.Subject.String()
	return info
}

func loadTLS(s *Server, _ *http.Request) (any, error) { return s.tlsInfo(), nil }

// The read-only /admin/api/ calls of the DNS, Status and TLS tabs.

func (s *Server) apiRecords(r *http.Request, _ string) (any, error) {
	set, err := s.records(r.Context())
	if set == nil && err == nil {
		return nil, badf("DNS records are not available on this server")
	}
	return set, err
}

func (s *Server) apiStatus(r *http.Request, _ string) (any, error) {
	if s.o.Status == nil {
		return nil, badf("status checks are not available on this server")
	}
	return s.o.Status(r.Context())
}

func (s *Server) apiTLS(*http.Request, string) (any, error) { return s.tlsInfo(), nil }
