package imapd

import (
	"log/slog"
	"sync"

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
			sub:   f.store.Subscribe(accountID),
			views: map[int64]map[uintptr]*view{},
			kick:  make(chan struct{}),
			stop:  make(chan struct{}),
			done:  make(chan struct{}),
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
	if last && f.m[accountID] == a {
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

// accountFeed queues one account's change feed on the views of the
// sessions that have a mailbox of it selected.
type accountFeed struct {
	sub  *store.Subscription
	refs int // guarded by feeds.mu

	mu    sync.Mutex // serialises apply; guards views
	views map[int64]map[uintptr]*view

	// kick is closed, then replaced, when the account is disabled: its
	// sessions then ask the store at once (conn.stillOpen).
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
// writes: the store publishes before a write returns, so afterwards their
// views hold the write's events.
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
		if vs := a.views[e.MailboxID]; len(vs) > 0 {
			apply(vs, e)
		}
	}
}

// add registers a session's view of a mailbox; call with a.mu held.
func (a *accountFeed) addLocked(mailboxID int64, origin uintptr, v *view) {
	vs := a.views[mailboxID]
	if vs == nil {
		vs = map[uintptr]*view{}
		a.views[mailboxID] = vs
	}
	vs[origin] = v
}

// remove drops a session's view.
func (a *accountFeed) remove(mailboxID int64, origin uintptr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	vs := a.views[mailboxID]
	delete(vs, origin)
	if len(vs) == 0 {
		delete(a.views, mailboxID)
	}
}

// apply queues an event on the views of its mailbox.
func apply(vs map[uintptr]*view, e store.Event) {
	for _, v := range vs {
		v.queue(e)
	}
}
