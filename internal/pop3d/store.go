package pop3d

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"boxmail/internal/store"
)

// StoreBackend is the Backend over boxmail's store: the maildrop is the
// account's INBOX. Give the STARTTLS and the implicit-TLS server the same
// StoreBackend, so one account has one POP3 session at a time across both.
// On a store several nodes share (store.Shared), the lock is also a
// lease row ("pop3:ACCOUNT-ID", renewed while the session lasts, ending
// maildropLease after a node dies), so it holds across nodes.
type StoreBackend struct {
	st    *store.Store
	owner string // store.NewOwnerID(): this process, as a lease owner
	mu    sync.Mutex
	inUse map[int64]bool
}

// maildropLease is how long a maildrop lease lasts unless renewed.
const maildropLease = time.Minute

var _ Backend = (*StoreBackend)(nil)

// NewStoreBackend returns a Backend over st.
func NewStoreBackend(st *store.Store) *StoreBackend {
	return &StoreBackend{st: st, owner: store.NewOwnerID(), inUse: map[int64]bool{}}
}

// UIDL returns the unique-id of a message: its UID and its mailbox's
// UIDVALIDITY in Dovecot's default format (%08Xu%08Xv), so it is stable
// across sessions and restarts, and a client moving between Dovecot and
// boxmail (after a migration that keeps UIDs) sees the same ids.
func UIDL(uid, uidValidity uint32) string {
	return fmt.Sprintf("%08X%08X", uid, uidValidity)
}

// Login implements Backend.
func (b *StoreBackend) Login(ctx context.Context, username, password string, ip netip.Addr) (Session, error) {
	acct, err := b.st.AuthenticateDevice(ctx, username, password, store.LoginRecord{Protocol: "pop3", Addr: ip.String()})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.inUse[acct.ID] {
		b.mu.Unlock()
		return nil, ErrInUse
	}
	b.inUse[acct.ID] = true
	b.mu.Unlock()
	s := &storeSession{b: b, acct: acct}
	if err := s.takeLease(ctx); err != nil {
		_ = s.Close() // it only releases the account, and never fails
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		_ = s.Close() // it only releases the account, and never fails
		return nil, err
	}
	return s, nil
}

type storeSession struct {
	b      *StoreBackend
	acct   store.Account
	lease  string        // the maildrop's lease row; "" without one
	stop   chan struct{} // ends the lease renewal
	freed  sync.Once     // releaseLease
	mb     store.Mailbox
	msgs   []Message
	uids   []uint32
	bodies []int64
	closed sync.Once
}

// takeLease takes the maildrop's lease row on a shared store and renews it
// until Close; ErrInUse when a session on another node holds it.
func (s *storeSession) takeLease(ctx context.Context) error {
	if !s.b.st.Shared() {
		return nil
	}
	name := "pop3:" + strconv.FormatInt(s.acct.ID, 10)
	ok, err := s.b.st.TryLease(ctx, name, s.b.owner, maildropLease)
	if err != nil {
		return err
	}
	if !ok {
		return ErrInUse
	}
	s.lease, s.stop = name, make(chan struct{})
	go func() {
		t := time.NewTicker(maildropLease / 3)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				// A failed renewal is tried again; the session goes on.
				_, _ = s.b.st.RenewLease(context.Background(), name, s.b.owner, maildropLease)
			}
		}
	}()
	return nil
}

func (s *storeSession) load(ctx context.Context) error {
	mb, err := s.b.st.MailboxByName(ctx, s.acct.ID, "INBOX")
	if err != nil {
		return err
	}
	s.mb = mb
	ms, err := s.b.st.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		return err
	}
	s.msgs = make([]Message, len(ms))
	s.uids = make([]uint32, len(ms))
	s.bodies = make([]int64, len(ms))
	for i, m := range ms {
		s.msgs[i] = Message{Size: m.Size, UID: UIDL(m.UID, mb.UIDValidity)}
		s.uids[i], s.bodies[i] = m.UID, m.BodyID
	}
	return nil
}

func (s *storeSession) Messages() []Message { return s.msgs }

func (s *storeSession) Retrieve(ctx context.Context, i int) (io.ReadCloser, error) {
	// The body may have been expunged (and freed) by an IMAP client: check
	// that the message is still there.
	ms, err := s.b.st.Messages(ctx, s.mb.ID, s.uids[i], s.uids[i])
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, ErrGone
	}
	// A large message is streamed from its file or shared blob.
	r, _, err := s.b.st.OpenBody(ctx, ms[0].BodyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrGone
	}
	return r, err
}

func (s *storeSession) Update(ctx context.Context, retrieved, deleted []int) error {
	seen := make([]uint32, 0, len(retrieved))
	for _, i := range retrieved {
		seen = append(seen, s.uids[i])
	}
	rm := make([]uint32, 0, len(deleted))
	for _, i := range deleted {
		rm = append(rm, s.uids[i])
	}
	defer s.releaseLease() // Update is the session's last step (QUIT)
	if len(seen) == 0 && len(rm) == 0 {
		return nil
	}
	_, err := s.b.st.POP3Update(ctx, s.acct.ID, s.mb.ID, seen, rm)
	return err
}

// releaseLease gives the maildrop's lease row up, once: at the end of
// the UPDATE state (before QUIT's +OK, so the client's next session,
// on any node, finds it free) or at Close. It is released before the
// account's in-memory lock, so a next session of this node takes it
// after. A failed release ends by itself within maildropLease.
func (s *storeSession) releaseLease() {
	if s.lease == "" {
		return
	}
	s.freed.Do(func() {
		close(s.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.b.st.ReleaseLease(ctx, s.lease, s.b.owner)
	})
}

func (s *storeSession) Close() error {
	s.closed.Do(func() {
		s.releaseLease()
		s.b.mu.Lock()
		delete(s.b.inUse, s.acct.ID)
		s.b.mu.Unlock()
	})
	return nil
}
