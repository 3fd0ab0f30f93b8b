package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIdentitiesSetReplaceRemove(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	if err := s.SetIdentity(ctx, a.ID, Identity{Address: "Me@Example.test", Name: "Me Myself", Signature: "-- \r\nMe\r\n"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetIdentity(ctx, a.ID, Identity{Address: "me@example.test", Name: "Me", Signature: "-- \nMe"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Identities(ctx, a.ID)
	if err != nil || len(l) != 1 || l[0] != (Identity{Address: "me@example.test", Name: "Me", Signature: "-- \nMe"}) {
		t.Fatalf("identities = %+v, %v", l, err)
	}
	if id, err := s.IdentityOf(ctx, a.ID, "ME@example.test"); err != nil || id.Name != "Me" {
		t.Errorf("IdentityOf = %+v, %v", id, err)
	}
	if id, err := s.IdentityOf(ctx, a.ID, "other@example.test"); err != nil || id.Name != "" || id.Signature != "" {
		t.Errorf("IdentityOf an address without a row = %+v, %v", id, err)
	}
	for _, bad := range []Identity{
		{Address: "me@example.test", Name: "Me\r\nBcc: x@y"},
		{Address: "me@example.test", Name: strings.Repeat("n", MaxIdentityName+1)},
		{Address: "me@example.test", Signature: strings.Repeat("s", MaxSignature+1)},
		{Address: "not an address"},
	} {
		if err := s.SetIdentity(ctx, a.ID, bad); !errors.Is(err, ErrBadIdentity) {
			t.Errorf("SetIdentity(%.40q) = %v, want ErrBadIdentity", bad.Name+bad.Address, err)
		}
	}
	if err := s.SetIdentity(ctx, a.ID, Identity{Address: "me@example.test"}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Identities(ctx, a.ID); err != nil || len(l) != 0 {
		t.Errorf("after clearing: %+v, %v", l, err)
	}
}

func TestHeldSubmissionCancelClaimAndRecovery(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	b := newAccount(t, s, "other@example.test")
	now := time.Now()
	h := HeldSubmission{AccountID: a.ID, Account: "me@example.test", Sender: "me@example.test", Recipients: []string{"x@remote.test", "other@example.test"},
		Data: []byte("Subject: hi\r\n\r\nhi\r\n"), ReleaseAt: now.Add(10 * time.Second), Via: "webmail"}
	id1, err := s.HoldSubmission(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.HoldSubmission(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if next, ok, err := s.NextHeldRelease(ctx); err != nil || !ok || next.UnixMilli() != h.ReleaseAt.UnixMilli() {
		t.Errorf("next release = %v %v %v", next, ok, err)
	}
	if due, err := s.DueHeld(ctx, now, 10); err != nil || len(due) != 0 {
		t.Errorf("due before the time: %+v, %v", due, err)
	}
	if _, err := s.CancelHeld(ctx, b.ID, id1); !errors.Is(err, ErrNotFound) {
		t.Errorf("another account cancels: %v", err)
	}
	got, err := s.CancelHeld(ctx, a.ID, id1)
	if err != nil || string(got.Data) != string(h.Data) || !slices.Equal(got.Recipients, h.Recipients) {
		t.Fatalf("cancel = %+v, %v", got, err)
	}
	if ok, err := s.ClaimHeld(ctx, id1); err != nil || ok {
		t.Errorf("claim of a cancelled one = %v, %v", ok, err)
	}
	if ok, err := s.ClaimHeld(ctx, id2); err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if _, err := s.CancelHeld(ctx, a.ID, id2); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel of a claimed one: %v", err)
	}
	// A claimed one is due at once (a release a crash cut short).
	if due, err := s.DueHeld(ctx, now, 10); err != nil || len(due) != 1 || due[0].ID != id2 || !due[0].Claimed {
		t.Errorf("due after a claim: %+v, %v", due, err)
	}
	if err := s.DeleteHeld(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.NextHeldRelease(ctx); err != nil || ok {
		t.Errorf("none held: %v %v", ok, err)
	}
}
