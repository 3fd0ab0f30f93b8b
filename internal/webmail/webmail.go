// Package webmail is boxmail's mail in a browser, mounted by internal/web
// at /mail/ on the HTTPS server: server-rendered html/template pages that
// work without JavaScript (folders with unread counts, a paged message
// list, the message view, flag/unread/move/delete, compose and reply)
// plus one small hand-written ES module (static/mail.js) that follows
// the store's change feed over Server-Sent Events (/mail/events).
//
// It is not a second login or session system: web's session (cookie,
// idle and absolute expiry, the account re-read on every request) and
// its login form (/login, two-step code, limits) are used through
// Options.Session and Options.LoginToken. It is not a second mail path
// either: reads and changes go through the store's API (moves through
// store.Copy, so moves into and out of Junk train the spam filter), and
// sending goes through delivery.Submit, which applies submission's From
// authorisation, signing and queueing.
//
// Security by construction:
//   - Message bodies are never part of the app's pages: they are
//     sanitised (sanitize.go: an allow-list walk over x/net/html and a
//     CSS filter) and served from their own route into a sandboxed
//     iframe under BodyCSP, which allows no script and no remote fetch.
//     Plain text is escaped, then linkified.
//   - The pages carry ShellCSP (scripts only from this site, no inline
//     script, not framable); every header shown is escaped by
//     html/template.
//   - State changes are POSTs that carry the session's CSRF token and
//     pass http.CrossOriginProtection; GET never changes state (a message
//     is marked read by a POST the module sends, or by a button).
//   - Every mailbox and message named by a request is checked to belong
//     to the session's account before anything is read or changed.
//   - MIME decoding is capped (parts, depth, bytes: mime.go).
//   - Attachments are downloads (attachment, nosniff, a safe type and a
//     sanitised name); only images and PDFs whose bytes agree are shown
//     inline, under BodyCSP (attach.go). Remote images are fetched only
//     on request, by the server's image proxy, which reaches public
//     addresses only (imageproxy.go).
//
// Settings (settings.go: filters and the vacation reply as rules of the
// account's Sieve script through admin.Service; the password through
// web's account page), the trust panel of a message (trust.go) and
// one-click unsubscribe (unsubscribe.go) are here too.
//
// Compose (compose.go, reply.go, build.go, draft.go, upload.go):
// reply, reply-all and forward (inline or as an attached message),
// attachments streamed to an upload area up to the box's message size,
// From limited to what delivery.MayUseSender allows with a display name
// and signature per address (store.Identity), drafts saved to Drafts
// (mail.js autosaves), past recipients offered in a datalist, and undo
// send: the message is held by delivery.Hold for Options.UndoHold and
// "Undo" takes it back with delivery.Cancel.
//
// Search, threads, folders, undo and "always do this" are in search.go,
// threads.go, folders.go, actions.go and rules.go.
//
// Not here yet (issue 19): contacts beyond recipient suggestions.
package webmail

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ShellCSP is the Content-Security-Policy of the app's own pages.
const ShellCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// BodyCSP is the Content-Security-Policy of a message body (issue 19):
// sandboxed without scripts, nothing fetched but data: images and inline
// styles, framable only by the app.
const BodyCSP = "sandbox allow-same-origin allow-popups; default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"

// Session is the logged-in account of a request, as web's session says.
type Session struct {
	AccountID int64
	Email     string
	CSRF      string // the session's token, posted by every form as csrf
}

// Sender submits a message as a logged-in account (delivery.Submit).
type Sender interface {
	Submit(ctx context.Context, s delivery.Submission) error
	MayUseSender(ctx context.Context, account, addr string) (bool, error)
	// Hold and Cancel are undo send (delivery/hold.go).
	Hold(ctx context.Context, s delivery.Submission, until time.Time) (int64, error)
	Cancel(ctx context.Context, account string, id int64) (delivery.Submission, error)
}

