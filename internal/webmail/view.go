package webmail

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"boxmail/internal/store"
)

// maxViewBytes is the largest message the view decodes; a bigger one is
// shown by its header only.
const maxViewBytes = 64 << 20

type messageData struct {
	Box         folder
	UID         uint32
	Env         envelope
	Date        string
	Unread      bool
	Flagged     bool
	Attachments []attachment
	Truncated   bool
	Cut         bool // a long text part is shown in part: the page links the .eml
	TooLarge    bool
	Targets     []folder
	InboxUnread uint32
	ModSeq      int64
	// Remote images: how many the body has that are not shown, whether
	// they are shown (once or always) and always for this sender.
	RemoteImages int
	ImagesShown  bool
	ImagesAlways bool
	BodyQuery    string     // "?images=1" when the frame shows them
	Trust        trustPanel // trust.html (wmsettings)
}

// message loads the message the request names ({box}, {uid}), checked
// to be the account's; part as store.LoadMessages. The pages ask for
// store.BodyStream: a small message comes whole, a large one (a body
// file or a shared blob) with only its header, to be walked as a stream
// (content).
func (s *Server) message(r *http.Request, sess Session, part store.BodyPart) (store.Mailbox, store.LoadedMessage, error) {
	mb, err := s.mailbox(r, sess.AccountID, r.PathValue("box"))
	if err != nil {
		return mb, store.LoadedMessage{}, err
	}
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	if err != nil || uid == 0 {
		return mb, store.LoadedMessage{}, errNotYours
	}
	ms, err := s.o.Store.LoadMessages(r.Context(), mb.ID, []uint32{uint32(uid)}, store.BodyNone)
	if err != nil {
		return mb, store.LoadedMessage{}, err
	}
	if len(ms) != 1 {
		return mb, store.LoadedMessage{}, errNotYours
	}
	if (part == store.BodyFull || part == store.BodyStream) && ms[0].Size > maxViewBytes {
		part = store.BodyHeader
	}
	if part == store.BodyNone {
		return mb, ms[0], nil
	}
	ms, err = s.o.Store.LoadMessages(r.Context(), mb.ID, []uint32{uint32(uid)}, part)
	if err != nil {
		return mb, store.LoadedMessage{}, err
	}
	if len(ms) != 1 {
		return mb, store.LoadedMessage{}, errNotYours
	}
	return mb, ms[0], nil
}

// content is what the pages show of m, loaded with store.BodyStream:
// parsed from its bytes when they are loaded (a small message), else
// walked as a stream from the store (streamContent), so that the page of
// a 40 MiB message holds a buffer of it and its first MiB of text, not
// all of it. A message over maxViewBytes has no content.
func (s *Server) content(ctx context.Context, m store.LoadedMessage) (content, error) {
	if m.Size > maxViewBytes {
		return content{}, nil
	}
	if !m.Streamed {
		return parseContent(m.Data), nil
	}
	body, _, err := s.o.Store.OpenBody(ctx, m.BodyID)
	if err != nil {
		return content{}, err
	}
	defer func() { _ = body.Close() }() // only read
	return streamContent(body), nil
}

// messagePage shows a message: its header (escaped), actions, the
// attachments' names and the body in a sandboxed iframe. Opening it
// changes nothing: "mark read" is a POST (sent by mail.js, or the button).
func (s *Server) messagePage(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, m, err := s.message(r, sess, store.BodyStream)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	env := parseEnvelope(m.Data)
	d := messageData{UID: m.UID, Env: env, Unread: m.Flags&store.FlagSeen == 0, Flagged: m.Flags&store.FlagFlagged != 0,
		TooLarge: m.Size > maxViewBytes, ModSeq: mb.ModSeq}
	date := env.Date
	if date.IsZero() {
		date = m.InternalDate
	}
	d.Date = date.In(s.o.Now().Location()).Format("Mon, 2 Jan 2006 15:04")
	if !d.TooLarge {
		c, err := s.content(r.Context(), m)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		d.Attachments, d.Truncated, d.Cut = c.Attachments, c.Truncated, c.Cut
		s.imageChoices(r, sess, env, c, &d)
	}
	d.Trust = s.trustPanel(r.Context(), sess, mb.ID, m)
	fs, err := s.folders(r.Context(), sess.AccountID, mb.ID)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	for _, f := range fs {
		if f.ID == mb.ID {
			d.Box = f
		} else {
			d.Targets = append(d.Targets, f)
		}
		if f.Name == "INBOX" {
			d.InboxUnread = f.Unread
		}
	}
	title := env.Subject
	if title == "" {
		title = "(no subject)"
	}
	s.render(w, r, http.StatusOK, "message", page{Title: title, Email: sess.Email, CSRF: sess.CSRF, Folders: fs, Data: d})
}

