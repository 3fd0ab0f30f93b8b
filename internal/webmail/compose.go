package webmail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// Compose: new messages, replies (to the sender or to all), forwards
// (inline or as an attached message/rfc822), drafts (draft.go) and
// attachments (upload.go). Sending goes through delivery: with an undo
// hold (Options.UndoHold) the message is checked and held by
// delivery.Hold, and "Undo" within the hold takes it back
// (delivery.Cancel) and reopens it as a draft; the copy in Sent is made
// at once and removed on undo.

// identity is a From address offered, with its display name and
// signature (store.Identity).
type identity struct {
	Address, Name, Signature string
}

type composeData struct {
	Froms              []identity
	From               string
	To, Cc, Bcc        string
	Subject, Body      string
	InReplyTo, Refs    string
	ReplyBox, ReplyUID string
	DraftUID           string // the draft in Drafts this message replaces
	Files              []upload
	Past               []string // past recipients, for the datalist
	MaxSize            string
	Off                bool // no sending configured
	// After a send with a hold: the held id, the copy in Sent, seconds.
	Held     int64
	SentUID  uint32
	HoldSecs int
}

// fromAddresses are the addresses the account may write as: its own and
// the aliases whose permit list names it (checked by MayUseSender, as
// submission checks them).
func (s *Server) fromAddresses(ctx context.Context, email string) ([]string, error) {
	out := []string{email}
	if s.o.Sender == nil {
		return out, nil
	}
	aliases, err := s.o.Store.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range aliases {
		if strings.HasPrefix(a.Address, "@") || !slices.Contains(a.Permit, email) || a.Address == email {
			continue
		}
		if ok, err := s.o.Sender.MayUseSender(ctx, email, a.Address); err != nil {
			return nil, err
		} else if ok {
			out = append(out, a.Address)
		}
	}
	return out, nil
}

// identities are the From choices with their names and signatures.
func (s *Server) identities(ctx context.Context, sess Session) ([]identity, error) {
	addrs, err := s.fromAddresses(ctx, sess.Email)
	if err != nil {
		return nil, err
	}
	stored, err := s.o.Store.Identities(ctx, sess.AccountID)
	if err != nil {
		return nil, err
	}
	out := make([]identity, 0, len(addrs))
	for _, a := range addrs {
		id := identity{Address: a}
		for _, st := range stored {
			if strings.EqualFold(st.Address, a) {
				id.Name, id.Signature = st.Name, st.Signature
			}
		}
		out = append(out, id)
	}
	return out, nil
}

// myAddresses says whether an address is the user's: their own, one
// they may send as, or an alias that delivers to them (reply-all leaves
// these out).
func (s *Server) myAddresses(ctx context.Context, sess Session, froms []identity) (func(string) bool, error) {
	mine := map[string]bool{strings.ToLower(sess.Email): true}
	for _, f := range froms {
		mine[strings.ToLower(f.Address)] = true
	}
	aliases, err := s.o.Store.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range aliases {
		if !strings.HasPrefix(a.Address, "@") && slices.ContainsFunc(a.Targets, func(t string) bool { return strings.EqualFold(t, sess.Email) }) {
			mine[strings.ToLower(a.Address)] = true
		}
	}
	return func(addr string) bool { return mine[strings.ToLower(addr)] }, nil
}

func signature(froms []identity, from string) string {
	for _, f := range froms {
		if f.Address == from && f.Signature != "" {
			return "\n\n-- \n" + f.Signature + "\n"
		}
	}
	return ""
}

// composePage is the form: a new message, or from ?box=&uid= a reply
// (mode=reply, all), a forward (forward, attach) or a draft (draft).
func (s *Server) composePage(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	froms, err := s.identities(ctx, sess)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := composeData{Froms: froms, From: sess.Email}
	q := r.URL.Query()
	if q.Get("box") != "" {
		r.SetPathValue("box", q.Get("box"))
		r.SetPathValue("uid", q.Get("uid"))
		// A reply quotes, and a forward as an attachment copies, a large
		// message as a stream; a forward inline and an edited draft copy
		// its attachments one by one from its bytes (splitParts).
		part := store.BodyStream
		if mode := q.Get("mode"); mode == "forward" || mode == "draft" {
			part = store.BodyFull
		}
		mb, m, err := s.message(r, sess, part)
		if err == nil {
			err = s.fillFrom(ctx, sess, &d, q.Get("mode"), mb, m)
		}
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
	} else {
		d.Body = signature(froms, d.From)
	}
	s.renderCompose(w, r, sess, http.StatusOK, d, "")
}