var _ Sender = (*delivery.Deliverer)(nil)

// Options configure a Server.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger
	// Session returns the request's logged-in account (web.Server.MailSession).
	Session func(r *http.Request) (Session, bool)
	// LoginToken sets web's login cookie and returns the token the login
	// form posts as csrf (web.Server.LoginToken).
	LoginToken func(w http.ResponseWriter) string
	// Sender submits composed messages; nil: no sending (compose answers
	// that it is off).
	Sender Sender
	// Now is the clock of dates shown; nil: time.Now.
	Now func() time.Time
	// ImageProxy configures the fetching of remote images a user chose
	// to see (imageproxy.go); the zero value is the production setting.
	ImageProxy ImageProxyOptions
	// Admin writes the settings page's filters and vacation reply
	// (settings.go); nil: the page shows them as off.
	Admin *admin.Service
	// Hostname is the box's name, the authserv-id of the
	// Authentication-Results it adds at delivery: the trust panel
	// (trust.go) believes only that one.
	Hostname string
	// MaxMessageBytes caps a composed message with its attachments (the
	// box's max_message_size); 0: DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// UploadDir keeps attachments while a message is written (upload.go);
	// "": a directory under the system's temporary directory.
	UploadDir string
	// UndoHold is how long a sent message is held so "Undo" can take it
	// back (delivery.Hold); 0: DefaultUndoHold; negative: sent at once.
	UndoHold time.Duration
}

// Defaults of Options.
const (
	DefaultMaxMessageBytes = 50 << 20
	DefaultUndoHold        = 10 * time.Second
)

// Server is the webmail's handler tree.
type Server struct {
	o       Options
	log     *slog.Logger
	tmpl    templates
	handler http.Handler
	done    chan struct{} // closed by Shutdown: event streams end
	once    sync.Once
	proxy   *imageProxy  // nil: remote images are off
	unsub   unsubscriber // one-click unsubscribe's client (unsubscribe.go)
}

// New builds the webmail.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.UploadDir == "" {
		o.UploadDir = filepath.Join(os.TempDir(), "boxmail-webmail-uploads")
	}
	if o.UndoHold == 0 {
		o.UndoHold = DefaultUndoHold
	}
	s := &Server{o: o, log: o.Logger, tmpl: parseTemplates(), done: make(chan struct{}), proxy: newImageProxy(o.ImageProxy)}
	cop := http.NewCrossOriginProtection()
	s.handler = cop.Handler(s.routes())
	return s
}

// ServeHTTP answers a request under /mail/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Shutdown ends the open event streams (web calls it when its server
// shuts down).
func (s *Server) Shutdown() { s.once.Do(func() { close(s.done) }) }

// handler is a page of a logged-in account.
type handler func(w http.ResponseWriter, r *http.Request, sess Session)

