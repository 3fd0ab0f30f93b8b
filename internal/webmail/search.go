package webmail

// Search in one folder or all of them (issue 19): text in from, to,
// subject and body; unread, flagged, has-attachment; a date range on the
// day a message arrived. It goes through the store's API as IMAP SEARCH
// does: store.HeaderCandidates picks the messages whose folded header
// field may contain the text, and each candidate's field is compared the
// way SEARCH compares it (store.FoldHeaderValue); flags come from the
// store's flag cache (LoadFlags); the body text index
// (store.BodyTextCandidates) picks the messages whose body may hold the
// text, and each candidate's decoded text parts are then compared. The
// walk goes newest first and stops at maxResults; a body search also
// stops after bodySearchTime (a safeguard: the index leaves few
// candidates). A page that was cut says so.

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

const (
	maxResults     = 200                    // results of one search
	maxQueryText   = 200                    // bytes of the text looked for
	bodySearchTime = 200 * time.Millisecond // the body walk's time cap
	searchChunk    = 100                    // messages loaded at once
)

// searchFieldNames are the parts the text may be looked for in.
var searchFieldNames = []string{"from", "to", "subject", "body"}

// headerOf is the header field a search field compares (To also looks in
// Cc, as Roundcube's "To" does not, but a family member expects).
var headerOf = map[string][]string{"from": {"From"}, "to": {"To", "Cc"}, "subject": {"Subject"}}

// searchQuery is a search form, checked.
type searchQuery struct {
	Text           string
	Fields         map[string]bool // of searchFieldNames; subject and from when none is ticked
	Unread         bool
	Flagged        bool
	Attach         bool
	Since, Before  time.Time // arrival day range, Before exclusive; zero: open
	SinceS, UntilS string    // as typed (2006-01-02), for the form
	All            bool      // every folder, not just Box
}

// parseSearch reads the form of GET /mail/search.
func parseSearch(v url.Values) (searchQuery, error) {
	q := searchQuery{Text: strings.TrimSpace(v.Get("q")), Fields: map[string]bool{},
		Unread: v.Get("unread") != "", Flagged: v.Get("flagged") != "", Attach: v.Get("att") != "", All: v.Get("scope") == "all"}
	if len(q.Text) > maxQueryText || strings.ContainsFunc(q.Text, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return q, &badAction{"The text to look for is too long or has control characters."}
	}
	for _, f := range v["in"] {
		if slices.Contains(searchFieldNames, f) {
			q.Fields[f] = true
		}
	}
	if len(q.Fields) == 0 {
		q.Fields["subject"], q.Fields["from"] = true, true
	}
	var err error
	if q.SinceS = strings.TrimSpace(v.Get("since")); q.SinceS != "" {
		if q.Since, err = time.Parse(time.DateOnly, q.SinceS); err != nil {
			return q, &badAction{"The date to search from is not a date (year-month-day)."}
		}
	}
	if q.UntilS = strings.TrimSpace(v.Get("until")); q.UntilS != "" {
		u, err := time.Parse(time.DateOnly, q.UntilS)
		if err != nil {
			return q, &badAction{"The date to search until is not a date (year-month-day)."}
		}
		q.Before = u.AddDate(0, 0, 1)
	}
	return q, nil
}

// empty: nothing to look for (the form was opened, not sent).
func (q searchQuery) empty() bool {
	return q.Text == "" && !q.Unread && !q.Flagged && !q.Attach && q.Since.IsZero() && q.Before.IsZero()
}

// searchResult is what a search found.
type searchResult struct {
	Rows     []row
	Cut      bool // maxResults reached: there may be more
	TimedOut bool // the body walk stopped at bodySearchTime
	Scanned  int  // messages loaded and matched
	Total    int  // candidates
}

// searchBoxes runs q over the mailboxes, newest first.
func (s *Server) searchBoxes(ctx context.Context, accountID int64, boxes []store.Mailbox, q searchQuery) (searchResult, error) {
	var res searchResult
	var deadline time.Time
	if q.Text != "" && q.Fields["body"] {
		deadline = time.Now().Add(bodySearchTime)
	}
	var all []searchHit
	for _, mb := range boxes {
		hits, err := s.searchBox(ctx, accountID, mb, q, deadline, &res)
		if err != nil {
			return res, err
		}
		all = append(all, hits...)
	}
	slices.SortStableFunc(all, func(a, b searchHit) int { return b.when.Compare(a.when) })
	if len(all) > maxResults {
		all, res.Cut = all[:maxResults], true
	}
	for _, f := range all {
		res.Rows = append(res.Rows, f.row)
	}
	return res, nil
}

