package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDAVImportOf100000ContactsMeetsTheCap: an import of 100,000
// contacts into one address book is refused as a whole, before writing,
// with the limit in the error. Then, under a lowered limit, an import up
// to the limit fits, one past it is refused whole, and a PUT past it is
// refused while a change is not.
func TestDAVImportOf100000ContactsMeetsTheCap(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a := newAccount(t, s, "big@example.org")
	c, err := s.CreateDAVCollection(ctx, DAVCollection{AccountID: a.ID, Kind: DAVCards, Name: "default"}, true)
	if err != nil {
		t.Fatal(err)
	}
	objs := make([]DAVImport, 100000)
	for i := range objs {
		uid := fmt.Sprintf("c-%06d", i)
		objs[i] = DAVImport{UID: uid, Name: uid + ".vcf", Data: []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:P\r\nEND:VCARD\r\n")}
	}
	start := time.Now()
	_, err = s.ImportDAVObjects(ctx, c.ID, objs)
	if !errors.Is(err, ErrCollectionFull) || !strings.Contains(err.Error(), fmt.Sprint(DAVMaxObjects)) {
		t.Fatalf("100,000 contacts: %v", err)
	}
	t.Logf("refused in %v", time.Since(start))
	if got, err := s.DAVObjects(ctx, c.ID, false); err != nil || len(got) != 0 {
		t.Fatalf("a refused import left %d objects (%v)", len(got), err)
	}
	defer func(n int) { davObjectLimit = n }(davObjectLimit)
	davObjectLimit = 100
	if _, err := s.ImportDAVObjects(ctx, c.ID, objs[:60]); err != nil {
		t.Fatalf("an import below the limit: %v", err)
	}
	if _, err := s.ImportDAVObjects(ctx, c.ID, objs[50:150]); !errors.Is(err, ErrCollectionFull) {
		t.Fatalf("an import that ends past the limit: %v", err)
	}
	if got, err := s.DAVObjects(ctx, c.ID, false); err != nil || len(got) != 60 {
		t.Fatalf("after a refused import: %d objects (%v)", len(got), err)
	}
	if _, err := s.ImportDAVObjects(ctx, c.ID, objs[40:100]); err != nil {
		t.Fatalf("an import up to the limit: %v", err)
	}
	last := objs[100]
	if _, _, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: last.Name, UID: last.UID, Data: last.Data}); !errors.Is(err, ErrCollectionFull) {
		t.Fatalf("a PUT past the limit: %v", err)
	}
	first := objs[0]
	if _, _, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: first.Name, UID: first.UID, Data: append(first.Data, ' ')}); err != nil {
		t.Fatalf("a change at the limit: %v", err)
	}
}