func (s *Server) routes() http.Handler {
	m := http.NewServeMux()
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // "static" is embedded: cannot happen
	}
	m.Handle("GET /mail/static/", http.StripPrefix("/mail/static/", http.FileServerFS(sub)))
	m.HandleFunc("GET /mail/{$}", s.user(s.inbox, false))
	m.HandleFunc("GET /mail/box/{box}", s.user(s.listPage, false))
	m.HandleFunc("GET /mail/msg/{box}/{uid}", s.user(s.messagePage, false))
	m.HandleFunc("GET /mail/body/{box}/{uid}", s.user(s.bodyPage, false))
	m.HandleFunc("POST /mail/act/{box}", s.user(s.act, true))
	// compose (wmcompose): forms that may carry files check their csrf
	// themselves while reading the stream (upload.go readForm).
	m.HandleFunc("GET /mail/compose", s.user(s.composePage, false))
	m.HandleFunc("POST /mail/send", s.user(s.send, false))
	m.HandleFunc("POST /mail/draft", s.user(s.saveDraft, false))
	m.HandleFunc("POST /mail/upload", s.user(s.upload, false))
	m.HandleFunc("GET /mail/sent", s.user(s.sentPage, false))
	m.HandleFunc("POST /mail/undo", s.user(s.undo, true))
	m.HandleFunc("GET /mail/recipients", s.user(s.recipientsJSON, false))
	m.HandleFunc("GET /mail/events", s.user(s.events, false))
	// read side: attachments, images (wmread)
	m.HandleFunc("GET /mail/att/{box}/{uid}/{n}", s.user(s.attachmentDownload, false))
	m.HandleFunc("GET /mail/view/{box}/{uid}/{n}", s.user(s.attachmentView, false))
	m.HandleFunc("GET /mail/zip/{box}/{uid}", s.user(s.attachmentsZip, false))
	m.HandleFunc("GET /mail/eml/{box}/{uid}", s.user(s.messageEML, false))
	m.HandleFunc("GET /mail/print/{box}/{uid}", s.user(s.printPage, false))
	m.HandleFunc("POST /mail/images/{box}/{uid}", s.user(s.imagesChoice, true))
	m.HandleFunc("GET "+imageProxyPath, s.user(s.imageProxyPage, false))
	// settings, trust, unsubscribe (wmsettings)
	m.HandleFunc("GET /mail/settings", s.user(s.settingsPage, false))
	m.HandleFunc("POST /mail/settings/filter", s.user(s.filterPost, true))
	m.HandleFunc("POST /mail/settings/vacation", s.user(s.vacationPost, true))
	m.HandleFunc("POST /mail/settings/identity", s.user(s.identityPost, true))
	m.HandleFunc("POST /mail/unsubscribe/{box}/{uid}", s.user(s.unsubscribe, true))
	// list, search, folders (wmorg)
	m.HandleFunc("GET /mail/search", s.user(s.searchPage, false))
	m.HandleFunc("GET /mail/folders", s.user(s.foldersPage, false))
	m.HandleFunc("POST /mail/folders", s.user(s.folderAct, true))
	m.HandleFunc("POST /mail/rule", s.user(s.addRule, true))
	m.HandleFunc("/mail/", func(w http.ResponseWriter, r *http.Request) {
		shellHeaders(w)
		http.Error(w, "There is no such page in the webmail.", http.StatusNotFound)
	})
	return m
}

// shellHeaders sets the headers of the app's own pages.
func shellHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", ShellCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
}

// user requires a session; a change (POST) also its CSRF token. Without
// a session the login form is shown on GET /mail/, and other pages send
// the browser there.
func (s *Server) user(h handler, changes bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		shellHeaders(w)
		sess, ok := s.o.Session(r)
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path == "/mail/" {
				s.loginPage(w, r)
				return
			}
			if r.Method == http.MethodGet && r.URL.Path != "/mail/events" {
				http.Redirect(w, r, "/mail/", http.StatusSeeOther)
				return
			}
			http.Error(w, "You are not logged in (any more); log in again.", http.StatusUnauthorized)
			return
		}
		if changes && !validCSRF(sess, r.PostFormValue("csrf")) {
			http.Error(w, "This form has expired or did not come from this site; go back, reload the page and try again.", http.StatusForbidden)
			return
		}
		h(w, r, sess)
	}
}

// errNotYours is what a request naming another account's mailbox or
// message gets: the same answer as for one that does not exist.
var errNotYours = errors.New("no such mailbox or message")

// fail answers an error: not found for missing or foreign mailboxes and
// messages, a generic 500 (logged) for the rest.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess Session, err error) {
	if errors.Is(err, errNotYours) || errors.Is(err, store.ErrNotFound) {
		http.Error(w, "There is no such mailbox or message.", http.StatusNotFound)
		return
	}
	s.log.Error("webmail request failed", "method", r.Method, "path", r.URL.Path, "user", sess.Email, "err", err)
	http.Error(w, "Something went wrong on the server; the administrator can find the details in its log.", http.StatusInternalServerError)
}
