package imapd

import (
	"log/slog"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"boxmail/internal/store"
)

// feeds holds one accountFeed per account with a logged-in session.
type feeds struct {
	store *store.Store
	log   *slog.Logger
	mu    sync.Mutex
	m     map[int64]*accountFeed
}

func newFeeds(st *store.Store, log *slog.Logger) *feeds {
	return &feeds{store: st, log: log, m: map[int64]*accountFeed{}}
}

// acquire returns the account's feed, starting it for the first session.
// Each acquire is paired with a release.
func (f *feeds) acquire(accountID int64) *accountFeed {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.m[accountID]
	if a == nil {
		a = &accountFeed{
			sub:       f.store.Subscribe(accountID),
			mailboxes: map[int64]*mailboxState{},
			kick:      make(chan struct{}),
			stop:      make(chan struct{}),
			done:      make(chan struct{}),
		}
		f.m[accountID] = a
		go a.run()
	}
	a.refs++
	return a
}

func (f *feeds) release(accountID int64, a *accountFeed) {
	f.mu.Lock()
	a.refs--
	last := a.refs == 0
	if last {
		delete(f.m, accountID)
	}
	f.mu.Unlock()
	if last {
		a.close()
	}
}

func (f *feeds) closeAll() {
	f.mu.Lock()
	l := make([]*accountFeed, 0, len(f.m))
	for id, a := range f.m {
		l = append(l, a)
		delete(f.m, id)
	}
	f.mu.Unlock()
	for _, a := range l {
		a.close()
	}
}

// accountFeed applies one account's change feed to the mailboxes its
// sessions have selected.
type accountFeed struct {
	sub  *store.Subscription
	refs int // guarded by feeds.mu

	mu        sync.Mutex // serialises apply; guards mailboxes
	mailboxes map[int64]*mailboxState

	// kick is closed, then replaced, when the account is disabled: its
	// sessions then ask the store at once (session.stillOpen).
	kickMu sync.Mutex
	kick   chan struct{}

	stop, done chan struct{}
	closeOnce  sync.Once
}

func (a *accountFeed) run() {
	defer close(a.done)
	for {
		select {
		case <-a.sub.C:
			a.pump()
		case <-a.stop:
			return
		}
	}
}

func (a *accountFeed) close() {
	a.closeOnce.Do(func() {
		close(a.stop)
		<-a.done
		a.sub.Close()
	})
}

// pump applies every published event. Sessions call it after their own
// writes: the store publishes before a write returns, so afterwards the
// trackers reflect the write.
func (a *accountFeed) pump() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pumpLocked()
}

// kicked returns the channel closed at the next disabling of the account.
func (a *accountFeed) kicked() <-chan struct{} {
	a.kickMu.Lock()
	defer a.kickMu.Unlock()
	return a.kick
}

func (a *accountFeed) kickSessions() {
	a.kickMu.Lock()
	defer a.kickMu.Unlock()
	close(a.kick)
	a.kick = make(chan struct{})
}

func (a *accountFeed) pumpLocked() {
	for _, e := range a.sub.Events() {
		if e.Kind == store.EventAccountDisabled {
			a.kickSessions()
			continue
		}
		if mb := a.mailboxes[e.MailboxID]; mb != nil {
			mb.apply(e)
		}
	}
}

// mailboxState is the server's view of a selected mailbox, shared by the
// sessions that have it selected.
type mailboxState struct {
	id      int64
	tracker *imapserver.MailboxTracker

	mu     sync.Mutex // guards everything below and orders tracker updates
	uids   []uint32   // ascending; position+1 is the server sequence number
	maxUID uint32     // highest UID ever applied, to skip replays
	views  map[uintptr]*view
}

// view is one session's selection of a mailbox.
type view struct {
	tracker  *imapserver.SessionTracker
	readOnly bool
	recent   map[uint32]bool // UIDs that are \Recent to this session
	notify   chan struct{}   // signalled (capacity 1) after updates are queued
}

// apply turns a store event into tracker updates. Events for a mailbox
// arrive in commit order; SELECT may already have read a change whose
// event is still on its way, so replays are skipped.
func (mb *mailboxState) apply(e store.Event) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.applyLocked(e) {
		for _, v := range mb.views {
			select {
			case v.notify <- struct{}{}:
			default:
			}
		}
	}
}

func (mb *mailboxState) applyLocked(e store.Event) (queued bool) {
	switch e.Kind {
	case store.EventNewMessage:
		if e.UID <= mb.maxUID {
			return false
		}
		mb.uids = append(mb.uids, e.UID)
		mb.maxUID = e.UID
		// One EXISTS per message: SessionTracker.EncodeSeqNum only
		// understands increments of one.
		mb.tracker.QueueNumMessages(uint32(len(mb.uids)))
		if e.Flags&store.FlagRecent != 0 {
			for _, v := range mb.views {
				if !v.readOnly {
					v.recent[e.UID] = true
				}
			}
		}
	case store.EventExpunge:
		i, ok := slices.BinarySearch(mb.uids, e.UID)
		if !ok {
			return false
		}
		mb.uids = slices.Delete(mb.uids, i, i+1)
		mb.tracker.QueueExpunge(uint32(i + 1))
		for _, v := range mb.views {
			delete(v.recent, e.UID)
		}
	case store.EventFlags:
		i, ok := slices.BinarySearch(mb.uids, e.UID)
		if !ok {
			return false
		}
		var source *imapserver.SessionTracker
		if v := mb.views[e.Origin]; v != nil && e.Origin != 0 {
			source = v.tracker // it answers its own STORE itself
		}
		mb.tracker.QueueMessageFlags(uint32(i+1), imap.UID(e.UID), flagList(e.Flags, e.Keywords, false), source)
	default:
		return false
	}
	return true
}

// flagList is the IMAP form of a message's flags. The list of a message
// without keywords is shared (flagLists): never modify a returned list.
func flagList(f store.Flags, keywords []string, recent bool) []imap.Flag {
	if len(keywords) == 0 && f&^store.FlagRecent < store.FlagRecent {
		r := 0
		if recent {
			r = 1
		}
		return flagLists[r][f&^store.FlagRecent]
	}
	return newFlagList(f, keywords, recent)
}

// flagLists are the lists without keywords, by \Recent and the system
// flags below store.FlagRecent: FETCH FLAGS of 100,000 messages then
// allocates no list per message.
var flagLists = func() (t [2][store.FlagRecent][]imap.Flag) {
	for r := range 2 {
		for f := range store.FlagRecent {
			l := newFlagList(f, nil, r == 1)
			t[r][f] = l[:len(l):len(l)]
		}
	}
	return t
}()

func newFlagList(f store.Flags, keywords []string, recent bool) []imap.Flag {
	names := f.Names()
	l := make([]imap.Flag, 0, len(names)+len(keywords)+1)
	for _, n := range names {
		l = append(l, imap.Flag(n))
	}
	if recent {
		l = append(l, imap.Flag(`\Recent`))
	}
	for _, k := range keywords {
		l = append(l, imap.Flag(k))
	}
	return l
}