// renderCompose shows the compose page with the lists it needs.
func (s *Server) renderCompose(w http.ResponseWriter, r *http.Request, sess Session, status int, d composeData, note string) {
	ctx := r.Context()
	var err error
	if d.Froms == nil {
		if d.Froms, err = s.identities(ctx, sess); err != nil {
			s.fail(w, r, sess, err)
			return
		}
	}
	if d.Past, err = s.o.Store.PastRecipients(ctx, sess.AccountID, 200); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d.Off, d.MaxSize = s.o.Sender == nil, sizeText(s.o.MaxMessageBytes)
	fs, err := s.folders(ctx, sess.AccountID, 0)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.render(w, r, status, "compose", page{Title: "Write", Email: sess.Email, CSRF: sess.CSRF, Folders: fs, Data: d, Note: note})
}

// fillFrom prepares a reply, forward or draft of m (its header only
// when it is streamed: store.BodyStream).
func (s *Server) fillFrom(ctx context.Context, sess Session, d *composeData, mode string, mb store.Mailbox, m store.LoadedMessage) error {
	hdr, _ := mailmsg.Split(m.Data)
	o := readOriginal(hdr)
	c, err := s.content(ctx, m)
	if err != nil {
		return err
	}
	text := c.Text
	if text == "" && c.HTML != "" {
		text = htmlText(c.HTML) // quoted as plain text
	}
	switch mode {
	case "draft":
		return s.fillDraft(ctx, sess, d, mb, m)
	case "forward", "attach":
		d.Subject = forwardSubject(o.Subject)
		d.Body = signature(d.Froms, d.From)
		if mode == "forward" {
			d.Body += forwarded(o, text)
			return s.addFilesOf(sess, d, m.Data)
		}
		name := fileName(o.Subject)
		if o.Subject == "" {
			name = "message"
		}
		var eml io.Reader = bytes.NewReader(m.Data)
		if m.Streamed {
			body, _, err := s.o.Store.OpenBody(ctx, m.BodyID)
			if err != nil {
				return err
			}
			defer func() { _ = body.Close() }() // only read
			eml = body
		}
		u, err := s.storeUpload(sess.AccountID, name+".eml", "message/rfc822", eml, s.o.MaxMessageBytes)
		if err != nil {
			return err
		}
		d.Files = append(d.Files, u)
		return nil
	}
	mine, err := s.myAddresses(ctx, sess, d.Froms)
	if err != nil {
		return err
	}
	to, cc := replyRecipients(o, mine, mode == "all")
	d.To, d.Cc = typedList(to), typedList(cc)
	d.Subject = replySubject(o.Subject)
	d.InReplyTo, d.Refs = threading(o)
	d.ReplyBox, d.ReplyUID = strconv.FormatInt(mb.ID, 10), strconv.FormatUint(uint64(m.UID), 10)
	// Answer as the address the message came to, when it is one of ours.
	for _, a := range append(slices.Clone(o.To), o.Cc...) {
		if i := slices.IndexFunc(d.Froms, func(f identity) bool { return strings.EqualFold(f.Address, a.Address) }); i >= 0 {
			d.From = d.Froms[i].Address
			break
		}
	}
	d.Body = signature(d.Froms, d.From) + quote(o, text)
	return nil
}

// typedList is an address list as the user would type it.
func typedList(l []*mail.Address) string {
	parts := make([]string, len(l))
	for i, a := range l {
		parts[i] = displayAddress(a)
	}
	return strings.Join(parts, ", ")
}

