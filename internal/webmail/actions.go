package webmail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"boxmail/internal/store"
)

// maxActUIDs caps the messages one action names.
const maxActUIDs = 1000

// act is POST /mail/act/{box}: op (read, unread, flag, unflag, move,
// delete, archive, junk, notjunk) on the messages uid=... of the account's
// mailbox box; move takes to=ID, another of its mailboxes. It goes back
// to next (a page of the webmail) or the list; after a move, a note
// with an Undo form and, for a move, the "always do this" offer. The
// module (X-Requested-With: fetch) gets the same as JSON (actResult).
func (s *Server) act(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, err := s.mailbox(r, sess.AccountID, r.PathValue("box"))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	uids, ok := parseUIDs(r.PostForm["uid"])
	if !ok {
		http.Error(w, "No message chosen, or too many.", http.StatusBadRequest)
		return
	}
	op := r.PostFormValue("op")
	out, err := s.apply(r.Context(), sess, mb, uids, op, r.PostFormValue("to"))
	var bad *badAction
	switch {
	case errors.As(err, &bad):
		http.Error(w, bad.msg, http.StatusBadRequest)
		return
	case err != nil:
		s.fail(w, r, sess, err)
		return
	}
	if r.Header.Get("X-Requested-With") == "fetch" { // mail.js: no page to show
		s.actJSON(w, r, sess, op, out)
		return
	}
	next := localNext(r.PostFormValue("next"), fmt.Sprintf("/mail/box/%d", mb.ID))
	if out.undo != nil {
		next = fmt.Sprintf("/mail/box/%d?note=%s&undo=%s", mb.ID, out.note, out.undo.param())
		if op == "move" {
			next += "&offer=1"
		}
	} else if out.note == "gone" {
		next = fmt.Sprintf("/mail/box/%d?note=%s", mb.ID, out.note)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// badAction is a form the user can correct; its text is shown.
type badAction struct{ msg string }

func (b *badAction) Error() string { return b.msg }

// outcome is what an action did: the note for the next page and, for a
// move, how to take it back.
type outcome struct {
	note string
	undo *undoData
}

// apply makes the change.
func (s *Server) apply(ctx context.Context, sess Session, mb store.Mailbox, uids []uint32, op, to string) (outcome, error) {
	st := s.o.Store
	flag := func(fop store.FlagOp, f store.Flags) (outcome, error) {
		_, err := st.UpdateFlags(ctx, sess.AccountID, mb.ID, uids, fop, f, nil)
		return outcome{note: "changed"}, err
	}
	switch op {
	case "read":
		return flag(store.FlagsAdd, store.FlagSeen)
	case "unread":
		return flag(store.FlagsRemove, store.FlagSeen)
	case "flag":
		return flag(store.FlagsAdd, store.FlagFlagged)
	case "unflag":
		return flag(store.FlagsRemove, store.FlagFlagged)
	case "move":
		id, err := strconv.ParseInt(to, 10, 64)
		if err != nil {
			return outcome{}, &badAction{"Choose a folder to move to."}
		}
		dest, err := st.MailboxByID(ctx, sess.AccountID, id)
		if err != nil {
			return outcome{}, errNotYoursOr(err)
		}
		return s.moveTo(ctx, sess, mb, uids, dest, "moved")
	case "archive":
		dest, err := s.specialOrCreate(ctx, sess.AccountID, `\Archive`, "Archive")
		if err != nil {
			return outcome{}, err
		}
		return s.moveTo(ctx, sess, mb, uids, dest, "archived")
	case "junk":
		dest, err := s.specialOrCreate(ctx, sess.AccountID, `\Junk`, "Junk")
		if err != nil {
			return outcome{}, err
		}
		return s.moveTo(ctx, sess, mb, uids, dest, "junked")
	case "notjunk": // out of Junk: the store trains the messages as wanted
		dest, err := st.MailboxByName(ctx, sess.AccountID, "INBOX")
		if err != nil {
			return outcome{}, err
		}
		return s.moveTo(ctx, sess, mb, uids, dest, "notjunk")
	case "delete":
		return s.remove(ctx, sess, mb, uids)
	}
	return outcome{}, &badAction{"Unknown action."}
}

// moveTo moves messages through the store's Copy, as IMAP MOVE: a move
// into or out of Junk trains the spam filter.
func (s *Server) moveTo(ctx context.Context, sess Session, mb store.Mailbox, uids []uint32, dest store.Mailbox, note string) (outcome, error) {
	if dest.ID == mb.ID {
		return outcome{}, nil
	}
	res, err := s.o.Store.Copy(ctx, sess.AccountID, mb.ID, uids, dest.Name, true)
	if err != nil || len(res.DestUIDs) == 0 {
		return outcome{note: note}, err
	}
	return outcome{note: note, undo: &undoData{Box: dest.ID, BoxName: dest.Name, UIDs: res.DestUIDs, To: mb.ID}}, nil
}

// remove moves messages to Trash, or deletes them for good when they
// are in Trash (or the account has none).
func (s *Server) remove(ctx context.Context, sess Session, mb store.Mailbox, uids []uint32) (outcome, error) {
	st := s.o.Store
	trash, err := s.special(ctx, sess.AccountID, `\Trash`, "Trash")
	if err != nil {
		return outcome{}, err
	}
	if trash.ID != 0 && trash.ID != mb.ID {
		return s.moveTo(ctx, sess, mb, uids, trash, "deleted")
	}
	if _, err := st.UpdateFlags(ctx, sess.AccountID, mb.ID, uids, store.FlagsAdd, store.FlagDeleted, nil); err != nil {
		return outcome{}, err
	}
	_, err = st.Expunge(ctx, sess.AccountID, mb.ID, uids)
	return outcome{note: "gone"}, err
}

// special returns the account's mailbox with a special use (`\Trash`),
// else the one named fallback; a zero Mailbox when neither exists.
func (s *Server) special(ctx context.Context, accountID int64, use, fallback string) (store.Mailbox, error) {
	mbs, err := s.o.Store.Mailboxes(ctx, accountID)
	if err != nil {
		return store.Mailbox{}, err
	}
	var byName store.Mailbox
	for _, m := range mbs {
		if m.SpecialUse == use {
			return m, nil
		}
		if strings.EqualFold(m.Name, fallback) {
			byName = m
		}
	}
	return byName, nil
}

// parseUIDs reads the uid fields of a form.
func parseUIDs(vals []string) ([]uint32, bool) {
	if len(vals) == 0 || len(vals) > maxActUIDs {
		return nil, false
	}
	out := make([]uint32, 0, len(vals))
	for _, v := range vals {
		u, err := strconv.ParseUint(v, 10, 32)
		if err != nil || u == 0 {
			return nil, false
		}
		out = append(out, uint32(u))
	}
	return out, true
}

// localNext is where an action goes back to: next when it is a page of
// the webmail (a plain path under /mail/), else def.
func localNext(next, def string) string {
	if !strings.HasPrefix(next, "/mail/") || len(next) > 1024 || strings.ContainsAny(next, "\\\r\n\t @") ||
		strings.Contains(next, "//") || strings.Contains(next, "/..") || strings.Contains(next, "/./") {
		return def
	}
	for _, r := range next {
		if r < 0x21 || r >= 0x7f {
			return def
		}
	}
	return next
}

// specialOrCreate is special, creating the mailbox (named fallback, with
// the special use) when the account has neither.
func (s *Server) specialOrCreate(ctx context.Context, accountID int64, use, fallback string) (store.Mailbox, error) {
	mb, err := s.special(ctx, accountID, use, fallback)
	if err != nil || mb.ID != 0 {
		return mb, err
	}
	if err := s.o.Store.CreateMailbox(ctx, accountID, fallback, use); err != nil && !errors.Is(err, store.ErrExists) {
		return mb, err
	}
	return s.o.Store.MailboxByName(ctx, accountID, fallback)
}

// undoData is a move to take back: UIDs are now in Box and go back to To.
type undoData struct {
	Box     int64
	BoxName string
	UIDs    []uint32
	To      int64
}

// param is the undo's form in a URL: box:uid,uid,...
func (u *undoData) param() string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(u.Box, 10))
	for i, id := range u.UIDs {
		if i == 0 {
			b.WriteByte(':')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(id), 10))
	}
	return b.String()
}

