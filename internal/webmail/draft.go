package webmail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// Drafts live in the Drafts special-use mailbox with \Draft. Saving
// (POST /mail/draft: the Save button, or mail.js every 20 s) appends the
// new version and then expunges the one it replaces (draft_uid), so a
// failure between the two leaves two versions, never none. Opening a
// draft (compose?mode=draft) continues it: its fields, text and files
// come back, and the next save or the send replaces it.

// parts of a message: the first plain text that is not an attachment,
// and the attachments (message/rfc822 ones kept whole).
type parts struct {
	text  string
	files []file
}

// splitParts walks a message within the view's caps.
func splitParts(msg []byte) parts {
	var p parts
	hdr, body := mailmsg.Split(msg)
	n := 0
	p.walk(headerGetter(hdr), body, 0, &n)
	return p
}

func (p *parts) walk(get func(string) string, body []byte, depth int, n *int) {
	if *n >= maxParts || depth > maxDepth {
		return
	}
	*n++
	h := readPartHeader(get)
	w := &walker{}
	switch {
	case strings.HasPrefix(h.mediaType, "multipart/") && h.typeParams["boundary"] != "":
		mr := multipart.NewReader(bytes.NewReader(body), h.typeParams["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				return
			}
			b, err := io.ReadAll(part)
			if err != nil {
				return
			}
			p.walk(part.Header.Get, b, depth+1, n)
		}
	case h.mediaType == "message/rfc822" || h.disposition == "attachment" || (h.filename != "" && !strings.HasPrefix(h.mediaType, "text/")):
		name := h.filename
		if name == "" && h.mediaType == "message/rfc822" {
			name = "message.eml"
		}
		p.files = append(p.files, file{Name: name, Type: h.mediaType, Data: w.decodeBytes(h.encoding, body)})
	case h.mediaType == "text/plain" && p.text == "":
		p.text, _ = w.decode(h, body)
	}
}

// addFilesOf puts the attachments of msg in the upload area and on d.
func (s *Server) addFilesOf(sess Session, d *composeData, msg []byte) error {
	for _, f := range splitParts(msg).files {
		u, err := s.storeUpload(sess.AccountID, f.Name, f.Type, bytes.NewReader(f.Data), s.o.MaxMessageBytes)
		if err != nil {
			return err
		}
		d.Files = append(d.Files, u)
	}
	return nil
}

// fillDraft continues a draft (or, outside Drafts, edits a copy of the
// message as a new one).
func (s *Server) fillDraft(ctx context.Context, sess Session, d *composeData, mb store.Mailbox, m store.LoadedMessage) error {
	hdr, _ := mailmsg.Split(m.Data)
	field := func(name string) string {
		if f, ok := mailmsg.Lookup(hdr, name); ok {
			return fieldText(f.Value)
		}
		return ""
	}
	list := func(name, raw string) string {
		if v := field(raw); v != "" {
			return v
		}
		if f, ok := mailmsg.Lookup(hdr, name); ok {
			if l, err := addrParser.ParseList(string(mailmsg.Unfold(f.Value))); err == nil {
				return typedList(l)
			}
		}
		return ""
	}
	d.To, d.Cc, d.Bcc = list("To", "X-Boxmail-Draft-To"), list("Cc", "X-Boxmail-Draft-Cc"), list("Bcc", "")
	d.Subject = field("Subject")
	o := readOriginal(hdr)
	if len(o.From) > 0 {
		for _, f := range d.Froms {
			if strings.EqualFold(f.Address, o.From[0].Address) {
				d.From = f.Address
			}
		}
	}
	if f, ok := mailmsg.Lookup(hdr, "In-Reply-To"); ok {
		d.InReplyTo = strings.TrimSpace(string(mailmsg.Unfold(f.Value)))
		d.Refs = o.Refs
	}
	p := splitParts(m.Data)
	d.Body = strings.TrimSuffix(strings.ReplaceAll(p.text, "\r\n", "\n"), "\n") // build adds a line end
	if drafts, err := s.special(ctx, sess.AccountID, `\Drafts`, "Drafts"); err == nil && drafts.ID == mb.ID {
		d.DraftUID = strconv.FormatUint(uint64(m.UID), 10)
	}
	return s.addFilesOf(sess, d, m.Data)
}

// appendDraft stores a draft version in Drafts (created if missing).
func (s *Server) appendDraft(ctx context.Context, sess Session, msg []byte) (store.Mailbox, uint32, error) {
	drafts, err := s.special(ctx, sess.AccountID, `\Drafts`, "Drafts")
	if err != nil {
		return drafts, 0, err
	}
	if drafts.ID == 0 {
		if err := s.o.Store.CreateMailbox(ctx, sess.AccountID, "Drafts", `\Drafts`); err != nil && !errors.Is(err, store.ErrExists) {
			return drafts, 0, err
		}
		if drafts, err = s.special(ctx, sess.AccountID, `\Drafts`, "Drafts"); err != nil {
			return drafts, 0, err
		}
	}
	uid, _, err := s.o.Store.Append(ctx, sess.AccountID, drafts.Name, msg, store.FlagDraft|store.FlagSeen, nil, s.o.Now())
	return drafts, uid, err
}

// removeDraft expunges a replaced draft version from Drafts.
func (s *Server) removeDraft(ctx context.Context, sess Session, uidText string) {
	uid, _ := strconv.ParseUint(uidText, 10, 32)
	if uid == 0 {
		return
	}
	drafts, err := s.special(ctx, sess.AccountID, `\Drafts`, "Drafts")
	if err != nil || drafts.ID == 0 {
		return
	}
	st := s.o.Store
	if _, err = st.UpdateFlags(ctx, sess.AccountID, drafts.ID, []uint32{uint32(uid)}, store.FlagsAdd, store.FlagDeleted, nil); err == nil {
		_, err = st.Expunge(ctx, sess.AccountID, drafts.ID, []uint32{uint32(uid)})
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("webmail: removing an old draft", "user", sess.Email, "err", err)
	}
}

// saveDraft is POST /mail/draft: the form as a draft. mail.js asks for
// JSON ({"box", "uid"}: the version the next save replaces); a form post
// is sent back to the compose page of the saved draft.
func (s *Server) saveDraft(w http.ResponseWriter, r *http.Request, sess Session) {
	f, err := s.readForm(w, r, sess)
	if err != nil {
		s.formError(w, r, sess, err)
		return
	}
	ctx := r.Context()
	d, out, _, err := s.compose(ctx, sess, f, true)
	var p *errProblem
	if errors.As(err, &p) {
		if wantsJSON(r) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": p.msg})
			return
		}
		s.renderCompose(w, r, sess, http.StatusBadRequest, d, p.msg)
		return
	} else if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	drafts, uid, err := s.appendDraft(ctx, sess, out.build())
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if d.DraftUID != strconv.FormatUint(uint64(uid), 10) {
		s.removeDraft(ctx, sess, d.DraftUID)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"box": drafts.ID, "uid": uid, "files": d.Files})
		return
	}
	for _, u := range d.Files {
		s.removeUpload(sess.AccountID, u.ID) // the compose page takes them from the draft again
	}
	http.Redirect(w, r, "/mail/compose?mode=draft&box="+strconv.FormatInt(drafts.ID, 10)+"&uid="+strconv.FormatUint(uint64(uid), 10), http.StatusSeeOther)
}
