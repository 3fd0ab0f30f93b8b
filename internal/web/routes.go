package web

// Every route of the HTTPS server and its plain-HTTP companion, in one
// table (routes): the pattern, who may call it, whether it changes state,
// and the handler. The constructors (pub, mua, form, usr, adm, apiAdm,
// apiUsr) wrap each handler in the check its row names: a session, an
// admin, the CSRF token on changes, an API credential. No handler checks
// these by hand, and nothing registers a route outside this table
// (routes_test.go walks it against the real mux).

import (
	"io/fs"
	"net/http"
	"strings"
)

// access is who may call a route.
type access uint8

const (
	byAnyone    access = iota // public: pages, static files, the MTA-STS policy (mta-sts.DOMAIN)
	byMailApp                 // public, read-only: autoconfig and autodiscover (autoconfig.DOMAIN, mail apps)
	byLoginForm               // anyone, checked by the form's own token: login cookie, pending two-step token, session on logout
	byUser                    // a logged-in user's session, any account; else redirect to /login
	byAdmin                   // an admin's session; other users get the 403 "denied" page
	byAPIAdmin                // HTTP Basic as an admin, or an admin's session (X-CSRF-Token on changes); else 401/403 JSON
	byAPIUser                 // HTTP Basic or a session of any user, acting on their own account; else 401/403 JSON
	bySlashTypo               // public, read-only: a page's path with a trailing slash, redirected permanently to the page
	byWebmail                 // /mail/: Options.Mail, which checks the session (MailSession) and CSRF itself
	byDAV                     // /dav/ and the two DAV well-known names: Options.DAV, which logs in with HTTP Basic itself
)

// Whether a route changes state: a session route that writes needs the
// CSRF token (form field csrf, or the X-CSRF-Token header on the API).
const (
	reads  = false
	writes = true
)

// servers says which server answers a route.
type servers uint8

const (
	onHTTPS servers = 1 << iota
	onHTTP
	onBoth = onHTTPS | onHTTP
)

// route is one row of the table.
type route struct {
	pattern string // http.ServeMux pattern: "METHOD /path" ("/path": any method)
	who     access
	changes bool
	on      servers
	h       http.Handler // the handler, already wrapped in who's check
}

