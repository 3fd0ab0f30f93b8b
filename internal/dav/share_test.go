package dav

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"boxmail/internal/store"
)

// TestSharedCalendar: ann's family calendar shared with bob shows in
// bob's calendar home under shared~ID; read-only, bob reads it and gets
// 403 on PUT, DELETE and PROPPATCH; with write, his PUT lands in ann's
// calendar; he cannot remove it or make a shared~ name of his own; once
// revoked it is gone from his home and its paths answer 404.
func TestSharedCalendar(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ann, bob := "ann@example.org", "bob@example.org"
	a, err := f.st.AccountByEmail(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.st.AccountByEmail(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	fam, err := f.st.CreateDAVCollection(ctx, store.DAVCollection{AccountID: a.ID, Kind: store.DAVCalendars, Name: "family", DisplayName: "Family"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := f.do(ann, "PUT", "/dav/ann@example.org/calendars/family/ev-1.ics", event, xmlCT, "text/calendar"); code != http.StatusCreated {
		t.Fatalf("ann's PUT: %d", code)
	}
	shared := fmt.Sprintf("/dav/bob@example.org/calendars/shared~%d/", fam.ID)
	list := `<propfind xmlns="DAV:"><prop><resourcetype/><displayname/></prop></propfind>`
	if _, body, _ := f.do(bob, "PROPFIND", "/dav/bob@example.org/calendars/", list, xmlCT, "application/xml", "Depth", "1"); strings.Contains(body, "shared~") {
		t.Fatalf("bob sees the calendar before the grant: %s", body)
	}
	if code, _, _ := f.do(bob, "GET", shared+"ev-1.ics", ""); code != http.StatusNotFound {
		t.Errorf("GET before the grant: %d", code)
	}
	if err := f.st.ShareDAVCollection(ctx, fam.ID, b.ID, false); err != nil {
		t.Fatal(err)
	}
	code, body, _ := f.do(bob, "PROPFIND", "/dav/bob@example.org/calendars/", list, xmlCT, "application/xml", "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(body, shared) || !strings.Contains(body, "Family") || !strings.Contains(body, "/dav/bob@example.org/calendars/default/") {
		t.Fatalf("bob's calendar home: %d %s", code, body)
	}
	if code, body, _ := f.do(bob, "GET", shared+"ev-1.ics", ""); code != http.StatusOK || !strings.Contains(body, "Dentist") {
		t.Errorf("bob's GET: %d %s", code, body)
	}
	if code, body, _ := f.do(bob, "PROPFIND", shared, `<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>`, xmlCT, "application/xml", "Depth", "1"); code != http.StatusMultiStatus || !strings.Contains(body, shared+"ev-1.ics") {
		t.Errorf("bob's listing: %d %s", code, body)
	}
	sync := `<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
	if code, body, _ := f.do(bob, "REPORT", shared, sync, xmlCT, "application/xml"); code != http.StatusMultiStatus || !strings.Contains(body, shared+"ev-1.ics") {
		t.Errorf("bob's sync-collection: %d %s", code, body)
	}
	ev2 := strings.ReplaceAll(event, "ev-1", "ev-2")
	for _, m := range []struct{ method, path, body string }{
		{"PUT", shared + "ev-2.ics", ev2},
		{"PUT", shared + "ev-1.ics", event},
		{"DELETE", shared + "ev-1.ics", ""},
		{"DELETE", shared, ""},
		{"PROPPATCH", shared, `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>Mine</D:displayname></D:prop></D:set></D:propertyupdate>`},
	} {
		if code, body, _ := f.do(bob, m.method, m.path, m.body, xmlCT, "text/calendar"); code != http.StatusForbidden {
			t.Errorf("read-only %s %s: %d %s", m.method, m.path, code, body)
		}
	}
	if err := f.st.ShareDAVCollection(ctx, fam.ID, b.ID, true); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := f.do(bob, "PUT", shared+"ev-2.ics", ev2, xmlCT, "text/calendar"); code != http.StatusCreated {
		t.Errorf("read/write PUT: %d %s", code, body)
	}
	if code, _, _ := f.do(ann, "GET", "/dav/ann@example.org/calendars/family/ev-2.ics", ""); code != http.StatusOK {
		t.Errorf("bob's event in ann's calendar: %d", code)
	}
	if code, _, _ := f.do(bob, "DELETE", shared, ""); code != http.StatusForbidden {
		t.Errorf("bob removes the shared calendar: %d", code)
	}
	if code, _, _ := f.do(bob, "MKCALENDAR", "/dav/bob@example.org/calendars/shared~77/", ""); code != http.StatusForbidden {
		t.Errorf("MKCALENDAR of a shared~ name: %d", code)
	}
	if err := f.st.UnshareDAVCollection(ctx, fam.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := f.do(bob, "PROPFIND", "/dav/bob@example.org/calendars/", list, xmlCT, "application/xml", "Depth", "1"); strings.Contains(body, "shared~") {
		t.Errorf("bob still sees the revoked calendar: %s", body)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		if code, _, _ := f.do(bob, m, shared+"ev-2.ics", ev2, xmlCT, "text/calendar"); code != http.StatusNotFound {
			t.Errorf("%s after the revoke: %d", m, code)
		}
	}
	if code, _, _ := f.do(ann, "GET", "/dav/ann@example.org/calendars/family/ev-2.ics", ""); code != http.StatusOK {
		t.Errorf("ann's calendar after the revoke: %d", code)
	}
}
