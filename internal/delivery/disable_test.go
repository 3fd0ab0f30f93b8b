package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

func TestDisabledAccountsAndAliasEdits(t *testing.T) {
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	for _, e := range []string{"a@example.net", "b@example.net"} {
		if _, err := st.AddAccount(ctx, e, "a-good-pass-1", false); err != nil {
			t.Fatal(err)
		}
	}
	d := New(Options{Store: st})
	if err := d.AddAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"a@example.net"}}); err != nil {
		t.Fatal(err)
	}
	// Edit in place: targets and permitted senders replaced, rules kept.
	if err := d.SetAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"nobody@example.net"}}); err == nil {
		t.Error("SetAlias accepted a local target that does not exist")
	}
	if err := d.SetAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"a@example.net"}, Permit: []string{"ghost@example.net"}}); !strings.Contains(fmt.Sprint(err), "not an account here") {
		t.Errorf("permit of a missing account: %v", err)
	}
	if err := d.SetAlias(ctx, store.Alias{Address: "ghost@example.net", Targets: []string{"a@example.net"}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetAlias of a missing alias: %v", err)
	}
	if err := d.SetAlias(ctx, store.Alias{Address: "fam@example.net", Targets: []string{"b@example.net", "x@other.example"}, Permit: []string{"b@example.net"}}); err != nil {
		t.Fatal(err)
	}
	al, _ := st.AliasByAddress(ctx, "fam@example.net")
	if len(al.Targets) != 2 || al.Targets[0] != "b@example.net" || len(al.Permit) != 1 {
		t.Errorf("alias after SetAlias: %+v", al)
	}

	// Disabled: no login, no mail, mail kept; enabled again: both back.
	a, _ := ParseAddress("b@example.net")
	if err := d.SetAccountDisabled(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resolve(ctx, "b@example.net"); !errors.Is(err, ErrUnknownRecipient) {
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
	if err := d.SetAccountDisabled(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	if r, err := d.Resolve(ctx, "b@example.net"); err != nil || len(r.Accounts) != 1 {
		t.Errorf("RCPT after enable: %+v %v", r, err)
	}
	if _, err := st.Authenticate(ctx, "b@example.net", "a-good-pass-1"); err != nil {
		t.Errorf("login after enable: %v", err)
	}
	ghost, _ := ParseAddress("ghost@example.net")
	if err := d.SetAccountDisabled(ctx, ghost, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disabling a missing account: %v", err)
	}
}
