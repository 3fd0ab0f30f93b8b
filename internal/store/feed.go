package store

import "sync"

// EventKind says what changed.
type EventKind int

const (
	// EventNewMessage: a message was added to a mailbox (delivery, APPEND,
	// COPY, MOVE).
	EventNewMessage EventKind = iota + 1
	// EventFlags: a message's flags or keywords changed.
	EventFlags
	// EventExpunge: a message was removed from a mailbox.
	EventExpunge
	// EventMailboxes: a mailbox was created, deleted or renamed.
	EventMailboxes
	// EventAccountRemoved: the account is gone.
	EventAccountRemoved
	// EventAccountDisabled: the account was disabled; its sessions end.
	EventAccountDisabled
)

// Event is one committed change, published to the account's subscribers.
type Event struct {
	Kind      EventKind
	AccountID int64
	MailboxID int64
	UID       uint32
	ModSeq    int64
	Flags     Flags
	Keywords  []string
	// Origin identifies the write's originator (e.g. an IMAP session), so a
	// session can tell its own changes from others'. Zero when unknown.
	Origin uintptr
}

// Subscription receives the events of one account. Events are queued
// without bound and never dropped; C is signalled when there are some.
type Subscription struct {
	// C receives a value when Events has something to return.
	C       chan struct{}
	st      *Store
	account int64
	mu      sync.Mutex
	queue   []Event
	closed  bool
}

// Events returns and clears the queued events.
func (s *Subscription) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// Close stops the subscription.
func (s *Subscription) Close() {
	c, f := &s.st.chlog, &s.st.feed
	c.mu.Lock()
	f.mu.Lock()
	delete(f.subs[s.account], s)
	if len(f.subs[s.account]) == 0 {
		delete(f.subs, s.account)
	}
	if len(f.subs) == 0 {
		s.st.stopWatching() // changelog.go
	}
	f.mu.Unlock()
	c.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
}

type feed struct {
	mu   sync.Mutex
	subs map[int64]map[*Subscription]struct{}
}

// Subscribe returns a subscription to the account's changes, those made
// through this Store and those other processes (and nodes) commit: on
// SQLite within about changePollEvery, on PostgreSQL as soon as their
// notification arrives (changelog.go, notify.go). Close it when done.
func (s *Store) Subscribe(accountID int64) *Subscription {
	sub := &Subscription{C: make(chan struct{}, 1), st: s, account: accountID}
	s.chlog.mu.Lock()
	defer s.chlog.mu.Unlock()
	s.startWatching() // changelog.go; with the first subscription
	s.feed.mu.Lock()
	m := s.feed.subs[accountID]
	if m == nil {
		m = map[*Subscription]struct{}{}
		s.feed.subs[accountID] = m
	}
	m[sub] = struct{}{}
	s.feed.mu.Unlock()
	return sub
}

func (f *feed) publish(e Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs[e.AccountID] {
		sub.mu.Lock()
		if !sub.closed {
			sub.queue = append(sub.queue, e)
		}
		sub.mu.Unlock()
		select {
		case sub.C <- struct{}{}:
		default:
		}
	}
}

func (f *feed) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.subs {
		for sub := range m {
			sub.mu.Lock()
			sub.closed = true
			sub.mu.Unlock()
		}
	}
	f.subs = map[int64]map[*Subscription]struct{}{}
}
