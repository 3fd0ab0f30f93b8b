package certs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// SharedStore is a store several nodes of a box share (store.Store on
// PostgreSQL): ACME's files go into its cert_files table and certmagic's
// locks are its leases.
type SharedStore interface {
	Shared() bool
	PutCertFile(ctx context.Context, name string, value []byte) error
	CertFile(ctx context.Context, name string) (value []byte, modified time.Time, ok bool, err error)
	DeleteCertFiles(ctx context.Context, name string) (int, error)
	CertFileNames(ctx context.Context, prefix string) ([]string, error)
	TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	RenewLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
	AddACMEChallenge(ctx context.Context, name, value string, until time.Time) error
	RemoveACMEChallenge(ctx context.Context, name, value string) error
}

// storeStorage is certmagic's Storage in a SharedStore, for a box whose
// nodes share a PostgreSQL store (issue 23): every node loads the certificates one node obtained, and
// certmagic's locks are leases (TryLease) named "acme-lock:NAME",
// so one node orders or renews a certificate while the others wait and
// then load it. A lock is renewed while held; a node that dies holding
// one frees it when the lease ends (lockTTL).
type storeStorage struct {
	st    SharedStore
	owner string // this process, as the leases' owner

	mu    sync.Mutex
	held  map[string]context.CancelFunc // the locks held, stopping their renewal
	retry time.Duration                 // between tries of a lock held elsewhere
}

var _ certmagic.Storage = (*storeStorage)(nil)

// lockTTL is how long a lock lasts without its holder renewing it.
const lockTTL = time.Minute

func newStoreStorage(st SharedStore) *storeStorage {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return &storeStorage{st: st, owner: "certs:" + hex.EncodeToString(b), held: map[string]context.CancelFunc{}, retry: time.Second}
}

func (s *storeStorage) Store(ctx context.Context, key string, value []byte) error {
	return s.st.PutCertFile(ctx, key, value)
}

func (s *storeStorage) Load(ctx context.Context, key string) ([]byte, error) {
	v, _, ok, err := s.st.CertFile(ctx, key)
	if err == nil && !ok {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return v, err
}

func (s *storeStorage) Delete(ctx context.Context, key string) error {
	n, err := s.st.DeleteCertFiles(ctx, key)
	if err == nil && n == 0 {
		return fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return err
}

func (s *storeStorage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List returns the keys under dir: every one when recursive, else the
// names one level down (a "directory" among them once).
func (s *storeStorage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	if dir == "" {
		prefix = ""
	}
	names, err := s.st.CertFileNames(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, fs.ErrNotExist)
	}
	if recursive {
		return names, nil
	}
	var out []string
	for _, n := range names {
		first, _, _ := strings.Cut(strings.TrimPrefix(n, prefix), "/")
		if child := prefix + first; !slices.Contains(out, child) {
			out = append(out, child)
		}
	}
	return out, nil
}

func (s *storeStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	v, mod, ok, err := s.st.CertFile(ctx, key)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if ok {
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: int64(len(v)), IsTerminal: true}, nil
	}
	under, err := s.st.CertFileNames(ctx, strings.TrimSuffix(key, "/")+"/")
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if len(under) == 0 {
		return certmagic.KeyInfo{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// lockName is the lease of a certmagic lock.
func lockName(name string) string { return "acme-lock:" + path.Clean(name) }

// Lock waits until this process holds the lock name (or ctx ends), and
// keeps renewing it until Unlock. The lock is exclusive within the
// process too (certmagic locks from several goroutines): a lease is
// taken only by a caller that found the name free here.
func (s *storeStorage) Lock(ctx context.Context, name string) error {
	lease := lockName(name)
	for {
		ok, err := s.tryLock(ctx, lease)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t := time.NewTimer(s.retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// tryLock takes lease if no caller of this process holds it and no
// other node does, and then keeps renewing it.
func (s *storeStorage) tryLock(ctx context.Context, lease string) (bool, error) {
	s.mu.Lock()
	if _, busy := s.held[lease]; busy {
		s.mu.Unlock()
		return false, nil
	}
	s.held[lease] = func() {} // reserved while the lease is tried
	s.mu.Unlock()
	ok, err := s.st.TryLease(ctx, lease, s.owner, lockTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || !ok {
		delete(s.held, lease)
		return false, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.held[lease] = cancel
	go s.keep(rctx, lease)
	return true, nil
}

// keep renews a held lock every third of its lease until ctx ends.
func (s *storeStorage) keep(ctx context.Context, lease string) {
	t := time.NewTicker(lockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.st.RenewLease(ctx, lease, s.owner, lockTTL); err != nil && ctx.Err() == nil {
				continue // tried again at the next tick, within the lease
			}
		}
	}
}

func (s *storeStorage) Unlock(ctx context.Context, name string) error {
	lease := lockName(name)
	s.mu.Lock()
	if cancel := s.held[lease]; cancel != nil {
		cancel()
		delete(s.held, lease)
	}
	s.mu.Unlock()
	return s.st.ReleaseLease(ctx, lease, s.owner)
}

// move renames every key under dir to the same key under to.
func (s *storeStorage) move(ctx context.Context, dir, to string) error {
	names, err := s.st.CertFileNames(ctx, dir+"/")
	if err != nil {
		return err
	}
	for _, n := range names {
		v, _, ok, err := s.st.CertFile(ctx, n)
		if err != nil {
			return err
		}
		if !ok {
			continue // gone meanwhile
		}
		if err := s.st.PutCertFile(ctx, to+strings.TrimPrefix(n, dir), v); err != nil {
			return err
		}
	}
	_, err = s.st.DeleteCertFiles(ctx, dir)
	return err
}
