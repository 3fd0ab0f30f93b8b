// Package dav serves each account's contacts and calendars over HTTP:
// CardDAV (RFC 6352) and CalDAV (RFC 4791) on github.com/emersion/go-webdav,
// with the data in the store (store/dav.go). internal/web mounts it on the
// HTTPS server (web.Options.DAV) under /dav/, with /.well-known/carddav
// and /.well-known/caldav (RFC 6764) redirecting there.
//
// It is not a general WebDAV file server, and it holds no state of its
// own: every request logs in with HTTP Basic, by the mail rules
// (store.AuthenticateDevice: app passwords when two-step is on) under
// the shared login limiter (guard.Login), so a wrong password counts
// towards the same lockout as IMAP's.
//
// # URL layout
//
//	/dav/                                 root: current-user-principal
//	/dav/EMAIL/                           the principal: both home sets
//	/dav/EMAIL/contacts/                  addressbook-home-set
//	/dav/EMAIL/contacts/BOOK/             an address book ("default" is made on first use)
//	/dav/EMAIL/contacts/BOOK/NAME.vcf     a vCard
//	/dav/EMAIL/calendars/CAL/NAME.ics     likewise for calendars
//	/dav/EMAIL/calendars/shared~ID/       another account's collection shared with EMAIL
//
// Another account's paths answer 404, as paths that do not exist. A
// collection an admin shared with the account (store/davshare.go,
// 'boxmail dav share') is listed in its home set as shared~ID, so
// clients discover it beside their own; read-only, a PUT, DELETE or
// PROPPATCH there is a 403; revoked, its paths answer 404.
// Collection and object names are checked (store.ValidDAVName), so no
// name can climb out of its place.
//
// # What is served
//
// PROPFIND, GET/HEAD, PUT and DELETE with ETags (If-Match and
// If-None-Match, 412 when they fail), MKCOL (extended, RFC 5689),
// addressbook-query and addressbook-multiget (text-match),
// calendar-query (comp-filter, time-range) and calendar-multiget, all
// from go-webdav. Of our own, for what go-webdav's server lacks:
// sync-collection (RFC 6578) and MKCALENDAR (sync.go); the sync-token,
// getctag and supported-report-set properties in PROPFIND (props.go);
// PROPPATCH of a collection's display name and description
// (proppatch.go); a plain Depth 1 listing and multiget answered from the
// stored bytes, gzipped when the client takes it (listing.go). Every
// object's content lines are checked first, so a malformed one is a 400
// naming its line (lint.go), then it is parsed (go-vcard, go-ical)
// before it is stored, and capped at store.DAVMaxObjectBytes; a larger
// request body is a 413 before it is read.
//
// Not yet: other properties in PROPPATCH (colours), COPY/MOVE,
// free-busy, scheduling (iTIP).
package dav

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
	"github.com/emersion/go-webdav/carddav"

	"boxmail/internal/guard"
	"boxmail/internal/store"
)

// Prefix is where the handler expects to be mounted.
const Prefix = "/dav"

// Home set segments of the URL layout.
const (
	cardHome = "contacts"
	calHome  = "calendars"
)

// defaultName is the collection made on first use of each kind.
const defaultName = "default"

// maxBody caps a request's body: one object, or a REPORT/PROPFIND.
const maxBody = store.DAVMaxObjectBytes

// Options configure a Handler.
type Options struct {
	Store *store.Store
	// Guard is the login limiter shared with the mail protocols; nil
	// limits nothing.
	Guard  *guard.Guard
	Logger *slog.Logger
}

// Handler is the CardDAV and CalDAV server.
type Handler struct {
	o    Options
	log  *slog.Logger
	card *carddav.Handler
	cal  *caldav.Handler
}

var _ http.Handler = (*Handler)(nil)

// New builds the handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{o: o, log: o.Logger}
	b := &backend{h: h}
	h.card = &carddav.Handler{Backend: &cardBackend{b}, Prefix: Prefix}
	h.cal = &caldav.Handler{Backend: &calBackend{b}, Prefix: Prefix}
	return h
}

// reqInfo is what a request carries into the backends.
type reqInfo struct {
	acct    store.Account
	ifMatch string // the If-Match header (DELETE), unquoted; "*" or ""
}

type reqKey struct{}

