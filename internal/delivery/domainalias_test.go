package delivery

import (
	"context"
	"errors"
	"slices"
	"testing"

	"boxmail/internal/store"
)

// domainAliasFamily adds old.example, a domain alias @old.example ->
// @example.net, an account of its own at old.example (explicit wins),
// an explicit alias there, and an alias elsewhere whose target is an
// address of the old domain.
func domainAliasFamily(t *testing.T) (family, int64) {
	t.Helper()
	ctx := context.Background()
	f := newFamily(t)
	if err := f.st.AddDomain(ctx, "old.example"); err != nil {
		t.Fatal(err)
	}
	stay, err := f.st.AddAccount(ctx, "stay@old.example", "pw-pw-pw-pw", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range []store.Alias{
		{Address: "@old.example", Targets: []string{"@example.net"}},
		{Address: "shop@old.example", Targets: []string{"kid@example.net"}},
		{Address: "granny@example.org", Targets: []string{"me@old.example"}},
	} {
		if err := f.st.AddAlias(ctx, al); err != nil {
			t.Fatal(err)
		}
	}
	return f, stay.ID
}

func TestADomainAliasRoutesEachAddressToTheSameLocalPartAtTheNewDomain(t *testing.T) {
	f, stay := domainAliasFamily(t)
	ctx := context.Background()
	for _, tc := range []struct {
		rcpt     string
		accounts []int64
		err      error
	}{
		{rcpt: "me@old.example", accounts: []int64{f.me}},
		{rcpt: "Me+News@Old.Example", accounts: []int64{f.me}},
		{rcpt: "family@old.example", accounts: []int64{f.me, f.kid}}, // an alias at the new domain
		{rcpt: "stay@old.example", accounts: []int64{stay}},          // an account there wins
		{rcpt: "shop@old.example", accounts: []int64{f.kid}},         // an explicit alias wins
		{rcpt: "shop@example.net", err: ErrUnknownRecipient},
		{rcpt: "nobody@old.example", err: ErrUnknownRecipient}, // unknown at the new domain
		{rcpt: "granny@example.org", accounts: []int64{f.me}},  // an alias to a domain-aliased address
	} {
		r, err := f.d.Resolve(ctx, tc.rcpt)
		if !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%s) error %v, want %v", tc.rcpt, err, tc.err)
			continue
		}
		if !slices.Equal(r.Accounts, tc.accounts) || len(r.Remote) != 0 {
			t.Errorf("Resolve(%s) = %+v, want accounts %v", tc.rcpt, r, tc.accounts)
		}
	}
}

func TestADomainAliasToADomainWithACatchAllEndsInTheCatchAll(t *testing.T) {
	f, _ := domainAliasFamily(t)
	ctx := context.Background()
	if err := f.st.AddAlias(ctx, store.Alias{Address: "@older.example", Targets: []string{"@example.org"}}); err == nil {
		t.Fatal("alias of an unhosted domain stored") // the store wants the domain
	}
	if err := f.st.AddDomain(ctx, "older.example"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddAlias(ctx, store.Alias{Address: "@older.example", Targets: []string{"@example.org"}}); err != nil {
		t.Fatal(err)
	}
	r, err := f.d.Resolve(ctx, "anyone@older.example")
	if err != nil || !slices.Equal(r.Accounts, []int64{f.kid}) {
		t.Fatalf("Resolve = %+v, %v; want kid by example.org's catch-all", r, err)
	}
}

func TestTheNewAddressMaySendAsTheOldOne(t *testing.T) {
	f, _ := domainAliasFamily(t)
	ctx := context.Background()
	for _, tc := range []struct {
		user, addr string
		ok         bool
	}{
		{"me@example.net", "me@old.example", true},
		{"me@example.net", "me+x@old.example", true},
		{"kid@example.net", "me@old.example", false},
		{"me@example.net", "family@old.example", true}, // family permits me
		{"kid@example.net", "family@old.example", false},
		{"me@example.net", "stay@old.example", false},  // an account of its own
		{"kid@example.net", "shop@old.example", false}, // an alias without a permit list
		{"me@example.net", "MAILER-DAEMON@old.example", false},
		{"me@example.net", "nobody@old.example", false},
	} {
		ok, err := f.d.MayUseSender(ctx, tc.user, tc.addr)
		if err != nil || ok != tc.ok {
			t.Errorf("MayUseSender(%s, %q) = %v, %v; want %v", tc.user, tc.addr, ok, err, tc.ok)
		}
	}
}

func TestADomainAliasToADomainNoLongerHostedTakesNothing(t *testing.T) {
	f, _ := domainAliasFamily(t)
	ctx := context.Background()
	for _, d := range []string{"older.example", "gone.example"} {
		if err := f.st.AddDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.AddAlias(ctx, store.Alias{Address: "@older.example", Targets: []string{"@gone.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RemoveDomain(ctx, "gone.example"); err != nil {
		t.Fatal(err)
	}
	if r, err := f.d.Resolve(ctx, "me@older.example"); !errors.Is(err, ErrUnknownRecipient) {
		t.Fatalf("Resolve = %+v, %v; want unknown, not relayed to gone.example", r, err)
	}
}
