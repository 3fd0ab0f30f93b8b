package webmail

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"boxmail/internal/store"
)

// The live updates: GET /mail/events?box=ID is a Server-Sent Events
// stream fed by the store's change feed (store.Subscribe, the one IMAP
// IDLE follows). Each event "state" carries the mailbox's MODSEQ as its
// id and, as JSON, that MODSEQ, the mailbox's unread count and INBOX's
// (the tab title). A reconnect sends Last-Event-ID: when it equals the
// mailbox's MODSEQ nothing changed meanwhile and no state is sent;
// otherwise the current state is, and mail.js reloads the list.
const (
	eventsPing     = 25 * time.Second // a comment line keeps proxies and the connection alive
	eventsWrite    = 20 * time.Second // each write's deadline (the server's WriteTimeout would end the stream)
	eventsLifetime = 30 * time.Minute // then the browser reconnects (retry: 2s), with Last-Event-ID
	eventsSettle   = 100 * time.Millisecond
)

type eventState struct {
	modseq      int64
	unread      uint32
	inboxUnread uint32
}

func (s *Server) events(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, err := s.mailbox(r, sess.AccountID, r.URL.Query().Get("box"))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	sub := s.o.Store.Subscribe(sess.AccountID)
	defer sub.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	// The server's ReadTimeout would end the stream (its background read
	// times out and cancels the request): a stream has no body to read.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		s.log.Debug("webmail events: clearing the read deadline", "err", err)
	}
	w.WriteHeader(http.StatusOK)
	send := func(text string) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(eventsWrite)); err != nil {
			return false
		}
		if _, err := fmt.Fprint(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n\n") {
		return
	}
	last, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	var sent eventState
	if last != 0 {
		sent.modseq = last
	}
	update := func() bool {
		st, err := s.eventState(r.Context(), sess.AccountID, mb.ID)
		if err != nil {
			s.log.Info("webmail events: reading the state", "user", sess.Email, "err", err)
			return false
		}
		if st == sent {
			return true
		}
		sent = st
		return send(fmt.Sprintf("id: %d\nevent: state\ndata: {\"modseq\":%d,\"unread\":%d,\"inbox_unread\":%d}\n\n",
			st.modseq, st.modseq, st.unread, st.inboxUnread))
	}
	if last == 0 || last != mb.ModSeq {
		if !update() {
			return
		}
	} else {
		sent, _ = s.eventState(r.Context(), sess.AccountID, mb.ID)
	}
	ping := time.NewTicker(eventsPing)
	defer ping.Stop()
	end := time.NewTimer(eventsLifetime)
	defer end.Stop()
	for {
		select {
		case <-sub.C:
			time.Sleep(eventsSettle) // a delivery to several mailboxes: one state
			evs := sub.Events()
			if accountEnded(evs) {
				return
			}
			if len(evs) > 0 && !update() {
				return
			}
		case <-ping.C:
			// A session ended meanwhile (logout, password change,
			// account disabled) ends the stream.
			if _, ok := s.o.Session(r); !ok || !send(": ping\n\n") {
				return
			}
		case <-end.C:
			return
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// accountEnded reports whether the account was removed or disabled.
func accountEnded(evs []store.Event) bool {
	for _, e := range evs {
		if e.Kind == store.EventAccountRemoved || e.Kind == store.EventAccountDisabled {
			return true
		}
	}
	return false
}

// eventState reads what a state event carries.
func (s *Server) eventState(ctx context.Context, accountID, box int64) (eventState, error) {
	mb, err := s.o.Store.MailboxByID(ctx, accountID, box)
	if err != nil {
		return eventState{}, err
	}
	c, err := s.o.Store.Counts(ctx, mb.ID)
	if err != nil {
		return eventState{}, err
	}
	st := eventState{modseq: mb.ModSeq, unread: c.Unseen, inboxUnread: c.Unseen}
	if mb.Name != "INBOX" {
		in, err := s.o.Store.MailboxByName(ctx, accountID, "INBOX")
		if err != nil {
			return st, err
		}
		ic, err := s.o.Store.Counts(ctx, in.ID)
		if err != nil {
			return st, err
		}
		st.inboxUnread = ic.Unseen
	}
	return st, nil
}