func info(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(reqKey{}).(*reqInfo)
	if ri == nil {
		return &reqInfo{} // no account: every lookup fails
	}
	return ri
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/carddav", "/.well-known/caldav":
		http.Redirect(w, r, Prefix+"/", http.StatusPermanentRedirect)
		return
	}
	if r.URL.Path == Prefix {
		http.Redirect(w, r, Prefix+"/", http.StatusPermanentRedirect)
		return
	}
	acct, ok := h.login(w, r)
	if !ok {
		return
	}
	p, err := parsePath(r.URL.Path)
	if err != nil || (p.email != "" && !strings.EqualFold(p.email, acct.Email)) {
		http.Error(w, "Not found.", http.StatusNotFound)
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	ri := &reqInfo{acct: acct}
	if m := webdav.ConditionalMatch(r.Header.Get("If-Match")); m.IsWildcard() {
		ri.ifMatch = "*"
	} else if m.IsSet() {
		if ri.ifMatch, err = m.ETag(); err != nil {
			http.Error(w, "Bad If-Match.", http.StatusBadRequest)
			return
		}
	}
	if r.Method == "PROPFIND" && len(bytes.TrimSpace(body)) == 0 {
		// An empty PROPFIND asks for all properties (RFC 4918 section
		// 9.1); go-webdav wants a body.
		r.Body = io.NopCloser(strings.NewReader(`<propfind xmlns="DAV:"><allprop/></propfind>`))
		r.Header.Set("Content-Type", "application/xml")
	} else if len(body) > 0 && r.Header.Get("Content-Type") == "" && (r.Method == "PROPFIND" || r.Method == "REPORT") {
		r.Header.Set("Content-Type", "application/xml")
	}
	r = r.WithContext(context.WithValue(r.Context(), reqKey{}, ri))
	if p.level < levelObject && !strings.HasSuffix(r.URL.Path, "/") {
		r.URL.Path += "/" // go-webdav compares home set paths as given
	}
	switch {
	case p.level <= levelPrincipal:
		webdav.ServePrincipal(w, r, &webdav.ServePrincipalOptions{
			CurrentUserPrincipalPath: principalPath(acct),
			HomeSets: []webdav.BackendSuppliedHomeSet{
				carddav.NewAddressBookHomeSet(homePath(acct, store.DAVCards)),
				caldav.NewCalendarHomeSet(homePath(acct, store.DAVCalendars)),
			},
			Capabilities: []webdav.Capability{carddav.CapabilityAddressBook, caldav.CapabilityCalendar},
		})
	case r.Method == "REPORT" && rootElement(body) == syncCollectionName:
		h.syncCollection(w, r, p, body)
	case r.Method == "REPORT" && p.level == levelCollection && rootElement(body) == multigetName(p.kind):
		if !h.multiget(w, r, p, body) {
			h.protocol(p.kind).ServeHTTP(w, r)
		}
	case r.Method == "PUT" && p.level == levelObject:
		if err := checkContentLines(body, p.kind); err != nil {
			http.Error(w, "Not a valid contact or event: "+err.Error()+".", http.StatusBadRequest)
			return
		}
		if r.Header.Get("Content-Type") == "" {
			// A plain WebDAV client (cadaver) names no type; the body
			// just passed the check of the collection's kind.
			r.Header.Set("Content-Type", objectType(p.kind))
		}
		h.protocol(p.kind).ServeHTTP(w, r)
	case isPlainListing(r, p, body):
		h.propfindListing(w, r, p, body)
	case r.Method == "MKCALENDAR":
		h.mkcalendar(w, r, p, body)
	case r.Method == "PROPPATCH" && p.level == levelCollection:
		h.proppatch(w, r, p, body)
	case r.Method == "PROPFIND" && p.level <= levelCollection && asksOurProps(body):
		h.propfindWithSyncProps(w, r, p.kind, h.protocol(p.kind))
	default:
		h.protocol(p.kind).ServeHTTP(w, r)
	}
}

// objectType is the media type of one object of kind.
func objectType(kind store.DAVKind) string {
	if kind == store.DAVCards {
		return "text/vcard"
	}
	return "text/calendar"
}

// protocol is go-webdav's handler of kind.
func (h *Handler) protocol(kind store.DAVKind) http.Handler {
	if kind == store.DAVCards {
		return h.card
	}
	return h.cal
}

// login checks HTTP Basic credentials by the mail rules under the
// guard; it answers 401 itself and reports false when they fail.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) (store.Account, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" {
		unauthorized(w)
		return store.Account{}, false
	}
	ip := clientIP(r)
	var acct store.Account
	err := h.o.Guard.Login(r.Context(), ip, user, pass, func() error {
		var err error
		acct, err = h.o.Store.AuthenticateDevice(r.Context(), user, pass, store.LoginRecord{Protocol: "dav", Addr: ip.String()})
		return err
	})
	switch {
	case errors.Is(err, store.ErrAuthFailed):
		h.log.Info("dav login failed", "user", user, "ip", ip)
		unauthorized(w)
		return store.Account{}, false
	case err != nil:
		h.log.Error("dav login", "user", user, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return store.Account{}, false
	}
	return acct, true
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="boxmail", charset="UTF-8"`)
	http.Error(w, "Log in with your address and password (or an app password).", http.StatusUnauthorized)
}

func clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// readBody reads the request's body into memory, up to maxBody: a
// larger one is answered 413 here, before any parser sees it.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > maxBody {
		http.Error(w, "Too large: at most 1 MiB per contact or event.", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	var mbe *http.MaxBytesError
	switch {
	case len(b) > maxBody, errors.As(err, &mbe):
		http.Error(w, "Too large: at most 1 MiB per contact or event.", http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "The request could not be read.", http.StatusBadRequest)
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, true
}
