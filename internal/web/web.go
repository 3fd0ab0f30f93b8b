// Package web is boxmail's face in a browser and to mail clients, one
// net/http handler tree served on HTTPS (and a small plain-HTTP server
// that redirects to it):
//
//   - /setup: the public "set up your devices" page (settings table for a
//     domain and server, per-client steps) and /setup/mobileconfig, an
//     Apple configuration profile for one address;
//   - automatic client configuration: Thunderbird autoconfig
//     (/.well-known/autoconfig/mail/config-v1.1.xml and
//     /mail/config-v1.1.xml, also on plain HTTP), Outlook POX autodiscover
//     (POST /autodiscover/autodiscover.xml, either spelling), and the
//     MTA-STS policy (RFC 8461, /.well-known/mta-sts.txt on mta-sts.DOMAIN);
//   - /account: any user changes their password and sees their aliases;
//   - /admin: users, aliases, domains, DNS records, status checks, the
//     outbound queue and the TLS certificate, each action also under the
//     JSON API /admin/api/ (docs/api.md).
//
// Security: sessions are random 256-bit IDs kept in memory and, by their
// SHA-256, in the store (a restart logs no one out) in HttpOnly, Secure, SameSite=Strict cookies, with
// idle and absolute expiry; every state-changing request carries a
// per-session CSRF token (form field or X-CSRF-Token header) unless it is
// authenticated by HTTP Basic; failed logins are rate-limited per client
// IP here and per network and account by the shared guard, which never
// locks an account for everyone (its own networks keep logging in). The
// account behind a session is re-read on every request, so a removed or
// disabled user, a revoked admin right or a password set since (also by
// 'boxmail user passwd' in another process) takes effect at once; "sign
// out everywhere" ends all of a user's sessions, optionally with their
// app passwords. After login only a path on this site is followed
// (safeNext). Every body is capped before a handler runs (64 KiB forms,
// 1 MiB API, the TLS upload only with a session), the servers have read,
// write and idle timeouts and a header cap, and cmd/boxmail puts both
// ports under the guard's per-client connection limit. Profiles
// (/setup/mobileconfig) name only this box's server, and plain HTTP
// redirects only to this box. Passwords never reach a log or a page.
//
// Every route, with who may call it, is one row of routes() (routes.go);
// the session, admin, CSRF and API checks are applied from that table.
// Every change goes through admin.Service, as the boxmail command's do;
// pages read the store. Not here: the config file, DNS lookups and the
// certificate files (cmd/boxmail passes them in as Options callbacks).
package web