// routes is the whole surface of boxmail's web, one row per route.
func (s *Server) routes() []route {
	t := []route{
		s.pub("GET /static/", staticFiles()),
		s.pub("GET /{$}", redirect("/account")),
		s.pub("GET /setup", s.setupPage),
		slashless("GET /setup/{$}"),
		s.pub("GET /setup/mobileconfig", s.mobileconfig),
		s.pub("GET /.well-known/mta-sts.txt", s.mtaSTS),
		s.mua("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig).also(onHTTP),
		s.mua("GET /mail/config-v1.1.xml", s.autoconfig).also(onHTTP),
		s.mua("POST /autodiscover/autodiscover.xml", s.autodiscover),
		s.mua("POST /Autodiscover/Autodiscover.xml", s.autodiscover),
		s.pub("/", s.toHTTPS).only(onHTTP),

		s.pub("GET /login", s.loginPage),
		s.form("POST /login", s.login),
		s.form("POST /login/code", s.loginCode), // totp.go
		s.form("POST /logout", s.logout),

		s.usr("GET /account", reads, s.accountPage),
		slashless("GET /account/{$}"),
		s.usr("POST /account", writes, s.accountPost), // own password
		s.usr("POST /account/forward", writes, s.forwardPost),
		s.usr("POST /account/vacation", writes, s.vacationPost),
		s.usr("GET /account/security", reads, s.securityPage), // two-step login, app passwords
		s.usr("POST /account/security", writes, s.securityPost),
		s.usr("GET /account/mail.zip", reads, s.mailDownload), // export.go
		// Release a message from Junk (spam.go).
		s.usr("POST /account/junk", writes, s.junkRelease),
		// The account's own JSON API (docs/api.md).
		s.apiUsr("GET /account/api/forwards", reads, s.apiForwards),
		s.apiUsr("POST /account/api/forwards", writes, s.apiAddForward),
		s.apiUsr("POST /account/api/forwards/{name}/disable", writes, s.apiChangeForward("disable")),
		s.apiUsr("POST /account/api/forwards/{name}/enable", writes, s.apiChangeForward("enable")),
		s.apiUsr("DELETE /account/api/forwards/{name}", writes, s.apiChangeForward("remove")),
		s.apiUsr("GET /account/api/", reads, noSuchCall),
		s.apiUsr("/account/api/", writes, noSuchCall),

		// The admin panel's tabs (title, data, form ops: adminPages, admin.go).
		s.adm("GET /admin", reads, func(w http.ResponseWriter, r *http.Request, _ *session) { redirect("/admin/users")(w, r) }),
		slashless("GET /admin/{$}"), // the seed's login address; the page itself asks who is calling
		s.adm("GET /admin/users", reads, s.adminPage("users")),
		s.adm("POST /admin/users", writes, s.adminForm("users")),
		s.adm("GET /admin/users/{email}/mail.zip", reads, s.adminMailDownload), // export.go
		s.adm("GET /admin/aliases", reads, s.adminPage("aliases")),
		s.adm("POST /admin/aliases", writes, s.adminForm("aliases")),
		s.adm("GET /admin/domains", reads, s.adminPage("domains")),
		s.adm("POST /admin/domains", writes, s.adminForm("domains")),
		s.adm("GET /admin/dns", reads, s.adminPage("dns")),
		s.adm("GET /admin/dns/zone", reads, s.zoneDownload),
		s.adm("GET /admin/status", reads, s.adminPage("status")),
		s.adm("GET /admin/queue", reads, s.adminPage("queue")),
		s.adm("POST /admin/queue", writes, s.adminForm("queue")),
		s.adm("GET /admin/tls", reads, s.adminPage("tls")),
		s.adm("POST /admin/tls", writes, s.adminForm("tls")), // the one multipart upload (web.go bodyLimit)
		s.adm("GET /admin/migration", reads, s.adminPage("migration")),
		s.adm("GET /admin/spam", reads, s.adminPage("spam")), // spam.go
		s.adm("POST /admin/spam", writes, s.adminForm("spam")),
		s.adm("GET /admin/dashboard", reads, s.adminPage("dashboard")), // dashboard.go
		s.adm("GET /admin/deliverability", reads, s.adminPage("deliverability")),

		// The admin JSON API (docs/api.md).
		s.apiAdm("GET /admin/api/users", reads, s.apiUsers),
		s.apiAdm("POST /admin/api/users", writes, s.apiAddUser),
		s.apiAdm("DELETE /admin/api/users/{email}", writes, s.apiRemoveUser), // ?keep_mail=true: disable
		s.apiAdm("POST /admin/api/users/{email}/password", writes, s.apiSetPassword),
		s.apiAdm("POST /admin/api/users/{email}/admin", writes, s.apiSetAdmin),
		s.apiAdm("POST /admin/api/users/{email}/disabled", writes, s.apiSetDisabled),
		s.apiAdm("POST /admin/api/users/{email}/sign-out", writes, s.apiSignOut),
		s.apiAdm("DELETE /admin/api/users/{email}/two-step", writes, s.apiTwoStepOff),
		s.apiAdm("GET /admin/api/aliases", reads, s.apiAliases),
		s.apiAdm("POST /admin/api/aliases", writes, s.apiAddAlias),
		s.apiAdm("PUT /admin/api/aliases/{address}", writes, s.apiSetAlias),
		s.apiAdm("DELETE /admin/api/aliases/{address}", writes, s.apiRemoveAlias),
		s.apiAdm("GET /admin/api/domains", reads, s.apiDomains),
		s.apiAdm("POST /admin/api/domains", writes, s.apiAddDomain),
		s.apiAdm("DELETE /admin/api/domains/{domain}", writes, s.apiRemoveDomain),
		s.apiAdm("GET /admin/api/dns/records", reads, s.apiRecords),
		s.apiAdm("GET /admin/api/status", reads, s.apiStatus),
		s.apiAdm("GET /admin/api/queue", reads, s.apiQueue),
		s.apiAdm("POST /admin/api/queue/{id}/retry", writes, s.apiRetryQueued),
		s.apiAdm("DELETE /admin/api/queue/{id}", writes, s.apiRemoveQueued), // ?silent=true: no bounce
		s.apiAdm("GET /admin/api/tls", reads, s.apiTLS),
		s.apiAdm("POST /admin/api/tls", writes, s.apiInstallCert), // {"switch":true}: the staged pair now
		s.apiAdm("GET /admin/api/migration", reads, s.apiMigration),
		s.apiAdm("GET /admin/api/dashboard", reads, s.apiDashboard), // dashboard.go
		s.apiAdm("GET /admin/api/deliverability", reads, s.apiDeliverability),
		s.apiAdm("GET /admin/api/", reads, noSuchCall),
		s.apiAdm("/admin/api/", writes, noSuchCall),
	}
	if s.o.Mail != nil {
		t = append(t, route{pattern: "/mail/", who: byWebmail, changes: writes, on: onHTTPS, h: s.o.Mail})
	}
	if s.o.DAV != nil {
		for _, p := range davPatterns {
			t = append(t, route{pattern: p, who: byDAV, changes: writes, on: onHTTPS, h: s.o.DAV})
		}
	}
	return t
}

// davPatterns are the rows of Options.DAV: any method (PROPFIND, REPORT,
// PUT...), with no session or CSRF token, since every request carries
// its own Basic credentials.
var davPatterns = []string{"/dav/", "/.well-known/carddav", "/.well-known/caldav"}

// The constructors of the rows: each wraps its handler in the check of
// its access.

func (s *Server) pub(pattern string, h http.HandlerFunc) route {
	return route{pattern: pattern, who: byAnyone, on: onHTTPS, h: h}
}

func (s *Server) mua(pattern string, h http.HandlerFunc) route {
	return route{pattern: pattern, who: byMailApp, on: onHTTPS, h: h}
}

func (s *Server) form(pattern string, h http.HandlerFunc) route {
	return route{pattern: pattern, who: byLoginForm, changes: writes, on: onHTTPS, h: h}
}

func (s *Server) usr(pattern string, changes bool, h userHandler) route {
	return route{pattern: pattern, who: byUser, changes: changes, on: onHTTPS, h: s.user(h, changes)}
}

func (s *Server) adm(pattern string, changes bool, h adminHandler) route {
	return route{pattern: pattern, who: byAdmin, changes: changes, on: onHTTPS, h: s.admin(h, changes)}
}

func (s *Server) apiAdm(pattern string, changes bool, h apiHandler) route {
	return route{pattern: pattern, who: byAPIAdmin, changes: changes, on: onHTTPS, h: s.api(h, true, changes)}
}

func (s *Server) apiUsr(pattern string, changes bool, h apiHandler) route {
	return route{pattern: pattern, who: byAPIUser, changes: changes, on: onHTTPS, h: s.api(h, false, changes)}
}

// slashless is the row for a page's path typed with a trailing slash
// ("GET /admin/{$}"): a permanent redirect to the page's own path, query
// kept. It reads nothing and checks no one; the page it names does.
func slashless(pattern string) route {
	path := strings.TrimSuffix(strings.TrimPrefix(pattern, "GET "), "/{$}")
	h := func(w http.ResponseWriter, r *http.Request) {
		to := path
		if r.URL.RawQuery != "" {
			to += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, to, http.StatusMovedPermanently)
	}
	return route{pattern: pattern, who: bySlashTypo, on: onHTTPS, h: http.HandlerFunc(h)}
}

// also adds a server to the route's; only sets it.
func (r route) also(on servers) route { r.on |= on; return r }
func (r route) only(on servers) route { r.on = on; return r }

// mux registers the routes of the table that server on answers.
func mux(table []route, on servers) *http.ServeMux {
	m := http.NewServeMux()
	for _, r := range table {
		if r.on&on != 0 {
			m.Handle(r.pattern, r.h)
		}
	}
	return m
}

// staticFiles serves the embedded static directory (CSS, JS, images).
func staticFiles() http.HandlerFunc {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // "static" is a valid path of the embedded FS: cannot happen
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub)).ServeHTTP
}

func redirect(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusSeeOther) }
}

// toHTTPS sends a plain-HTTP request to the same path on HTTPS.
func (s *Server) toHTTPS(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, s.httpsURL(r), http.StatusMovedPermanently)
}

// noSuchCall answers the API paths the table does not name.
func noSuchCall(*http.Request, string) (any, error) {
	return nil, &badInput{msg: "no such API call; see docs/api.md", notFound: true}
}
