package managesieve

import (
	"context"
	"net/netip"
	"strings"

	"boxmail/internal/store"
)

// StoreBackend is the Backend over boxmail's store.
type StoreBackend struct{ st *store.Store }

var (
	_ Backend = (*StoreBackend)(nil)
	_ Session = (*storeSession)(nil)
)

// NewStoreBackend returns a Backend over st.
func NewStoreBackend(st *store.Store) *StoreBackend { return &StoreBackend{st: st} }

// Login implements Backend. The user name is the address, in any case.
func (b *StoreBackend) Login(ctx context.Context, username, password string, remote netip.Addr) (Session, error) {
	acc, err := b.st.AuthenticateDevice(ctx, strings.ToLower(username), password, store.LoginRecord{Protocol: "managesieve", Addr: remote.String()})
	if err != nil {
		return nil, err
	}
	return &storeSession{st: b.st, acc: acc}, nil
}

type storeSession struct {
	st  *store.Store
	acc store.Account
}

func (s *storeSession) Owner() string { return s.acc.Email }

func (s *storeSession) Scripts(ctx context.Context) ([]Script, error) {
	l, err := s.st.SieveScripts(ctx, s.acc.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Script, len(l))
	for i, sc := range l {
		out[i] = Script{Name: sc.Name, Active: sc.Active}
	}
	return out, nil
}

func (s *storeSession) Script(ctx context.Context, name string) (string, error) {
	sc, err := s.st.SieveScriptByName(ctx, s.acc.ID, name)
	return sc.Content, err
}

func (s *storeSession) Put(ctx context.Context, name, content string) error {
	return s.st.PutSieveScript(ctx, s.acc.ID, name, content)
}

func (s *storeSession) SetActive(ctx context.Context, name string) error {
	return s.st.SetActiveSieveScript(ctx, s.acc.ID, name)
}

func (s *storeSession) Delete(ctx context.Context, name string) error {
	return s.st.DeleteSieveScript(ctx, s.acc.ID, name)
}

func (s *storeSession) Rename(ctx context.Context, from, to string) error {
	return s.st.RenameSieveScript(ctx, s.acc.ID, from, to)
}
