package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAppendRespectsTheQuota(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	if err := s.SetQuota(ctx, "me@example.test", 100); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 60)
	if _, _, err := s.Append(ctx, a.ID, "INBOX", msg, 0, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, a.ID, "INBOX", msg, 0, nil, time.Now()); !errors.Is(err, ErrOverQuota) {
		t.Errorf("second append over quota: %v", err)
	}
	u, err := s.AccountUsage(ctx, a.ID)
	if err != nil || u.Used != 60 || u.Quota != 100 || u.Fits(41) || !u.Fits(40) {
		t.Errorf("usage = %+v, %v", u, err)
	}
	if err := s.SetQuota(ctx, "me@example.test", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, a.ID, "INBOX", msg, 0, nil, time.Now()); err != nil {
		t.Errorf("unlimited again: %v", err)
	}
	if l, _ := s.Usages(ctx); len(l) != 1 || l[0].Used != 120 {
		t.Errorf("usages = %+v", l)
	}
	if err := s.SetQuota(ctx, "ghost@example.test", 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("quota of a ghost: %v", err)
	}
	for n, want := range map[int64]string{512: "512 B", 1536: "1.5 KiB", 300 << 20: "300 MiB", 2 << 30: "2 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// postmaster@ and the other role addresses must not go to a closed
// account: the next admin takes them.
func TestRoleAddressesSkipADisabledAdmin(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	first := newAccount(t, s, "boss@example.test")
	second := newAccount(t, s, "deputy@example.test")
	s.SetAdmin(ctx, first.Email, true)
	s.SetAdmin(ctx, second.Email, true)
	if a, _ := s.FirstAdmin(ctx, "example.test"); a.ID != first.ID {
		t.Fatalf("first admin = %s", a.Email)
	}
	if err := s.SetAccountDisabled(ctx, first.Email, true); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.FirstAdmin(ctx, "example.test"); a.ID != second.ID {
		t.Errorf("with the first admin disabled, role mail goes to %s", a.Email)
	}
}

// Accounts without a quota must not pay for summing their mailboxes on
// every delivery (a 100,000-message INBOX made each RCPT scan it).
func TestQuotaFitsDoesNotSumWithoutAQuota(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	s.Append(ctx, a.ID, "INBOX", make([]byte, 500), 0, nil, time.Now())
	fits, u, err := s.QuotaFits(ctx, a.ID, 1<<40)
	if err != nil || !fits || u.Used != 0 {
		t.Errorf("no quota: fits=%v used=%d err=%v; want true, not summed", fits, u.Used, err)
	}
	s.SetQuota(ctx, a.Email, 1000)
	if fits, u, _ := s.QuotaFits(ctx, a.ID, 600); fits || u.Used != 500 {
		t.Errorf("quota 1000, used 500, +600: fits=%v used=%d", fits, u.Used)
	}
}
