package store

import (
	"context"
	"errors"
	"testing"
)

func TestDAVSharesGrantChangeRevokeAndCascade(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	me := newAccount(t, s, "me@example.org")
	kid := newAccount(t, s, "kid@example.org")
	gran := newAccount(t, s, "gran@example.org")
	fam, err := s.CreateDAVCollection(ctx, DAVCollection{AccountID: me.ID, Kind: DAVCalendars, Name: "family", DisplayName: "Family"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ShareDAVCollection(ctx, fam.ID, me.ID, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("shared with its owner: %v", err)
	}
	if err := s.ShareDAVCollection(ctx, fam.ID+100, kid.ID, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing collection: %v", err)
	}
	if err := s.ShareDAVCollection(ctx, fam.ID, 9999, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing account: %v", err)
	}
	if err := s.ShareDAVCollection(ctx, fam.ID, kid.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.ShareDAVCollection(ctx, fam.ID, gran.ID, true); err != nil {
		t.Fatal(err)
	}
	sh, err := s.DAVShared(ctx, kid.ID, DAVCalendars, fam.ID)
	if err != nil || sh.Write || sh.Owner != "me@example.org" || sh.Collection.Name != "family" || sh.Collection.DisplayName != "Family" {
		t.Fatalf("kid's grant: %+v %v", sh, err)
	}
	if _, err := s.DAVShared(ctx, kid.ID, DAVCards, fam.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the calendar as an address book: %v", err)
	}
	if err := s.ShareDAVCollection(ctx, fam.ID, kid.ID, true); err != nil {
		t.Fatal(err)
	}
	if sh, err := s.DAVShared(ctx, kid.ID, DAVCalendars, fam.ID); err != nil || !sh.Write {
		t.Errorf("kid's grant after the change: %+v %v", sh, err)
	}
	if shs, err := s.DAVSharedWith(ctx, gran.ID, DAVCalendars); err != nil || len(shs) != 1 || shs[0].Collection.ID != fam.ID {
		t.Errorf("shared with gran: %+v %v", shs, err)
	}
	if shs, err := s.DAVSharedWith(ctx, gran.ID, DAVCards); err != nil || len(shs) != 0 {
		t.Errorf("address books shared with gran: %+v %v", shs, err)
	}
	if all, err := s.DAVShares(ctx); err != nil || len(all) != 2 || all[0].Email != "gran@example.org" || all[1].Email != "kid@example.org" {
		t.Errorf("all grants: %+v %v", all, err)
	}
	if err := s.UnshareDAVCollection(ctx, fam.ID, kid.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.UnshareDAVCollection(ctx, fam.ID, kid.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked twice: %v", err)
	}
	if _, err := s.DAVShared(ctx, kid.ID, DAVCalendars, fam.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("kid after the revoke: %v", err)
	}
	if err := s.DeleteDAVCollection(ctx, me.ID, DAVCalendars, "family"); err != nil {
		t.Fatal(err)
	}
	if all, err := s.DAVShares(ctx); err != nil || len(all) != 0 {
		t.Errorf("grants of a removed collection: %+v %v", all, err)
	}
}
