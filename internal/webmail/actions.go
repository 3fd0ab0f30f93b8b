package webmail

import (
	"context"
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
// delete) on the messages uid=... of the account's mailbox box; move
// takes to=ID, another of its mailboxes. It goes back to next (a page of
// the webmail) or the list.
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
	note, err := s.apply(r.Context(), sess, mb, uids, op, r.PostFormValue("to"))
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
		w.WriteHeader(http.StatusNoContent)
		return
	}
	next := localNext(r.PostFormValue("next"), fmt.Sprintf("/mail/box/%d", mb.ID))
	if note != "" && (op == "move" || op == "delete") {
		next = fmt.Sprintf("/mail/box/%d?note=%s", mb.ID, note)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// badAction is a form the user can correct; its text is shown.
type badAction struct{ msg string }

func (b *badAction) Error() string { return b.msg }

// apply makes the change; it returns the note for the next page.
func (s *Server) apply(ctx context.Context, sess Session, mb store.Mailbox, uids []uint32, op, to string) (string, error) {
	st := s.o.Store
	flag := func(fop store.FlagOp, f store.Flags) (string, error) {
		_, err := st.UpdateFlags(ctx, sess.AccountID, mb.ID, uids, fop, f, nil)
		return "changed", err
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
			return "", &badAction{"Choose a folder to move to."}
		}
		dest, err := st.MailboxByID(ctx, sess.AccountID, id)
		if err != nil {
			return "", errNotYoursOr(err)
		}
		if dest.ID == mb.ID {
			return "", nil
		}
		// Through the store's Copy, as IMAP MOVE: a move into or out of
		// Junk trains the spam filter.
		_, err = st.Copy(ctx, sess.AccountID, mb.ID, uids, dest.Name, true)
		return "moved", err
	case "delete":
		return s.remove(ctx, sess, mb, uids)
	}
	return "", &badAction{"Unknown action."}
}

// remove moves messages to Trash, or deletes them for good when they
// are in Trash (or the account has none).
func (s *Server) remove(ctx context.Context, sess Session, mb store.Mailbox, uids []uint32) (string, error) {
	st := s.o.Store
	trash, err := s.special(ctx, sess.AccountID, `\Trash`, "Trash")
	if err != nil {
		return "", err
	}
	if trash.ID != 0 && trash.ID != mb.ID {
		_, err := st.Copy(ctx, sess.AccountID, mb.ID, uids, trash.Name, true)
		return "deleted", err
	}
	if _, err := st.UpdateFlags(ctx, sess.AccountID, mb.ID, uids, store.FlagsAdd, store.FlagDeleted, nil); err != nil {
		return "", err
	}
	_, err = st.Expunge(ctx, sess.AccountID, mb.ID, uids)
	return "gone", err
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