type searchHit struct {
	row  row
	when time.Time
}

// searchBox searches one mailbox: candidates from the store, then each
// loaded and matched, newest first, until maxResults or the deadline.
func (s *Server) searchBox(ctx context.Context, accountID int64, mb store.Mailbox, q searchQuery, deadline time.Time, res *searchResult) ([]searchHit, error) {
	cand, err := s.searchCandidates(ctx, accountID, mb, q)
	if err != nil || len(cand) == 0 {
		return nil, err
	}
	part := store.BodyHeader
	if !deadline.IsZero() {
		// A large body is not loaded: its text is walked as a stream
		// (content), so a chunk of 40 MiB messages is not held at once.
		part = store.BodyStream
	}
	now := s.o.Now()
	res.Total += len(cand)
	var hits []searchHit
	for hi := len(cand); hi > 0 && len(hits) < maxResults; hi -= searchChunk {
		if !deadline.IsZero() && time.Now().After(deadline) {
			res.TimedOut = true
			break
		}
		msgs, err := s.o.Store.LoadMessages(ctx, mb.ID, cand[max(0, hi-searchChunk):hi], part)
		if err != nil {
			return nil, err
		}
		res.Scanned += len(msgs)
		for i := len(msgs) - 1; i >= 0 && len(hits) < maxResults; i-- {
			m := &msgs[i]
			if !q.matchMessage(m, func() content { return s.searchContent(ctx, m) }) {
				continue
			}
			r, when := rowOf(m, now)
			r.BoxID, r.BoxName = mb.ID, mb.Name
			hits = append(hits, searchHit{r, when})
		}
	}
	if len(hits) >= maxResults {
		res.Cut = true
	}
	return hits, nil
}

