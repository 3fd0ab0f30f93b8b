package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// newBox is a store with example.net and two accounts, a@ and b@, and
// the Service over it.
func newBox(t *testing.T) (*Service, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st := testutil.Store(t)
	if err := st.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"a@example.net", "b@example.net"} {
		if _, err := st.AddAccount(ctx, e, "a-good-pass-1", false); err != nil {
			t.Fatal(err)
		}
	}
	return New(Options{Store: st}), st
}

func addr(t *testing.T, s string) delivery.Address {
	t.Helper()
	a, err := delivery.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A new family member gets an account only with a password worth the
// name, and only on a domain the box hosts.
func TestANewAccountNeedsAGoodPasswordAndAHostedDomain(t *testing.T) {
	s, st := newBox(t)
	ctx := context.Background()
	for pw, want := range map[string]string{
		"":                "empty password",
		"short":           "too short",
		"aaaaaaaaaa":      "one repeated character",
		"kid@example.net": "it is the address",
		"Password1":       "most common",
	} {
		var ie *InputError
		if err := s.AddAccount(ctx, addr(t, "kid@example.net"), pw, false); !errors.As(err, &ie) || !strings.Contains(ie.Msg, want) {
			t.Errorf("password %q: %v, want an InputError about %q", pw, err, want)
		}
	}
	if err := s.AddAccount(ctx, addr(t, "kid@elsewhere.example"), "a-good-pass-2", false); err == nil || !strings.Contains(err.Error(), "not hosted here") {
		t.Errorf("account on a foreign domain: %v", err)
	}
	if err := s.AddAccount(ctx, addr(t, "kid@example.net"), "a-good-pass-2", false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(ctx, "kid@example.net", "a-good-pass-2"); err != nil {
		t.Errorf("the new account cannot log in: %v", err)
	}
	if err := s.SetPassword(ctx, addr(t, "kid@example.net"), "12345678"); err == nil {
		t.Error("SetPassword took a common password")
	}
}

// An alias is edited in place, and a closed account keeps its mail but
// neither logs in nor receives until it is opened again.
func TestDisabledAccountsAndAliasEdits(t *testing.T) {
	s, st := newBox(t)
	ctx := context.Background()
	d := delivery.New(delivery.Options{Store: st})
	if err := s.AddAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"a@example.net"}}); err != nil {
		t.Fatal(err)
	}
	// Edit in place: targets and permitted senders replaced, rules kept.
	if err := s.SetAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"nobody@example.net"}}); err == nil {
		t.Error("SetAlias accepted a local target that does not exist")
	}
	if err := s.SetAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"a@example.net"}, Permit: []string{"ghost@example.net"}}); !strings.Contains(fmt.Sprint(err), "not an account here") {
		t.Errorf("permit of a missing account: %v", err)
	}
	if err := s.SetAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"fam@example.net"}}); !strings.Contains(fmt.Sprint(err), "cannot forward to itself") {
		t.Errorf("an alias to itself: %v", err)
	}
	if err := s.SetAlias(ctx, store.Alias{Address: "ghost@example.net", Targets: []string{"a@example.net"}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetAlias of a missing alias: %v", err)
	}
	if err := s.SetAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"b@example.net", "x@other.example"}, Permit: []string{"b@example.net"}}); err != nil {
		t.Fatal(err)
	}
	al, _ := st.AliasByAddress(ctx, "fam@example.net")
	if len(al.Targets) != 2 || al.Targets[0] != "b@example.net" || len(al.Permit) != 1 {
		t.Errorf("alias after SetAlias: %+v", al)
	}

	// Disabled: no login, no mail, mail kept; enabled again: both back.
	b := addr(t, "b@example.net")
	if err := s.SetAccountDisabled(ctx, b, true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resolve(ctx, "b@example.net"); !errors.Is(err, delivery.ErrUnknownRecipient) {
		t.Errorf("RCPT to a disabled account: %v, want unknown recipient", err)
	}
	if r, err := d.Resolve(ctx, "fam@example.net"); err != nil || len(r.Accounts) != 0 || len(r.Remote) != 1 {
		t.Errorf("alias through a disabled account: %+v %v, want only the remote target", r, err)
	}
	if _, err := st.Authenticate(ctx, "b@example.net", "a-good-pass-1"); !errors.Is(err, store.ErrAuthFailed) {
		t.Errorf("login of a disabled account: %v", err)
	}
	if _, err := st.AccountByEmail(ctx, "b@example.net"); err != nil {
		t.Errorf("disabled account gone: %v", err)
	}
	if err := s.SetAccountDisabled(ctx, b, false); err != nil {
		t.Fatal(err)
	}
	if r, err := d.Resolve(ctx, "b@example.net"); err != nil || len(r.Accounts) != 1 {
		t.Errorf("RCPT after enable: %+v %v", r, err)
	}
	if _, err := st.Authenticate(ctx, "b@example.net", "a-good-pass-1"); err != nil {
		t.Errorf("login after enable: %v", err)
	}
	if err := s.SetAccountDisabled(ctx, addr(t, "ghost@example.net"), true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disabling a missing account: %v", err)
	}
}
