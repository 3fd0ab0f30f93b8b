package webmail

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// perPage is the number of messages of a list page.
const perPage = 50

// folder is a mailbox in the folder list.
type folder struct {
	ID      int64
	Name    string
	Special string // `\Sent`, `\Trash`, ... or ""
	Unread  uint32
	Total   uint32
	Current bool
}

// IsJunk tells whether the folder is where junk goes (its list offers
// "Not junk" instead of "Junk").
func (f folder) IsJunk() bool { return store.Mailbox{Name: f.Name, SpecialUse: f.Special}.IsJunk() }

// row is a message in the list.
type row struct {
	UID      uint32
	Subject  string
	From     string
	Date     string
	Unread   bool
	Flagged  bool
	Answered bool
	Attach   bool   // has attachments (hasAttachment)
	BoxID    int64  // its mailbox (search results of all folders)
	BoxName  string // set in search results only
	Count    int    // threads: the number of messages of the thread this row heads
	Child    bool   // threads: an older message of the thread above
}

type listData struct {
	Box         folder
	Rows        []row
	Page, Pages int
	Newer       int // page number of newer messages, 0: none
	Older       int
	ModSeq      int64
	Targets     []folder // where messages may be moved
	InboxUnread uint32
	Threads     bool        // grouped by thread
	Window      int         // threads: how many of the newest messages were grouped, when not all
	Search      *searchData // the search form; its results are Rows
	Undo        *undoData   // the last move, to take back
	Offer       *ruleOffer  // "always do this" after a move
}

// folders lists the account's mailboxes with their counts, current
// marking the one shown.
func (s *Server) folders(ctx context.Context, accountID, current int64) ([]folder, error) {
	mbs, err := s.o.Store.Mailboxes(ctx, accountID)
	if err != nil {
		return nil, err
	}
	out := make([]folder, 0, len(mbs))
	for _, mb := range mbs {
		c, err := s.o.Store.Counts(ctx, mb.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, folder{ID: mb.ID, Name: mb.Name, Special: mb.SpecialUse, Unread: c.Unseen, Total: c.Messages, Current: mb.ID == current})
	}
	// INBOX first, then by name (as Mailboxes sorts them).
	slices.SortStableFunc(out, func(a, b folder) int {
		switch {
		case a.Name == "INBOX" && b.Name != "INBOX":
			return -1
		case b.Name == "INBOX" && a.Name != "INBOX":
			return 1
		}
		return 0
	})
	return out, nil
}

// mailbox returns the account's mailbox named by the request's {box}:
// errNotYours when it is missing or another account's.
func (s *Server) mailbox(r *http.Request, accountID int64, value string) (store.Mailbox, error) {
	id, err := strconv.ParseInt(value, 10, 64)
	if err != nil || id <= 0 {
		return store.Mailbox{}, errNotYours
	}
	mb, err := s.o.Store.MailboxByID(r.Context(), accountID, id)
	if err != nil {
		return mb, errNotYoursOr(err)
	}
	return mb, nil
}

// errNotYoursOr maps the store's not-found to errNotYours.
func errNotYoursOr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errNotYours
	}
	return err
}

// inbox is /mail/: the INBOX list.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, err := s.o.Store.MailboxByName(r.Context(), sess.AccountID, "INBOX")
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.list(w, r, sess, mb)
}