// bodyPage is a message's body for the iframe: sanitised HTML, or the
// text escaped and linkified, under BodyCSP (or imagesCSP when remote
// images are shown, through the proxy only).
func (s *Server) bodyPage(w http.ResponseWriter, r *http.Request, sess Session) {
	_, m, err := s.message(r, sess, store.BodyStream)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	c, err := s.content(r.Context(), m)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	inner, csp := s.bodyHTML(r, sess, m, parseEnvelope(m.Data), c)
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0;padding:12px;font:15px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}</style></head><body>`)
	b.WriteString(inner)
	b.WriteString(`</body></html>`)
	_, _ = w.Write([]byte(b.String())) // a write error means the client left
}

// bodyHTML is a message's body (its content c) made safe (sanitised
// HTML with its cid: images inlined, or escaped text) and the CSP to
// serve it under.
func (s *Server) bodyHTML(r *http.Request, sess Session, m store.LoadedMessage, env envelope, c content) (string, string) {
	if m.Size > maxViewBytes {
		return textToHTML("This message is too large to show here; open it in a mail program."), BodyCSP
	}
	if c.HTML == "" {
		return textToHTML(c.Text), BodyCSP
	}
	pol, csp := s.imagePolicyFor(r, sess, env, c)
	return sanitizeWith(c.HTML, pol), csp
}

// imagePolicyFor is the image policy of a body and its CSP: inline
// (cid:) images always; remote images through the proxy when asked for
// (?images=1) or the sender is trusted for images, else none.
func (s *Server) imagePolicyFor(r *http.Request, sess Session, env envelope, c content) (*imagePolicy, string) {
	cids := cidImages(c)
	pol := &imagePolicy{cid: func(id string) (string, bool) { d, ok := cids[id]; return d, ok }}
	if !s.imagesOn(r, sess, env.FromAddr) {
		return pol, BodyCSP
	}
	csp, ok := imagesCSP(r)
	if !ok {
		return pol, BodyCSP
	}
	pol.remote = func(u string) (string, bool) { return proxyPath(u), true }
	return pol, csp
}

// imagesOn reports whether remote images are shown for this request:
// asked for once (?images=1) or always for this sender.
func (s *Server) imagesOn(r *http.Request, sess Session, from string) bool {
	if s.proxy == nil {
		return false
	}
	return r.URL.Query().Get("images") == "1" || s.imagesAlways(r, sess, from)
}

// imagesAlways reports whether the account always shows images from
// this sender.
func (s *Server) imagesAlways(r *http.Request, sess Session, from string) bool {
	ok, err := s.o.Store.ImagesAllowedFrom(r.Context(), sess.AccountID, from)
	if err != nil {
		s.log.Error("webmail image preference", "user", sess.Email, "err", err)
	}
	return ok
}

// imagesCSP is BodyCSP that also lets images come from this site's image
// proxy path, and from nowhere else.
func imagesCSP(r *http.Request) (string, bool) {
	host := r.Host
	if host == "" || len(host) > 255 || strings.ContainsFunc(host, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c))
	}) {
		return "", false
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return strings.Replace(BodyCSP, "img-src data:", "img-src data: "+scheme+"://"+host+imageProxyPath, 1), true
}

// imageChoices fills in the message view's remote image state.
func (s *Server) imageChoices(r *http.Request, sess Session, env envelope, c content, d *messageData) {
	if c.HTML == "" || s.proxy == nil {
		return
	}
	d.ImagesAlways = env.FromAddr != "" && s.imagesAlways(r, sess, env.FromAddr)
	d.ImagesShown = d.ImagesAlways || r.URL.Query().Get("images") == "1"
	if d.ImagesShown {
		d.BodyQuery = "?images=1"
		return
	}
	pol := &imagePolicy{}
	sanitizeWith(c.HTML, pol)
	d.RemoteImages = pol.blocked
}