// undoFrom reads ?undo=box:uid,... of a list page whose mailbox (mb) the
// messages came from; nil when absent, malformed or not the account's.
func (s *Server) undoFrom(r *http.Request, sess Session, mb store.Mailbox) *undoData {
	box, list, ok := strings.Cut(r.URL.Query().Get("undo"), ":")
	if !ok {
		return nil
	}
	uids, ok := parseUIDs(strings.Split(list, ","))
	if !ok {
		return nil
	}
	dest, err := s.mailbox(r, sess.AccountID, box)
	if err != nil || dest.ID == mb.ID {
		return nil
	}
	return &undoData{Box: dest.ID, BoxName: dest.Name, UIDs: uids, To: mb.ID}
}

// actResult is the JSON answer to the module's action.
type actResult struct {
	Note  string     `json:"note,omitempty"`
	Undo  *undoJSON  `json:"undo,omitempty"`
	Offer *ruleOffer `json:"offer,omitempty"`
}

type undoJSON struct {
	Box  int64    `json:"box"`
	UIDs []uint32 `json:"uids"`
	To   int64    `json:"to"`
}

func (s *Server) actJSON(w http.ResponseWriter, r *http.Request, sess Session, op string, out outcome) {
	res := actResult{Note: orgNotes[out.note]}
	if res.Note == "" {
		res.Note = notes[out.note]
	}
	if u := out.undo; u != nil {
		res.Undo = &undoJSON{Box: u.Box, UIDs: u.UIDs, To: u.To}
		if op == "move" {
			res.Offer = s.offerFor(r.Context(), sess, u.Box, u.UIDs[0])
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(res); err != nil {
		s.log.Debug("webmail action answer", "err", err)
	}
}

// orgNotes are the notes of the list's and folders' actions (see notes).
var orgNotes = map[string]string{
	"archived":       "Archived.",
	"junked":         "Moved to Junk.",
	"notjunk":        "Moved to the INBOX as not junk.",
	"moved":          "Moved.",
	"deleted":        "Moved to Trash.",
	"folder-created": "The folder is created.",
	"folder-renamed": "The folder is renamed.",
	"folder-deleted": "The folder is deleted.",
	"rule-added":     "Done: future mail like this goes to that folder (a filter rule was added; see your account's filters).",
	"rule-exists":    "Such a rule already exists.",
}