import (
	"context"
	"crypto/x509"
	"embed"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/guard"
	"boxmail/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Services are the ports mail clients connect to; 0 means not offered.
type Services struct {
	IMAPS, IMAP, Submission, Submissions, POP3S, POP3, ManageSieve int
}

// Options configure a Server. The callbacks are what web must not
// compute itself: each needs the config file, the TLS files or the DNS
// servers, which only cmd/boxmail holds (web imports neither config nor
// a resolver). A nil callback turns its feature off, and the page says
// so: unit tests leave out what they do not test.
type Options struct {
	Store *store.Store
	// Admin makes every change: users, aliases, domains, two-step, app
	// passwords, forwards, the queue, and measures the migration checklist.
	Admin  *admin.Service
	Logger *slog.Logger
	// Hostname is the box's name, the mail server clients use.
	Hostname string
	// ProfileServers are other names of the box a device profile may
	// name as its server (config profile_servers); any other is refused.
	ProfileServers []string
	Services       Services
	// HTTPSPort is where plain HTTP redirects to (443: no port in URLs).
	HTTPSPort int
	// Records returns the DNS record set of the box (dnsrecords.Build):
	// a callback because it reads the config (hostname, IPs, DKIM
	// selectors, overrides) and the store. Feeds the External DNS tab
	// and GET /admin/api/dns/records.
	Records func(ctx context.Context) (*dnsrecords.Set, error)
	// Status runs the status checks (DNS, certificate, ports): a
	// callback because it asks the configured DNS servers and reads the
	// certificate files.
	Status func(ctx context.Context) ([]dnsrecords.Result, error)
	// Certificate returns the certificate in use and whether clients
	// trust it for the hostname (MTA-STS enforce, HSTS): a callback
	// because the listeners own the certificate and reload it when its
	// files change.
	Certificate func() (leaf *x509.Certificate, trusted bool)
	// ACMEHTTPChallenge answers an ACME HTTP-01 request on plain HTTP
	// (/.well-known/acme-challenge/) and tells whether it did; nil: none.
	ACMEHTTPChallenge func(w http.ResponseWriter, r *http.Request) bool
	// InstallCertificate checks and installs a PEM certificate chain and
	// key (the function 'boxmail tls install' calls); bad input is a
	// *admin.InputError. A pair whose key is new is staged instead (its
	// TLSA is published first, and the box serves it two TTLs later):
	// staged is then true. A callback because it writes the files the
	// config names and tells the listeners. nil: no upload on the TLS
	// page.
	InstallCertificate func(ctx context.Context, certPEM, keyPEM []byte) (staged bool, err error)
	// StagedCertificate returns the pair waiting for its TLSA, nil when
	// none; SwitchCertificate serves it now (the TLS page's "switch
	// now"). nil: the TLS page shows no staged pair.
	StagedCertificate func() *StagedCertificate
	SwitchCertificate func(ctx context.Context) error
	// Now is the clock of sessions, two-step codes and page dates; nil
	// means time.Now (tests set it to move time).
	Now func() time.Time
	// Guard is the login limiter shared with the mail protocols
	// (internal/guard); nil: only this package's own limit.
	Guard *guard.Guard
	// ExportMail writes an account's mail to w as a zip of mbox files,
	// stopping with an error past maxBytes (migrate.ExportMboxZip): the
	// download on /account and the Users tab (export.go). nil: no download.
	ExportMail func(ctx context.Context, accountID int64, w io.Writer, maxBytes int64) error
	// Spam shows what the spam filter caught this week and releases a
	// message from Junk (spam.go); nil: neither is shown.
	Spam SpamJunk
	// Mail serves the webmail under /mail/ (internal/webmail, built by
	// cmd/boxmail over this server's sessions: MailSession, LoginToken);
	// if it has a Shutdown() method, Shutdown calls it first, so its
	// long-lived event streams end. nil: no webmail.
	Mail http.Handler
	// DAV serves contacts and calendars under /dav/ and answers
	// /.well-known/carddav and /.well-known/caldav (internal/dav, built
	// by cmd/boxmail). It logs in with HTTP Basic itself; web only caps
	// its bodies (maxDAVBody). nil: no CardDAV/CalDAV.
	DAV http.Handler

	// measureMigration replaces Admin.Migration in tests (a real one asks
	// DNS servers).
	measureMigration func(ctx context.Context) ([]admin.MigrationDomain, error)
}

// Server is the HTTPS server; Plain returns its plain-HTTP companion.
type Server struct {
	o        Options
	log      *slog.Logger
	tmpl     map[string]*template.Template
	sessions *sessions
	limit    *limiter
	pending  pendingLogins // totp.go
	status   lastStatus    // admin.go
	exports  chan struct{} // mail downloads running (export.go)
	handler  http.Handler
	srv      *http.Server
}

// New builds the server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPSPort == 0 {
		o.HTTPSPort = 443
	}
	s := &Server{o: o, log: o.Logger, tmpl: parseTemplates(), sessions: newSessions(o.Now, o.Store, o.Logger), limit: newLimiter(o.Now),
		exports: make(chan struct{}, exportsAtOnce)}
	s.handler = s.securityHeaders(s.limitBodies(mux(s.routes(), onHTTPS)))
	s.srv = newHTTPServer(s.handler, o.Logger)
	if m, ok := o.Mail.(interface{ Shutdown() }); ok {
		s.srv.RegisterOnShutdown(m.Shutdown)
	}
	return s
}

// Time and size caps of both servers. A request's headers must arrive
// within 10 s and its body within 30 s (the largest, a TLS upload, is
// under 1 MiB); the answer may take 90 s (the migration checklist asks
// DNS servers for up to a minute); an idle keep-alive connection is
// closed after 2 minutes. Connections per client are capped by the guard
// around the listeners (cmd/boxmail).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 90 * time.Second
	connIdleTimeout   = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
)

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: connIdleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
}

// Body caps: forms are small; the JSON API takes up to 1 MiB; the TLS
// page's upload (a certificate chain and a key, maxPEM each) is the one
// multipart form, and gets its size only with a live session cookie, so
// a stranger never makes the box read more than maxFormBody.
const (
	maxFormBody   = 64 << 10
	maxAPIBody    = 1 << 20
	maxDAVBody    = 1<<20 + 64<<10 // a vCard or an event (internal/dav caps it at 1 MiB) with some slack
	maxUploadBody = 2*maxPEM + 64<<10
	uploadPath    = "/admin/tls"
)

// bodyLimit is the cap of a request's body and whether it may be a
// multipart form.
func (s *Server) bodyLimit(r *http.Request) (int64, bool) {
	p := r.URL.Path
	switch {
	case p == uploadPath:
		if c, err := r.Cookie(sessionCookie); err == nil && s.sessions.get(c.Value) != nil {
			return maxUploadBody, true
		}
		return maxFormBody, true
	case strings.HasPrefix(p, "/admin/api/"), strings.HasPrefix(p, "/account/api/"):
		return maxAPIBody, false
	case s.o.DAV != nil && strings.HasPrefix(p, "/dav/"):
		return maxDAVBody, false
	}
	return maxFormBody, false
}

