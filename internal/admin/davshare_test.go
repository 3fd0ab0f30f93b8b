package admin

import (
	"context"
	"errors"
	"testing"

	"boxmail/internal/store"
)

func TestDAVShareCreateGrantRevoke(t *testing.T) {
	s, _ := newBox(t)
	ctx := context.Background()
	var ie *InputError
	for _, name := range []string{"../x", "shared~3", ""} {
		if _, err := s.CreateSharedDAVCollection(ctx, "a@example.net", store.DAVCards, name, ""); !errors.As(err, &ie) {
			t.Errorf("collection name %q: %v", name, err)
		}
	}
	if _, err := s.CreateSharedDAVCollection(ctx, "a@example.net", store.DAVCards, "family", "two\nlines"); !errors.As(err, &ie) {
		t.Errorf("a display name of two lines: %v", err)
	}
	if _, err := s.CreateSharedDAVCollection(ctx, "nobody@example.net", store.DAVCards, "family", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a missing owner: %v", err)
	}
	c, err := s.CreateSharedDAVCollection(ctx, "A@example.net", store.DAVCards, "family", "")
	if err != nil || c.DisplayName != "family" {
		t.Fatalf("create: %+v %v", c, err)
	}
	if again, err := s.CreateSharedDAVCollection(ctx, "a@example.net", store.DAVCards, "family", "Other"); err != nil || again.ID != c.ID {
		t.Errorf("create again: %+v %v", again, err)
	}
	if err := s.GrantDAVCollection(ctx, "a@example.net", store.DAVCards, "family", "a@example.net", true); !errors.As(err, &ie) {
		t.Errorf("granted to its owner: %v", err)
	}
	if err := s.GrantDAVCollection(ctx, "a@example.net", store.DAVCalendars, "family", "b@example.net", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a calendar that does not exist: %v", err)
	}
	if err := s.GrantDAVCollection(ctx, "a@example.net", store.DAVCards, "family", "b@example.net", false); err != nil {
		t.Fatal(err)
	}
	shs, err := s.DAVShares(ctx)
	if err != nil || len(shs) != 1 || shs[0].Email != "b@example.net" || shs[0].Write || shs[0].Collection.ID != c.ID {
		t.Fatalf("shares: %+v %v", shs, err)
	}
	if err := s.RevokeDAVCollection(ctx, "a@example.net", store.DAVCards, "family", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDAVCollection(ctx, "a@example.net", store.DAVCards, "family", "b@example.net"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked twice: %v", err)
	}
	for in, want := range map[string]store.DAVKind{"contacts": store.DAVCards, "Calendars": store.DAVCalendars, "calendar": store.DAVCalendars} {
		if got, err := ParseDAVKind(in); err != nil || got != want {
			t.Errorf("ParseDAVKind(%q) = %q %v", in, got, err)
		}
	}
	if _, err := ParseDAVKind("files"); !errors.As(err, &ie) {
		t.Errorf("ParseDAVKind(files): %v", err)
	}
}