// formData reads the compose fields of a form.
func formData(f form) composeData {
	return composeData{From: f.Get("from"), To: f.Get("to"), Cc: f.Get("cc"), Bcc: f.Get("bcc"), Subject: f.Get("subject"), Body: f.Get("body"),
		InReplyTo: f.Get("in_reply_to"), Refs: f.Get("references"), ReplyBox: f.Get("reply_box"), ReplyUID: f.Get("reply_uid"), DraftUID: f.Get("draft_uid")}
}

// compose turns a posted form into a message. A draft keeps address
// fields that do not parse (as text) instead of refusing them.
func (s *Server) compose(ctx context.Context, sess Session, f form, draft bool) (composeData, outgoing, []string, error) {
	d := formData(f)
	froms, err := s.identities(ctx, sess)
	if err != nil {
		return d, outgoing{}, nil, err
	}
	d.Froms = froms
	for _, id := range f.Values["att"] {
		u, err := s.uploadInfo(sess.AccountID, id)
		if err != nil {
			continue // removed meanwhile (or not the account's)
		}
		d.Files = append(d.Files, u)
	}
	d.Files = append(d.Files, f.files...)
	out := outgoing{Date: s.o.Now(), Text: d.Body, InReplyTo: d.InReplyTo, Refs: d.Refs, Draft: draft}
	i := slices.IndexFunc(froms, func(id identity) bool { return id.Address == d.From })
	if i < 0 {
		return d, out, nil, problem("You may not send as that address.")
	}
	out.From = &mail.Address{Name: froms[i].Name, Address: froms[i].Address}
	if out.Subject, err = cleanSubject(d.Subject); err != nil {
		return d, out, nil, err
	}
	rcpts, err := s.recipients(&out, d, draft)
	if err != nil {
		return d, out, nil, err
	}
	var total int64
	for _, u := range d.Files {
		_, data, err := s.loadUpload(sess.AccountID, u.ID)
		if err != nil {
			return d, out, nil, err
		}
		total += int64(len(data))
		out.Files = append(out.Files, file{Name: u.Name, Type: u.Type, Data: data})
	}
	if total > s.o.MaxMessageBytes {
		return d, out, nil, problem("The attachments are too big: this box takes messages up to %s.", sizeText(s.o.MaxMessageBytes))
	}
	return d, out, rcpts, nil
}

// recipients parses To, Cc and Bcc into out and returns the envelope
// recipients.
func (s *Server) recipients(out *outgoing, d composeData, draft bool) ([]string, error) {
	fields := []struct {
		name, v string
		dst     *[]*mail.Address
		raw     *string
	}{{"To", d.To, &out.To, &out.RawTo}, {"Cc", d.Cc, &out.Cc, &out.RawCc}, {"Bcc", d.Bcc, &out.Bcc, nil}}
	var rcpts []string
	for _, f := range fields {
		if strings.ContainsAny(f.v, "\r\n\x00") {
			return nil, problem("%s may not contain line breaks.", f.name)
		}
		l, err := parseRecipients(f.v)
		switch {
		case err != nil && draft && f.raw != nil:
			*f.raw = strings.Join(strings.Fields(f.v), " ")
		case err != nil && draft:
		case err != nil:
			return nil, problem("An address in %s is not valid.", f.name)
		}
		*f.dst = l
		for _, a := range l {
			if !slices.Contains(rcpts, a.Address) {
				rcpts = append(rcpts, a.Address)
			}
		}
	}
	if len(rcpts) > maxRecipients {
		return nil, problem("At most %d recipients.", maxRecipients)
	}
	if len(out.To)+len(out.Cc)+len(out.Bcc) == 0 && !draft {
		return nil, problem("Write at least one valid address in To.")
	}
	return rcpts, nil
}

