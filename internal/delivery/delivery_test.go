package delivery

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"boxmail/internal/mailauth"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

type family struct {
	d       *Deliverer
	st      *store.Store
	me, kid int64
}

func newFamily(t *testing.T) family {
	t.Helper()
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	st.AddDomain(ctx, "example.org")
	me, err := st.AddAccount(ctx, "me@example.net", "pw-pw-pw-pw", true)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := st.AddAccount(ctx, "kid@example.net", "pw-pw-pw-pw", false)
	for _, a := range []store.Alias{
		{Address: "family@example.net", Targets: []string{"me@example.net", "kid@example.net", "parents@example.net"}, Permit: []string{"me@example.net"}},
		{Address: "parents@example.net", Targets: []string{"me@example.net"}},
		{Address: "ping@example.net", Targets: []string{"pong@example.net"}},
		{Address: "pong@example.net", Targets: []string{"ping@example.net", "kid@example.net"}},
		{Address: "grandma@example.net", Targets: []string{"grandma@oldmail.example"}},
		{Address: "@example.org", Targets: []string{"kid@example.net"}, Permit: []string{"kid@example.net"}},
	} {
		if err := st.AddAlias(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return family{d: New(Options{Store: st}), st: st, me: me.ID, kid: kid.ID}
}

// with gives the family a Deliverer built with o (its Store is the
// family's): the Sieve, Hostname and Queue options are set at
// construction, never after.
func (f *family) with(o Options) *Deliverer {
	o.Store = f.st
	f.d = New(o)
	return f.d
}

func TestRouting(t *testing.T) {
	f := newFamily(t)
	ctx := context.Background()
	for _, tc := range []struct {
		rcpt     string
		accounts []int64
		remote   []string
		err      error
	}{
		{rcpt: "me@example.net", accounts: []int64{f.me}},
		{rcpt: "ME+News@Example.Net", accounts: []int64{f.me}},
		{rcpt: "family@example.net", accounts: []int64{f.me, f.kid}},
		{rcpt: "ping@example.net", accounts: []int64{f.kid}},
		{rcpt: "grandma@example.net", remote: []string{"grandma@oldmail.example"}},
		{rcpt: "postmaster@example.net", accounts: []int64{f.me}},
		{rcpt: "postmaster", accounts: []int64{f.me}},
		{rcpt: "abuse@example.org", accounts: []int64{f.me}}, // role before catch-all
		{rcpt: "anything@example.org", accounts: []int64{f.kid}},
		{rcpt: "nobody@example.net", err: ErrUnknownRecipient},
		{rcpt: "friend@elsewhere.example", remote: []string{"friend@elsewhere.example"}},
		{rcpt: "bad address@example.net", err: ErrBadAddress},
	} {
		r, err := f.d.Resolve(ctx, tc.rcpt)
		if !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%s) error %v, want %v", tc.rcpt, err, tc.err)
			continue
		}
		if !slices.Equal(r.Accounts, tc.accounts) || !slices.Equal(r.Remote, tc.remote) {
			t.Errorf("Resolve(%s) = %+v, want accounts %v remote %v", tc.rcpt, r, tc.accounts, tc.remote)
		}
	}
}