// mailUploadPaths are the webmail's forms that may carry attachments.
var mailUploadPaths = map[string]bool{"/mail/send": true, "/mail/draft": true, "/mail/upload": true}

// mailUpload: a POST of the webmail that may carry files, from a browser
// with a live session cookie (a stranger still gets maxFormBody).
func (s *Server) mailUpload(r *http.Request) bool {
	if s.o.Mail == nil || r.Method != http.MethodPost || !mailUploadPaths[r.URL.Path] {
		return false
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && s.sessions.get(c.Value) != nil
}

// limitBodies caps every request's body (http.MaxBytesReader) and reads
// forms at once, so an oversized one is answered 413 and its connection
// closed before any handler runs; multipart is refused where no upload
// is expected.
func (s *Server) limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.mailUpload(r) {
			// The webmail reads these forms as a stream and caps them at
			// the box's message size itself (webmail/upload.go).
			h.ServeHTTP(w, r)
			return
		}
		limit, multipartOK := s.bodyLimit(r)
		if r.ContentLength > limit {
			tooLarge(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		var err error
		switch {
		case ct == "multipart/form-data" && !multipartOK:
			w.Header().Set("Connection", "close")
			http.Error(w, "This address takes no file uploads.", http.StatusUnsupportedMediaType)
			return
		case ct == "multipart/form-data":
			err = r.ParseMultipartForm(limit)
		case ct == "application/x-www-form-urlencoded":
			err = r.ParseForm()
		}
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			s.log.Info("web request body too large", "ip", clientIP(r), "path", r.URL.Path, "limit", limit)
			tooLarge(w)
			return
		case err != nil:
			w.Header().Set("Connection", "close")
			http.Error(w, "The form could not be read.", http.StatusBadRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.Error(w, "That is more than this page takes.", http.StatusRequestEntityTooLarge)
}

// Handler is the HTTPS handler tree.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers HTTPS on ln (a TLS listener) until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting and waits for requests in progress.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// securityHeaders sets the headers every answer carries.
func (s *Server) securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		if s.o.Certificate != nil {
			if _, trusted := s.o.Certificate(); trusted {
				hd.Set("Strict-Transport-Security", "max-age=31536000")
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Plain returns the plain-HTTP server: autoconfig answers (Thunderbird
// tries http://autoconfig.DOMAIN first), everything else is redirected
// to HTTPS.
func (s *Server) Plain() *PlainServer {
	m := mux(s.routes(), onHTTP) // routes.go
	h := s.securityHeaders(s.limitBodies(m))
	if acme := s.o.ACMEHTTPChallenge; acme != nil {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !acme(w, r) {
				next.ServeHTTP(w, r)
			}
		})
	}
	return &PlainServer{srv: newHTTPServer(h, s.o.Logger)}
}

// httpsURL is where plain HTTP sends a request: the same path and query
// on HTTPS, on the box's hostname. The Host the client sent is kept only
// when it cannot lead elsewhere: the hostname itself, localhost, or the
// IP address the client connected to (the quickstart's
// http://127.0.0.1:8080 goes to https://127.0.0.1:8443).
func (s *Server) httpsURL(r *http.Request) string {
	host := s.o.Hostname
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	switch ip, err := netip.ParseAddr(strings.Trim(h, "[]")); {
	case h == strings.ToLower(s.o.Hostname), h == "localhost":
		host = h
	case err == nil && ip.Zone() == "" && ip.Unmap() == localIP(r):
		host = ip.Unmap().String()
	}
	if s.o.HTTPSPort != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(s.o.HTTPSPort))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "https://" + host + r.URL.RequestURI()
}

// localIP is the box's address a request came in on.
func localIP(r *http.Request) netip.Addr {
	a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// PlainServer is the plain-HTTP companion of Server.
type PlainServer struct{ srv *http.Server }

// Handler is the plain-HTTP handler tree.
func (p *PlainServer) Handler() http.Handler { return p.srv.Handler }

// Serve answers plain HTTP on ln until Shutdown.
func (p *PlainServer) Serve(ln net.Listener) error {
	if err := p.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the plain-HTTP server.
func (p *PlainServer) Shutdown(ctx context.Context) error { return p.srv.Shutdown(ctx) }

// internalError logs err and answers generically.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("web request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	http.Error(w, "Something went wrong on the server; the administrator can find the details in its log.", http.StatusInternalServerError)
}

// clientIP is the remote address without the port.
func clientIP(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}