// searchCandidates returns, ascending, the UIDs that may match: all of
// the mailbox, narrowed by the header search table when the text is
// looked for in header fields only, by flags and by arrival date.
func (s *Server) searchCandidates(ctx context.Context, accountID int64, mb store.Mailbox, q searchQuery) ([]uint32, error) {
	st, err := s.o.Store.SelectMailbox(ctx, accountID, mb.Name)
	if err != nil {
		return nil, err
	}
	cand := st.UIDs
	if q.Text != "" {
		if cand, err = s.textCandidates(ctx, mb.ID, q, st.UIDs); err != nil {
			return nil, err
		}
	}
	if q.Unread || q.Flagged {
		var keep []uint32
		err := s.o.Store.LoadFlags(ctx, mb.ID, cand, func(batch []store.MessageFlags) error {
			for _, m := range batch {
				if (!q.Unread || m.Flags&store.FlagSeen == 0) && (!q.Flagged || m.Flags&store.FlagFlagged != 0) {
					keep = append(keep, m.UID)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		cand = keep
	}
	if !q.Since.IsZero() || !q.Before.IsZero() {
		return s.byArrival(ctx, mb.ID, cand, q)
	}
	return cand, nil
}

// textCandidates is the union of the store's candidates for each field
// the text is looked for in: the header search table for header fields,
// the body text index for the body; all of all when one cannot tell.
func (s *Server) textCandidates(ctx context.Context, mailboxID int64, q searchQuery, all []uint32) ([]uint32, error) {
	var union []uint32
	add := func(u []uint32, ok bool, err error) error {
		if err != nil {
			return err
		}
		if !ok {
			u = all
		}
		union = append(union, u...)
		return nil
	}
	for _, f := range searchFieldNames {
		if !q.Fields[f] {
			continue
		}
		if f == "body" {
			if err := add(s.o.Store.BodyTextCandidates(ctx, mailboxID, q.Text)); err != nil {
				return nil, err
			}
		}
		for _, h := range headerOf[f] {
			if err := add(s.o.Store.HeaderCandidates(ctx, mailboxID, h, q.Text)); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(union)
	return slices.Compact(union), nil
}

// byArrival keeps the UIDs whose arrival day is in q's range (metadata
// only, no message bytes read).
func (s *Server) byArrival(ctx context.Context, mailboxID int64, cand []uint32, q searchQuery) ([]uint32, error) {
	var keep []uint32
	for len(cand) > 0 {
		n := min(len(cand), 5000)
		msgs, err := s.o.Store.LoadMessages(ctx, mailboxID, cand[:n], store.BodyNone)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if q.inRange(m.InternalDate) {
				keep = append(keep, m.UID)
			}
		}
		cand = cand[n:]
	}
	return keep, nil
}

// inRange compares the day of t (UTC) with the range.
func (q searchQuery) inRange(t time.Time) bool {
	y, mo, d := t.UTC().Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	return (q.Since.IsZero() || !day.Before(q.Since)) && (q.Before.IsZero() || day.Before(q.Before))
}

// matchMessage is the exact test of a loaded candidate (flags and dates
// were tested on metadata); body gives its content when its text is
// looked at.
func (q searchQuery) matchMessage(m *store.LoadedMessage, body func() content) bool {
	hdr := m.Data[:mailmsg.HeaderEnd(m.Data)]
	if q.Attach && !hasAttachment(hdr) {
		return false
	}
	if q.Text == "" {
		return true
	}
	value := strings.ToLower(q.Text)
	for f := range mailmsg.Fields(hdr) {
		for _, name := range searchFieldNames {
			if !q.Fields[name] {
				continue
			}
			for _, h := range headerOf[name] {
				// As SEARCH compares (imapd's matchHeader).
				if f.Is(h) && strings.Contains(store.FoldHeaderValue(string(mailmsg.Unfold(f.Value))), value) {
					return true
				}
			}
		}
	}
	return q.Fields["body"] && bodyContains(body(), value)
}

// searchContent is the content a search looks in: as the page has it
// (content), none when the store cannot read it (logged).
func (s *Server) searchContent(ctx context.Context, m *store.LoadedMessage) content {
	c, err := s.content(ctx, *m)
	if err != nil {
		s.log.Warn("webmail search: reading a message", "mailbox", m.MailboxID, "uid", m.UID, "err", err)
	}
	return c
}

// bodyContains looks for value (lower case) in a message's decoded
// text, HTML without its tags.
func bodyContains(c content, value string) bool {
	text := c.Text
	if c.HTML != "" {
		text = store.StripTags(c.HTML)
	}
	return strings.Contains(strings.ToLower(text), value)
}

// hasAttachment tells from a message's header whether it carries
// attachments: a multipart/mixed (or report) body, or a top-level part
// that is itself an attachment; what mail apps mark with a paper clip.
func hasAttachment(hdr []byte) bool {
	get := headerGetter(hdr)
	h := readPartHeader(get)
	switch {
	case h.mediaType == "multipart/mixed" || h.mediaType == "multipart/report":
		return true
	case strings.HasPrefix(h.mediaType, "multipart/"), strings.HasPrefix(h.mediaType, "text/"):
		return h.disposition == "attachment"
	}
	return true // application/pdf, image/png... sent alone
}

// searchData is the search form and results on the list page.
type searchData struct {
	Q        searchQuery
	Active   bool // a search was made
	Cut      bool
	TimedOut bool
	Scanned  int // TimedOut: messages looked at, of Total
	Total    int
}

// searchPage is GET /mail/search?box=ID&q=...: the results in the list
// page's table, each row linking to its message.
func (s *Server) searchPage(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, err := s.mailbox(r, sess.AccountID, r.URL.Query().Get("box"))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	q, err := parseSearch(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := listData{Page: 1, Pages: 1, Search: &searchData{Q: q, Active: !q.empty()}}
	if !q.empty() {
		boxes := []store.Mailbox{mb}
		if q.All {
			if boxes, err = s.o.Store.Mailboxes(r.Context(), sess.AccountID); err != nil {
				s.fail(w, r, sess, err)
				return
			}
		}
		res, err := s.searchBoxes(r.Context(), sess.AccountID, boxes, q)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		d.Rows, d.Search.Cut, d.Search.TimedOut = res.Rows, res.Cut, res.TimedOut
		d.Search.Scanned, d.Search.Total = res.Scanned, res.Total
	}
	s.show(w, r, sess, mb, d, "Search in "+mb.Name)
}