func TestWhoMaySendAsWhat(t *testing.T) {
	f := newFamily(t)
	ctx := context.Background()
	// A second admin-less domain's own account and alias, and accounts and
	// aliases named like another account's +tag.
	f.st.AddAccount(ctx, "boss@example.org", "pw-pw-pw-pw", false)
	f.st.AddAccount(ctx, "me+boss@example.net", "pw-pw-pw-pw", false)
	for _, al := range []store.Alias{
		{Address: "sales@example.org", Targets: []string{"boss@example.org"}, Permit: []string{"boss@example.org"}},
		{Address: "me+news@example.net", Targets: []string{"kid@example.net"}, Permit: []string{"kid@example.net"}},
	} {
		if err := f.st.AddAlias(ctx, al); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		user, addr string
		ok         bool
	}{
		{"me@example.net", "me@example.net", true},
		{"me@example.net", "Me+Shop@example.net", true},
		{"me@example.net", "family@example.net", true},
		{"kid@example.net", "family@example.net", false},
		{"kid@example.net", "me@example.net", false},
		{"kid@example.net", "whatever@example.org", true}, // catch-all permits kid
		{"kid@example.net", "Whatever+x@Example.ORG", true},
		{"me@example.net", "whatever@example.org", false},
		{"me@example.net", "", false},
		{"me@example.net", "someone@gmail.example", false},
		{"me@example.net", "not an address", false},
		// A catch-all covers only what reaches it: not the accounts, the
		// explicit aliases or the role addresses of its domain.
		{"kid@example.net", "boss@example.org", false},       // an account
		{"kid@example.net", "boss+tag@example.org", false},   // an account's +tag
		{"kid@example.net", "sales@example.org", false},      // an explicit alias
		{"kid@example.net", "postmaster@example.org", false}, // role: to the first admin
		{"kid@example.net", "abuse+x@example.org", false},
		{"kid@example.net", "MAILER-DAEMON@example.org", false}, // the box's bounces
		{"boss@example.org", "boss+tag@example.org", true},
		{"boss@example.org", "sales@example.org", true}, // permitted by the alias
		// An exact account or alias wins over the +tag base.
		{"me@example.net", "me+boss@example.net", false}, // an account of its own
		{"me@example.net", "me+news@example.net", false}, // an alias not permitting me
		{"kid@example.net", "me+news@example.net", true}, // ...permitting kid
		{"me+boss@example.net", "me+boss@example.net", true},
		{"me+boss@example.net", "me@example.net", false},
		{"me@example.net", "me+other@example.net", true},
		{"me@example.net", "postmaster@example.net", false},
		{"me@example.net", "parents+x@example.net", false}, // an alias without a permit list
	} {
		ok, err := f.d.MayUseSender(ctx, tc.user, tc.addr)
		if err != nil || ok != tc.ok {
			t.Errorf("MayUseSender(%s, %q) = %v, %v; want %v", tc.user, tc.addr, ok, err, tc.ok)
		}
	}
}

func TestATransactionStoresOneCopyPerMailboxOnlyOnCommit(t *testing.T) {
	f := newFamily(t)
	ctx := context.Background()
	txn := f.d.Begin("friend@elsewhere.example")
	for _, r := range []string{"family@example.net", "me@example.net", "parents@example.net", "grandma@example.net"} {
		if _, err := txn.AddRecipient(ctx, r, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := txn.AddRecipient(ctx, "friend2@elsewhere.example", false); !errors.Is(err, ErrRelayDenied) {
		t.Errorf("relay from unauthenticated: %v", err)
	}
	if l, r := txn.Recipients(); l != 2 || r != 1 {
		t.Errorf("recipients = %d local, %d remote", l, r)
	}
	inbox, _ := f.st.MailboxByName(ctx, f.me, "INBOX")
	if snap, _ := f.st.Snapshot(ctx, inbox.ID); len(snap) != 0 {
		t.Fatal("visible before commit")
	}
	if err := txn.Commit(ctx, []byte("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	if snap, _ := f.st.Snapshot(ctx, inbox.ID); len(snap) != 1 {
		t.Errorf("me got %d copies, want 1", len(snap))
	}
	if q, _ := f.st.Queue(ctx); len(q) != 1 || q[0].Recipients[0] != "grandma@oldmail.example" {
		t.Errorf("queue = %+v", q)
	}
	if err := txn.Commit(ctx, []byte("again")); err == nil {
		t.Error("a transaction committed twice")
	}
}

// The box's SRS addresses route back to whoever they encode: a
// catch-all's permit list does not cover them.
func TestACatchAllDoesNotCoverTheBoxsSRSAddresses(t *testing.T) {
	f := newFamily(t)
	ctx := context.Background()
	now := time.Now()
	srs := &mailauth.SRS{Key: []byte("k")}
	f.with(Options{Sieve: &SieveOptions{SRS: srs, Now: func() time.Time { return now }}})
	addr, err := srs.Forward("friend@outside.example", "example.org", now)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.d.MayUseSender(ctx, "kid@example.net", addr); ok || err != nil {
		t.Errorf("MayUseSender(kid, %s) = %v, %v; want false", addr, ok, err)
	}
	if ok, _ := f.d.MayUseSender(ctx, "kid@example.net", "plain@example.org"); !ok {
		t.Error("the catch-all no longer covers its plain addresses")
	}
}
