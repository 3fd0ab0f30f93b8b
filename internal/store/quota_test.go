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
