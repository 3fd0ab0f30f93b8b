package webmail

import (
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
	TooLarge    bool
	Targets     []folder
	InboxUnread uint32
	ModSeq      int64
	Trust       trustPanel // trust.html (wmsettings)
}

// message loads the message the request names ({box}, {uid}), checked
// to be the account's; part as store.LoadMessages.
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
	if part == store.BodyFull && ms[0].Size > maxViewBytes {
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

// messagePage shows a message: its header (escaped), actions, the
// attachments' names and the body in a sandboxed iframe. Opening it
// changes nothing: "mark read" is a POST (sent by mail.js, or the button).
func (s *Server) messagePage(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, m, err := s.message(r, sess, store.BodyFull)
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
		c := parseContent(m.Data)
		d.Attachments, d.Truncated = c.Attachments, c.Truncated
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
// text escaped and linkified, under BodyCSP.
func (s *Server) bodyPage(w http.ResponseWriter, r *http.Request, sess Session) {
	_, m, err := s.message(r, sess, store.BodyFull)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var inner string
	if m.Size > maxViewBytes {
		inner = textToHTML("This message is too large to show here; open it in a mail program.")
	} else {
		c := parseContent(m.Data)
		if c.HTML != "" {
			inner = Sanitize(c.HTML)
		} else {
			inner = textToHTML(c.Text)
		}
	}
	h := w.Header()
	h.Set("Content-Security-Policy", BodyCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0;padding:12px;font:15px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}</style></head><body>`)
	b.WriteString(inner)
	b.WriteString(`</body></html>`)
	_, _ = w.Write([]byte(b.String())) // a write error means the client left
}