func (s *Server) listPage(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, err := s.mailbox(r, sess.AccountID, r.PathValue("box"))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.list(w, r, sess, mb)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, sess Session, mb store.Mailbox) {
	pageNo, _ := strconv.Atoi(r.URL.Query().Get("page"))
	var d listData
	var err error
	if r.URL.Query().Get("threads") != "" {
		d, err = s.threadData(r.Context(), sess.AccountID, mb, pageNo)
	} else {
		d, err = s.listData(r.Context(), sess.AccountID, mb, pageNo)
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d.Search = &searchData{}
	d.Undo = s.undoFrom(r, sess, mb)
	if d.Undo != nil && r.URL.Query().Get("offer") != "" {
		d.Offer = s.offerFor(r.Context(), sess, d.Undo.Box, d.Undo.UIDs[0])
	}
	s.show(w, r, sess, mb, d, mb.Name)
}

// show renders the list page (a folder, its threads or search results)
// with the folder pane.
func (s *Server) show(w http.ResponseWriter, r *http.Request, sess Session, mb store.Mailbox, d listData, title string) {
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
	for i := range d.Rows {
		if d.Rows[i].BoxID == 0 {
			d.Rows[i].BoxID = mb.ID
		}
	}
	s.render(w, r, http.StatusOK, "list", page{Title: title, Email: sess.Email, CSRF: sess.CSRF, Folders: fs, Data: d, Note: orgNotes[r.URL.Query().Get("note")]})
}

// rowOf is a loaded message (its header at least) as a list row, and
// the time it is sorted by.
func rowOf(m *store.LoadedMessage, now time.Time) (row, time.Time) {
	hdr := m.Data[:mailmsg.HeaderEnd(m.Data)]
	e := parseEnvelope(hdr)
	date := e.Date
	if date.IsZero() {
		date = m.InternalDate
	}
	return row{UID: m.UID, Subject: e.Subject, From: e.From, Date: shortDate(date, now), Attach: hasAttachment(hdr),
		Unread: m.Flags&store.FlagSeen == 0, Flagged: m.Flags&store.FlagFlagged != 0, Answered: m.Flags&store.FlagAnswered != 0}, date
}

// listData reads one page of a mailbox, newest first: the UID list from
// SelectMailbox (cached by the store for big mailboxes), then only the
// page's headers.
func (s *Server) listData(ctx context.Context, accountID int64, mb store.Mailbox, pageNo int) (listData, error) {
	st, err := s.o.Store.SelectMailbox(ctx, accountID, mb.Name)
	if err != nil {
		return listData{}, err
	}
	n := len(st.UIDs)
	d := listData{ModSeq: st.Mailbox.ModSeq}
	lo, hi := d.paginate(n, pageNo)
	if hi <= lo {
		return d, nil
	}
	msgs, err := s.o.Store.LoadMessages(ctx, mb.ID, st.UIDs[lo:hi], store.BodyHeader)
	if err != nil {
		return d, err
	}
	now := s.o.Now()
	d.Rows = make([]row, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		r, _ := rowOf(&msgs[i], now)
		d.Rows = append(d.Rows, r)
	}
	return d, nil
}

// paginate sets the page fields for n items, newest first, and returns
// the page's index range counted from the oldest.
func (d *listData) paginate(n, pageNo int) (lo, hi int) {
	d.Pages = max(1, (n+perPage-1)/perPage)
	d.Page = min(max(pageNo, 1), d.Pages)
	hi = n - (d.Page-1)*perPage
	lo = max(0, hi-perPage)
	if d.Page > 1 {
		d.Newer = d.Page - 1
	}
	if d.Page < d.Pages {
		d.Older = d.Page + 1
	}
	return lo, hi
}

// threadWindow caps the newest messages grouped into threads.
const threadWindow = 2000

// threadData is a page of the mailbox's threads: the newest threadWindow
// messages grouped, perPage threads a page.
func (s *Server) threadData(ctx context.Context, accountID int64, mb store.Mailbox, pageNo int) (listData, error) {
	st, err := s.o.Store.SelectMailbox(ctx, accountID, mb.Name)
	if err != nil {
		return listData{}, err
	}
	d := listData{ModSeq: st.Mailbox.ModSeq, Threads: true}
	uids := st.UIDs
	if len(uids) > threadWindow {
		uids, d.Window = uids[len(uids)-threadWindow:], threadWindow
	}
	msgs, err := s.o.Store.LoadMessages(ctx, mb.ID, uids, store.BodyHeader)
	if err != nil {
		return d, err
	}
	now := s.o.Now()
	tms := make([]threadMsg, len(msgs))
	rows := make([]row, len(msgs))
	for i := range msgs {
		var when time.Time
		rows[i], when = rowOf(&msgs[i], now)
		id, refs := threadFields(msgs[i].Data)
		tms[i] = threadMsg{ID: id, Refs: refs, Subject: rows[i].Subject, When: when}
	}
	threads := groupThreads(tms)
	// Pages count threads, newest first; paginate counts from the oldest.
	lo, hi := d.paginate(len(threads), pageNo)
	for t := len(threads) - hi; t < len(threads)-lo; t++ {
		for k, i := range threads[t] {
			r := rows[i]
			if k == 0 {
				r.Count = len(threads[t])
			} else {
				r.Child = true
			}
			d.Rows = append(d.Rows, r)
		}
	}
	return d, nil
}