// send is POST /mail/send: the message is built here, submitted (held
// for undo) through delivery, a copy appended to Sent, the draft it came
// from removed.
func (s *Server) send(w http.ResponseWriter, r *http.Request, sess Session) {
	f, err := s.readForm(w, r, sess)
	if err != nil {
		s.formError(w, r, sess, err)
		return
	}
	if s.o.Sender == nil {
		http.Error(w, "Sending is not set up on this box.", http.StatusServiceUnavailable)
		return
	}
	ctx := r.Context()
	d, out, rcpts, err := s.compose(ctx, sess, f, false)
	var msg []byte
	var held int64
	if err == nil {
		msg = out.build()
		if int64(len(msg)) > s.o.MaxMessageBytes {
			err = problem("The message with its attachments is %s, over this box's limit of %s.", sizeText(int64(len(msg))), sizeText(s.o.MaxMessageBytes))
		} else {
			held, err = s.submit(r, sess, out.From.Address, rcpts, msg)
		}
	}
	var p *errProblem
	if errors.As(err, &p) {
		s.renderCompose(w, r, sess, http.StatusBadRequest, d, p.msg)
		return
	} else if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	sentUID := s.afterSend(ctx, sess, d, withBcc(msg, out.Bcc))
	for _, u := range d.Files {
		s.removeUpload(sess.AccountID, u.ID)
	}
	if held == 0 {
		http.Redirect(w, r, "/mail/?note=sent", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/mail/sent?held="+strconv.FormatInt(held, 10)+"&uid="+strconv.FormatUint(uint64(sentUID), 10), http.StatusSeeOther)
}

// withBcc is the Sent copy: the message with its Bcc field.
func withBcc(msg []byte, bcc []*mail.Address) []byte {
	if len(bcc) == 0 {
		return msg
	}
	return append([]byte("Bcc: "+addressList(bcc)+"\r\n"), msg...)
}

// submit hands the message to delivery, held for Options.UndoHold when
// set (the held id is returned; 0 when sent at once). A problem the user
// can fix is an *errProblem.
func (s *Server) submit(r *http.Request, sess Session, from string, rcpts []string, msg []byte) (int64, error) {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	sub := delivery.Submission{Account: sess.Email, From: from, To: rcpts, Data: msg, Client: ap.Addr().Unmap(), Via: "webmail"}
	var held int64
	var err error
	if s.o.UndoHold > 0 {
		held, err = s.o.Sender.Hold(r.Context(), sub, s.o.Now().Add(s.o.UndoHold))
	} else {
		err = s.o.Sender.Submit(r.Context(), sub)
	}
	switch {
	case err == nil:
		s.log.Info("webmail sent", "user", sess.Email, "recipients", len(rcpts), "size", len(msg), "held_id", held)
		return held, nil
	case errors.Is(err, delivery.ErrSenderNotPermitted):
		return 0, problem("You may not send as that address.")
	case errors.Is(err, delivery.ErrUnknownRecipient):
		return 0, problem("A recipient in this box's domains does not exist: %s", recipientOf(err))
	case errors.Is(err, delivery.ErrBadAddress), errors.Is(err, delivery.ErrBadMessage):
		return 0, problem("An address is not valid: %s", recipientOf(err))
	case errors.Is(err, delivery.ErrOverQuota):
		return 0, problem("A recipient's mailbox is full; try later.")
	case errors.Is(err, store.ErrDiskFull):
		return 0, problem("The server is out of disk space; try later.")
	}
	return 0, err
}

// recipientOf is the <address> an error from Submit names, "" if none.
func recipientOf(err error) string {
	m := err.Error()
	i, j := strings.IndexByte(m, '<'), strings.IndexByte(m, '>')
	if i < 0 || j < i {
		return ""
	}
	return m[i : j+1]
}

// afterSend keeps a copy in Sent (its UID is returned, 0 if none), marks
// the message replied to and removes the draft; a failure is logged
// (the message is on its way already).
func (s *Server) afterSend(ctx context.Context, sess Session, d composeData, msg []byte) uint32 {
	var uid uint32
	sent, err := s.special(ctx, sess.AccountID, `\Sent`, "Sent")
	if err == nil && sent.ID != 0 {
		uid, _, err = s.o.Store.Append(ctx, sess.AccountID, sent.Name, msg, store.FlagSeen, nil, s.o.Now())
	}
	if err != nil {
		s.log.Error("webmail: keeping a copy in Sent", "user", sess.Email, "err", err)
	}
	s.removeDraft(ctx, sess, d.DraftUID)
	box, _ := strconv.ParseInt(d.ReplyBox, 10, 64)
	ruid, _ := strconv.ParseUint(d.ReplyUID, 10, 32)
	if box <= 0 || ruid == 0 {
		return uid
	}
	mb, err := s.o.Store.MailboxByID(ctx, sess.AccountID, box)
	if err == nil {
		_, err = s.o.Store.UpdateFlags(ctx, sess.AccountID, mb.ID, []uint32{uint32(ruid)}, store.FlagsAdd, store.FlagAnswered, nil)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("webmail: marking a message answered", "user", sess.Email, "err", err)
	}
	return uid
}

// sentPage is GET /mail/sent: "sent", with the Undo button while the
// message is held.
func (s *Server) sentPage(w http.ResponseWriter, r *http.Request, sess Session) {
	q := r.URL.Query()
	held, _ := strconv.ParseInt(q.Get("held"), 10, 64)
	uid, _ := strconv.ParseUint(q.Get("uid"), 10, 32)
	d := composeData{Held: held, SentUID: uint32(uid), HoldSecs: int(s.o.UndoHold / time.Second)}
	if _, err := s.o.Store.HeldOf(r.Context(), sess.AccountID, held); err != nil {
		d.Held = 0 // gone already (or not the account's): nothing to undo
	}
	s.renderCompose(w, r, sess, http.StatusOK, d, "Your message is sent.")
}

// undo is POST /mail/undo: the held message is taken back, its copy in
// Sent becomes a draft again, and the compose page reopens it.
func (s *Server) undo(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	held, _ := strconv.ParseInt(r.PostFormValue("held"), 10, 64)
	sub, err := s.o.Sender.Cancel(ctx, sess.Email, held)
	if errors.Is(err, delivery.ErrNotHeld) {
		s.renderCompose(w, r, sess, http.StatusConflict, composeData{}, "Too late: the message has left.")
		return
	} else if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.log.Info("webmail send undone", "user", sess.Email, "held_id", held)
	data := sub.Data
	uid, _ := strconv.ParseUint(r.PostFormValue("sent_uid"), 10, 32)
	if copyData, ok := s.takeSentCopy(ctx, sess, uint32(uid)); ok {
		data = copyData // with its Bcc field
	}
	drafts, newUID, err := s.appendDraft(ctx, sess, data)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/mail/compose?mode=draft&box="+strconv.FormatInt(drafts.ID, 10)+"&uid="+strconv.FormatUint(uint64(newUID), 10), http.StatusSeeOther)
}

// takeSentCopy removes the Sent copy of an undone message and returns
// it.
func (s *Server) takeSentCopy(ctx context.Context, sess Session, uid uint32) ([]byte, bool) {
	sent, err := s.special(ctx, sess.AccountID, `\Sent`, "Sent")
	if err != nil || sent.ID == 0 || uid == 0 {
		return nil, false
	}
	ms, err := s.o.Store.LoadMessages(ctx, sent.ID, []uint32{uid}, store.BodyFull)
	if err != nil || len(ms) != 1 {
		return nil, false
	}
	if _, err := s.o.Store.UpdateFlags(ctx, sess.AccountID, sent.ID, []uint32{uid}, store.FlagsAdd, store.FlagDeleted, nil); err == nil {
		_, err = s.o.Store.Expunge(ctx, sess.AccountID, sent.ID, []uint32{uid})
		if err != nil {
			s.log.Error("webmail: removing an undone message from Sent", "user", sess.Email, "err", err)
		}
	}
	return ms[0].Data, true
}

// recipientsJSON is GET /mail/recipients?q=: past recipients containing
// q, for autocomplete.
func (s *Server) recipientsJSON(w http.ResponseWriter, r *http.Request, sess Session) {
	all, err := s.o.Store.PastRecipients(r.Context(), sess.AccountID, 500)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	out := []string{}
	for _, a := range all {
		if strings.Contains(a, q) && len(out) < 20 {
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
