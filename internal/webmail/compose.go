package webmail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// Caps of a composed message (the web server caps the form at 64 KiB).
const (
	maxRecipients = 100
	maxSubject    = 998
)

type composeData struct {
	Froms              []string
	From               string
	To, Cc, Subject    string
	Body               string
	InReplyTo, Refs    string
	ReplyBox, ReplyUID string
	Off                bool // no sending configured
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

// composePage is the form for a new message, or a reply to ?box=&uid=.
func (s *Server) composePage(w http.ResponseWriter, r *http.Request, sess Session) {
	froms, err := s.fromAddresses(r.Context(), sess.Email)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := composeData{Froms: froms, From: sess.Email, Off: s.o.Sender == nil}
	q := r.URL.Query()
	if q.Get("box") != "" {
		r.SetPathValue("box", q.Get("box"))
		r.SetPathValue("uid", q.Get("uid"))
		mb, m, err := s.message(r, sess, store.BodyFull)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		s.fillReply(&d, mb, m)
	}
	fs, err := s.folders(r.Context(), sess.AccountID, 0)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "compose", page{Title: "Write", Email: sess.Email, CSRF: sess.CSRF, Folders: fs, Data: d})
}

// fillReply prepares a reply: to the Reply-To or From address, "Re:"
// subject, threading fields, the text quoted.
func (s *Server) fillReply(d *composeData, mb store.Mailbox, m store.LoadedMessage) {
	e := parseEnvelope(m.Data)
	d.To = e.FromAddr
	if e.ReplyTo != "" {
		d.To = e.ReplyTo
	}
	d.Subject = e.Subject
	if !strings.HasPrefix(strings.ToLower(d.Subject), "re:") {
		d.Subject = "Re: " + d.Subject
	}
	if validMsgID(e.MessageID) {
		d.InReplyTo = e.MessageID
		d.Refs = strings.TrimSpace(e.Refs + " " + e.MessageID)
		if len(d.Refs) > 2000 || !validRefs(d.Refs) {
			d.Refs = e.MessageID
		}
	}
	d.ReplyBox, d.ReplyUID = strconv.FormatInt(mb.ID, 10), strconv.FormatUint(uint64(m.UID), 10)
	c := parseContent(m.Data)
	text := c.Text
	if text == "" && c.HTML != "" {
		text = "(the message was written in HTML)"
	}
	if len(text) > 16<<10 {
		text = text[:16<<10]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n\nOn %s, %s wrote:\n", e.Date.Format("Mon, 2 Jan 2006 15:04"), e.From)
	for l := range strings.SplitSeq(strings.TrimRight(text, "\r\n"), "\n") {
		b.WriteString("> " + strings.TrimRight(l, "\r") + "\n")
	}
	d.Body = strings.ToValidUTF8(b.String(), "\uFFFD")
}

func validMsgID(id string) bool {
	return strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") && len(id) < 998 && !strings.ContainsAny(id, " \t\r\n")
}

func validRefs(refs string) bool {
	for id := range strings.FieldsSeq(refs) {
		if !validMsgID(id) {
			return false
		}
	}
	return true
}

// send is POST /mail/send: the message is built here, submitted through
// delivery (submission's checks) and a copy appended to Sent.
func (s *Server) send(w http.ResponseWriter, r *http.Request, sess Session) {
	if s.o.Sender == nil {
		http.Error(w, "Sending is not set up on this box.", http.StatusServiceUnavailable)
		return
	}
	f := r.PostForm
	d := composeData{From: f.Get("from"), To: f.Get("to"), Cc: f.Get("cc"), Subject: f.Get("subject"), Body: f.Get("body"),
		InReplyTo: f.Get("in_reply_to"), Refs: f.Get("references"), ReplyBox: f.Get("reply_box"), ReplyUID: f.Get("reply_uid")}
	froms, err := s.fromAddresses(r.Context(), sess.Email)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d.Froms = froms
	msg, rcpts, problem := buildMessage(d, froms, s.o.Now())
	if problem == "" {
		problem, err = s.submit(r, sess, d.From, rcpts, msg)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
	}
	if problem != "" {
		fs, err := s.folders(r.Context(), sess.AccountID, 0)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		s.render(w, r, http.StatusBadRequest, "compose", page{Title: "Write", Email: sess.Email, CSRF: sess.CSRF, Folders: fs, Data: d, Note: problem})
		return
	}
	s.afterSend(r.Context(), sess, d, msg)
	http.Redirect(w, r, "/mail/?note=sent", http.StatusSeeOther)
}

// submit hands the message to delivery; a problem the user can fix is
// returned as text, anything else as an error.
func (s *Server) submit(r *http.Request, sess Session, from string, rcpts []string, msg []byte) (string, error) {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	err := s.o.Sender.Submit(r.Context(), delivery.Submission{Account: sess.Email, From: from, To: rcpts, Data: msg,
		Client: ap.Addr().Unmap(), Via: "webmail"})
	switch {
	case err == nil:
		s.log.Info("webmail sent", "user", sess.Email, "recipients", len(rcpts), "size", len(msg))
		return "", nil
	case errors.Is(err, delivery.ErrSenderNotPermitted):
		return "You may not send as that address.", nil
	case errors.Is(err, delivery.ErrUnknownRecipient):
		return "A recipient in this box's domains does not exist: " + recipientOf(err), nil
	case errors.Is(err, delivery.ErrBadAddress), errors.Is(err, delivery.ErrBadMessage):
		return "An address is not valid: " + recipientOf(err), nil
	case errors.Is(err, delivery.ErrOverQuota):
		return "A recipient's mailbox is full; try later.", nil
	case errors.Is(err, store.ErrDiskFull):
		return "The server is out of disk space; try later.", nil
	}
	return "", err
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

// afterSend keeps a copy in Sent and marks the message replied to; a
// failure is logged (the message is gone already).
func (s *Server) afterSend(ctx context.Context, sess Session, d composeData, msg []byte) {
	sent, err := s.special(ctx, sess.AccountID, `\Sent`, "Sent")
	if err == nil && sent.ID != 0 {
		_, _, err = s.o.Store.Append(ctx, sess.AccountID, sent.Name, msg, store.FlagSeen, nil, s.o.Now())
	}
	if err != nil {
		s.log.Error("webmail: keeping a copy in Sent", "user", sess.Email, "err", err)
	}
	box, _ := strconv.ParseInt(d.ReplyBox, 10, 64)
	uid, _ := strconv.ParseUint(d.ReplyUID, 10, 32)
	if box <= 0 || uid == 0 {
		return
	}
	mb, err := s.o.Store.MailboxByID(ctx, sess.AccountID, box)
	if err == nil {
		_, err = s.o.Store.UpdateFlags(ctx, sess.AccountID, mb.ID, []uint32{uint32(uid)}, store.FlagsAdd, store.FlagAnswered, nil)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("webmail: marking a message answered", "user", sess.Email, "err", err)
	}
}

// buildMessage writes the message of a compose form: a problem the user
// can fix is returned as text.
func buildMessage(d composeData, froms []string, now time.Time) (msg []byte, rcpts []string, problem string) {
	if !slices.Contains(froms, d.From) {
		return nil, nil, "You may not send as that address."
	}
	to, err := parseRecipients(d.To)
	if err != nil || len(to) == 0 {
		return nil, nil, "Write at least one valid address in To."
	}
	cc, err := parseRecipients(d.Cc)
	if err != nil {
		return nil, nil, "An address in Cc is not valid."
	}
	for _, a := range append(slices.Clone(to), cc...) {
		if !slices.Contains(rcpts, a.Address) {
			rcpts = append(rcpts, a.Address)
		}
	}
	if len(rcpts) > maxRecipients {
		return nil, nil, fmt.Sprintf("At most %d recipients.", maxRecipients)
	}
	subject := strings.Join(strings.Fields(d.Subject), " ") // no line breaks: no header injection
	if len(subject) > maxSubject {
		return nil, nil, "The subject is too long."
	}
	var b bytes.Buffer
	domain := d.From[strings.LastIndexByte(d.From, '@')+1:]
	id := make([]byte, 12)
	rand.Read(id)
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", (&mail.Address{Address: d.From}).String())
	hdr("To", addressList(to))
	if len(cc) > 0 {
		hdr("Cc", addressList(cc))
	}
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	if validMsgID(d.InReplyTo) {
		hdr("In-Reply-To", d.InReplyTo)
		if refs := strings.Join(strings.Fields(d.Refs), " "); validRefs(refs) && len(refs) < 2000 && refs != "" {
			hdr("References", refs)
		}
	}
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(strings.ToValidUTF8(d.Body, "\uFFFD"), "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, nil, "The text could not be encoded."
	}
	if err := qp.Close(); err != nil {
		return nil, nil, "The text could not be encoded."
	}
	b.WriteString("\r\n")
	return b.Bytes(), rcpts, ""
}

// parseRecipients reads a To or Cc field as typed ("" is none).
func parseRecipients(v string) ([]*mail.Address, error) {
	v = strings.TrimSpace(strings.Trim(strings.TrimSpace(v), ","))
	if v == "" {
		return nil, nil
	}
	if strings.ContainsAny(v, "\r\n") {
		return nil, errors.New("line break in an address field")
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		if _, err := delivery.ParseAddress(a.Address); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func addressList(l []*mail.Address) string {
	parts := make([]string, len(l))
	for i, a := range l {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}
