package store

import (
	"context"
	"errors"
	"testing"
)

// undoSchemaAfter17 takes back the migrations after 17 that cannot run
// twice (contacts and calendars; subscriptions, undoSubscriptions), for
// the tests that rebuild an older database (undoSchema17). The others
// create what they create IF NOT EXISTS.
const undoSchemaAfter17 = "DROP TABLE dav_tombstones; DROP TABLE dav_objects; DROP TABLE dav_collections; " + undoSubscriptions

func TestDAVCollectionsObjectsConditionsAndSync(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a := newAccount(t, s, "ann@example.org")
	b := newAccount(t, s, "bob@example.org")

	c, err := s.CreateDAVCollection(ctx, DAVCollection{AccountID: a.ID, Kind: DAVCards, Name: "default", DisplayName: "Contacts"}, true)
	if err != nil || c.ID == 0 || c.DisplayName != "Contacts" {
		t.Fatalf("create: %+v %v", c, err)
	}
	again, err := s.CreateDAVCollection(ctx, DAVCollection{AccountID: a.ID, Kind: DAVCards, Name: "default"}, true)
	if err != nil || again.ID != c.ID {
		t.Fatalf("ensure twice: %+v %v", again, err)
	}
	if _, err := s.CreateDAVCollection(ctx, DAVCollection{AccountID: a.ID, Kind: DAVCards, Name: "default"}, false); !errors.Is(err, ErrExists) {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := s.CreateDAVCollection(ctx, DAVCollection{AccountID: a.ID, Kind: DAVCards, Name: "../x"}, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad name: %v", err)
	}
	if _, err := s.DAVCollection(ctx, b.ID, DAVCards, "default"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob sees ann's address book: %v", err)
	}

	o, created, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: "a.vcf", UID: "a", Data: []byte("one"), IfNoneMatch: "*"})
	if err != nil || !created || o.ETag != DAVETag([]byte("one")) {
		t.Fatalf("put: %+v %v %v", o, created, err)
	}
	if _, _, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: "a.vcf", UID: "a", Data: []byte("x"), IfNoneMatch: "*"}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("If-None-Match * on an existing object: %v", err)
	}
	if _, _, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: "a.vcf", UID: "a", Data: []byte("x"), IfMatch: "stale"}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("a stale If-Match: %v", err)
	}
	if _, _, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: "b.vcf", UID: "a", Data: []byte("x")}); !errors.Is(err, ErrUIDConflict) {
		t.Fatalf("a UID under a second name: %v", err)
	}
	_, token, err := s.DAVChangesSince(ctx, c.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: "a.vcf", UID: "a", Data: []byte("two"), IfMatch: o.ETag}); err != nil || created {
		t.Fatalf("update: %v %v", created, err)
	}
	if _, _, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: "b.vcf", UID: "b", Data: []byte("bee")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDAVObject(ctx, c.ID, "b.vcf", "wrong"); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("delete with a wrong If-Match: %v", err)
	}
	if err := s.DeleteDAVObject(ctx, c.ID, "b.vcf", ""); err != nil {
		t.Fatal(err)
	}
	changes, now, err := s.DAVChangesSince(ctx, c.ID, token)
	if err != nil || now <= token {
		t.Fatalf("changes: %v %d %d", err, now, token)
	}
	want := map[string]bool{"a.vcf": false, "b.vcf": true}
	if len(changes) != 2 {
		t.Fatalf("changes since %d: %+v", token, changes)
	}
	for _, ch := range changes {
		if del, ok := want[ch.Name]; !ok || del != ch.Deleted {
			t.Errorf("change %+v", ch)
		}
	}
	if _, _, err := s.DAVChangesSince(ctx, c.ID, now+5); !errors.Is(err, ErrInvalid) {
		t.Errorf("a token from the future: %v", err)
	}
}

func TestDAVImportIsIdempotentByUID(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a := newAccount(t, s, "ann@example.org")
	c, err := s.CreateDAVCollection(ctx, DAVCollection{AccountID: a.ID, Kind: DAVCalendars, Name: "default"}, true)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := s.ImportDAVObject(ctx, c.ID, "ev1@x", DAVNameFromUID("ev1@x", ".ics"), []byte("e1")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ImportDAVObject(ctx, c.ID, "weird/uid?", DAVNameFromUID("weird/uid?", ".ics"), []byte("e2")); err != nil {
			t.Fatal(err)
		}
	}
	created, changed, err := s.ImportDAVObject(ctx, c.ID, "ev1@x", "other.ics", []byte("e1 changed"))
	if err != nil || created || !changed {
		t.Fatalf("re-import changed: %v %v %v", created, changed, err)
	}
	objs, err := s.DAVObjects(ctx, c.ID, true)
	if err != nil || len(objs) != 2 {
		t.Fatalf("objects: %+v %v", objs, err)
	}
	if o, err := s.DAVObject(ctx, c.ID, "ev1@x.ics"); err != nil || string(o.Data) != "e1 changed" || o.UID != "ev1@x" {
		t.Errorf("the re-imported object %+v %v", o, err)
	}
	if _, _, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: "big.ics", UID: "big", Data: make([]byte, DAVMaxObjectBytes+1)}); !errors.Is(err, ErrCollectionFull) {
		t.Errorf("an object over the limit: %v", err)
	}
}
