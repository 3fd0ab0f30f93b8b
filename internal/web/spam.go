package web

// The spam filter on the web (issue 17): what it caught this week, on
// /account for the user's own mail and on the admin's Spam tab for every
// account, and the release of a message from Junk. A release names the
// message by mailbox id and UID, which the deliverer checks belong to a
// Junk mailbox of the account acting (the logged-in user's own, or the
// account the admin's form names); it moves the message to INBOX through
// the store, which trains it as ham.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// SpamJunk is what these pages ask of the spam filter
// (*delivery.Deliverer).
type SpamJunk interface {
	CaughtSince(ctx context.Context, accountID int64, since time.Time, limit int) (int, []delivery.Caught, error)
	ReleaseFromJunk(ctx context.Context, accountID, mailboxID int64, uid uint32) error
}

var _ SpamJunk = (*delivery.Deliverer)(nil)

// caughtListed is how many of a week's catch a page lists.
const caughtListed = 20

// caughtWeek is one account's catch of the last seven days.
type caughtWeek struct {
	Email string
	On    bool // the box has a spam filter to ask
	Count int
	List  []caughtRow
}

type caughtRow struct {
	MailboxID           int64
	UID                 uint32
	Date, From, Subject string
	Score               string
}

func (s *Server) caughtWeek(ctx context.Context, a store.Account) (caughtWeek, error) {
	cw := caughtWeek{Email: a.Email, On: s.o.Spam != nil}
	if s.o.Spam == nil {
		return cw, nil
	}
	n, list, err := s.o.Spam.CaughtSince(ctx, a.ID, s.o.Now().Add(-7*24*time.Hour), caughtListed)
	if err != nil {
		return cw, err
	}
	cw.Count = n
	for _, c := range list {
		cw.List = append(cw.List, caughtRow{MailboxID: c.MailboxID, UID: c.UID, Date: c.Date.UTC().Format("2006-01-02 15:04"),
			From: c.From, Subject: c.Subject, Score: c.Score})
	}
	return cw, nil
}

// release moves the message the form names out of the account's Junk.
func (s *Server) release(ctx context.Context, accountID int64, r *http.Request) (string, error) {
	if s.o.Spam == nil {
		return "", badf("this box has no spam filter")
	}
	mb, err1 := strconv.ParseInt(r.PostFormValue("mailbox"), 10, 64)
	uid, err2 := strconv.ParseUint(r.PostFormValue("uid"), 10, 32)
	if err1 != nil || err2 != nil || mb <= 0 || uid == 0 {
		return "", badf("no such message in Junk")
	}
	err := s.o.Spam.ReleaseFromJunk(ctx, accountID, mb, uint32(uid))
	if errors.Is(err, delivery.ErrNotInJunk) {
		return "", &badInput{msg: "no such message in Junk (already moved?)", notFound: true}
	}
	if err != nil {
		return "", err
	}
	return "The message is in your INBOX again; the filter learns that mail like it is wanted.", nil
}

// junkRelease is POST /account/junk: the user releases one of their own
// messages from Junk.
func (s *Server) junkRelease(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) {
	msg, err := s.release(r.Context(), a.ID, r)
	var bi *badInput
	switch {
	case errors.As(err, &bi):
		s.sessions.setFlash(sess, strings.ToUpper(bi.msg[:1])+bi.msg[1:]+".", false)
	case err != nil:
		s.internalError(w, r, err)
		return
	default:
		s.sessions.setFlash(sess, msg, true)
	}
	http.Redirect(w, r, "/account#junk", http.StatusSeeOther)
}

// loadSpam is the admin's Spam tab: every account's catch of the week.
func loadSpam(s *Server, r *http.Request) (any, error) {
	as, err := s.o.Store.Accounts(r.Context())
	if err != nil {
		return nil, err
	}
	out := []caughtWeek{}
	for _, a := range as {
		cw, err := s.caughtWeek(r.Context(), a)
		if err != nil {
			return nil, err
		}
		out = append(out, cw)
	}
	return out, nil
}

// spamForm is the Spam tab's form: release a message of the account the
// form names.
func spamForm(s *Server, r *http.Request, by string) (string, error) {
	if r.PostFormValue("op") != "release" {
		return "", badf("unknown action")
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	a, err := s.o.Store.AccountByEmail(r.Context(), email)
	if errors.Is(err, store.ErrNotFound) {
		return "", badf("no account %s", email)
	} else if err != nil {
		return "", err
	}
	msg, err := s.release(r.Context(), a.ID, r)
	if err != nil {
		return "", err
	}
	s.log.Info("admin released a message from Junk", "by", by, "account", a.Email)
	return strings.Replace(msg, "your INBOX", "the INBOX of "+a.Email, 1), nil
}
