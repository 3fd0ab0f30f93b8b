package dav

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// remoteStore is a store with the account me@example.net, the box that
// imports.
func remoteStore(t *testing.T) (*store.Store, int64) {
	t.Helper()
	st := testutil.Store(t)
	ctx := context.Background()
	if err := st.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	a, err := st.AddAccount(ctx, "me@example.net", "another-password-2", false)
	if err != nil {
		t.Fatal(err)
	}
	return st, a.ID
}

// TestImportRemoteFromABoxmail: boxmail's own server plays the old one,
// discovered from its bare URL (well-known, principal, home set); every
// collection arrives with its name, display name and objects; a second
// run changes nothing; a changed object is updated.
func TestImportRemoteFromABoxmail(t *testing.T) {
	old := newFixture(t)
	put := func(path, body, typ string) {
		t.Helper()
		if code, b, _ := old.do("ann@example.org", "PUT", path, body, "Content-Type", typ); code/100 != 2 {
			t.Fatalf("PUT %s: %d %s", path, code, b)
		}
	}
	put("/dav/ann@example.org/contacts/default/ann-1.vcf", annCard, "text/vcard")
	put("/dav/ann@example.org/contacts/default/bo.vcf", strings.NewReplacer("ann-1", "bo-2", "Ann Example", "Bo").Replace(annCard), "text/vcard")
	mk := `<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype><D:displayname>Work</D:displayname></D:prop></D:set></D:mkcol>`
	if code, b, _ := old.do("ann@example.org", "MKCOL", "/dav/ann@example.org/calendars/work/", mk, "Content-Type", "application/xml"); code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", code, b)
	}
	put("/dav/ann@example.org/calendars/work/ev-1.ics", event, "text/calendar")

	st, acc := remoteStore(t)
	ctx := context.Background()
	imp := func(kind store.DAVKind) RemoteResult {
		t.Helper()
		res, err := ImportRemote(ctx, st, acc, RemoteOptions{URL: old.srv.URL, Kind: kind, User: "ann@example.org", Password: "secret-password-1", Insecure: true})
		if err != nil || res.Failed != 0 {
			t.Fatalf("import %s: %v %+v", kind, err, res)
		}
		return res
	}
	if res := imp(store.DAVCards); res.Total.Created != 2 || len(res.Collections) != 1 || res.Collections[0].Name != "default" {
		t.Fatalf("contacts: %+v", res)
	}
	if res := imp(store.DAVCalendars); res.Total.Created != 1 || len(res.Collections) != 2 {
		t.Fatalf("calendars: %+v", res)
	}
	work, err := st.DAVCollection(ctx, acc, store.DAVCalendars, "work")
	if err != nil || work.DisplayName != "Work" {
		t.Fatalf("the work calendar: %+v %v", work, err)
	}
	ev, err := st.DAVObject(ctx, work.ID, "ev-1.ics")
	ann, aerr := old.st.AccountByEmail(ctx, "ann@example.org")
	if aerr != nil {
		t.Fatal(aerr)
	}
	oldWork, cerr := old.st.DAVCollection(ctx, ann.ID, store.DAVCalendars, "work")
	if cerr != nil {
		t.Fatal(cerr)
	}
	oldEv, oerr := old.st.DAVObject(ctx, oldWork.ID, "ev-1.ics")
	if err != nil || oerr != nil || ev.UID != "ev-1" || string(ev.Data) != string(oldEv.Data) {
		t.Fatalf("the event: %v %v\n%s\nold:\n%s", err, oerr, ev.Data, oldEv.Data)
	}
	if res := imp(store.DAVCards); res.Total.Unchanged != 2 || res.Total.Created+res.Total.Changed != 0 {
		t.Fatalf("second run: %+v", res.Total)
	}
	put("/dav/ann@example.org/contacts/default/bo.vcf", strings.NewReplacer("ann-1", "bo-2", "Ann Example", "Bo Changed").Replace(annCard), "text/vcard")
	if res := imp(store.DAVCards); res.Total.Changed != 1 || res.Total.Unchanged != 1 {
		t.Fatalf("after a change: %+v", res.Total)
	}
	// The URL of one collection imports only that one.
	res, err := ImportRemote(ctx, st, acc, RemoteOptions{URL: old.srv.URL + "/dav/ann@example.org/calendars/work/", Kind: store.DAVCalendars,
		User: "ann@example.org", Password: "secret-password-1", Insecure: true})
	if err != nil || len(res.Collections) != 1 || res.Collections[0].Name != "work" || res.Total.Unchanged != 1 {
		t.Fatalf("one collection: %v %+v", err, res)
	}
}

// fakeOld is an old server with one address book at /c/ holding the
// objects of files (name -> content), each listed with its length.
func fakeOld(t *testing.T, files map[string]string) *httptest.Server {
	srv := httptest.NewServer(fakeOldHandler(files))
	t.Cleanup(srv.Close)
	return srv
}

func fakeOldHandler(files map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); u != "old" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == "PROPFIND" && r.URL.Path == "/c/" && r.Header.Get("Depth") == "1":
			var b strings.Builder
			b.WriteString(`<?xml version="1.0"?><D:multistatus xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav">`)
			b.WriteString(`<D:response><D:href>/c/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/><A:addressbook/></D:resourcetype><D:displayname>Old book</D:displayname></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`)
			for name, data := range files {
				fmt.Fprintf(&b, `<D:response><D:href>/c/%s</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>%d</D:getcontentlength><D:getetag>"x"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`, name, len(data))
			}
			b.WriteString(`</D:multistatus>`)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusMultiStatus)
			fmt.Fprint(w, b.String())
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/c/"):
			data, ok := files[strings.TrimPrefix(r.URL.Path, "/c/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			fmt.Fprint(w, data)
		default:
			http.NotFound(w, r) // no current-user-principal: the URL is the collection
		}
	}
}

// TestImportRemoteBoundsAndErrors: a malformed and an oversized object
// are skipped by name while the others arrive; a wrong password, a
// closed port, plain http without Insecure and a password in the URL
// are refused in words.
func TestImportRemoteBoundsAndErrors(t *testing.T) {
	srv := fakeOld(t, map[string]string{
		"good.vcf": annCard,
		"bad.vcf":  "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:no end\r\n",
		"big.vcf":  strings.Replace(annCard, "FN:Ann Example", "FN:"+strings.Repeat("x", store.DAVMaxObjectBytes), 1),
	})
	st, acc := remoteStore(t)
	ctx := context.Background()
	opts := RemoteOptions{URL: srv.URL + "/c/", Kind: store.DAVCards, User: "old", Password: "pw", Insecure: true}
	res, err := ImportRemote(ctx, st, acc, opts)
	if err != nil || res.Total.Created != 1 || res.Failed != 2 || len(res.Collections) != 1 || res.Collections[0].DisplayName != "Old book" {
		t.Fatalf("import: %v %+v", err, res)
	}
	reasons := map[string]string{}
	for _, f := range res.Collections[0].Failures {
		reasons[f.Href] = f.Reason
	}
	if !strings.Contains(reasons["/c/bad.vcf"], "malformed") || !strings.Contains(reasons["/c/big.vcf"], "bytes") {
		t.Errorf("failures: %v", reasons)
	}
	opts.MaxObjects = 2
	if _, err := ImportRemote(ctx, st, acc, opts); err == nil || !strings.Contains(err.Error(), "more than the 2") {
		t.Errorf("over --max-objects: %v", err)
	}

	bad := opts
	bad.Password = "wrong"
	if _, err := ImportRemote(ctx, st, acc, bad); !errors.Is(err, ErrRemoteAuth) {
		t.Errorf("wrong password: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportRemote(ctx, st, acc, RemoteOptions{URL: closed, Kind: store.DAVCards, User: "old", Password: "pw", Insecure: true}); !errors.Is(err, ErrRemoteUnreachable) {
		t.Errorf("closed port: %v", err)
	}
	plain := opts
	plain.Insecure = false
	if _, err := ImportRemote(ctx, st, acc, plain); err == nil || !strings.Contains(err.Error(), "--insecure") {
		t.Errorf("http:// without Insecure: %v", err)
	}
	for _, u := range []string{"https://old:s3cret@example.org/", "ftp://old:s3cret@example.org/", "imaps://example.org"} {
		_, err := ImportRemote(ctx, st, acc, RemoteOptions{URL: u, Kind: store.DAVCards})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestImportRemoteTLSAndTimeCap: an old server's self-signed certificate
// is refused unless Insecure, naming the flag; the time cap stops a slow
// server in words.
func TestImportRemoteTLSAndTimeCap(t *testing.T) {
	files := map[string]string{"good.vcf": annCard}
	srv := httptest.NewTLSServer(fakeOldHandler(files))
	t.Cleanup(srv.Close)
	st, acc := remoteStore(t)
	ctx := context.Background()
	opts := RemoteOptions{URL: srv.URL + "/c/", Kind: store.DAVCards, User: "old", Password: "pw"}
	if _, err := ImportRemote(ctx, st, acc, opts); !errors.Is(err, ErrRemoteUnreachable) || !strings.Contains(err.Error(), "--insecure") {
		t.Errorf("a self-signed certificate: %v", err)
	}
	opts.Insecure = true
	if res, err := ImportRemote(ctx, st, acc, opts); err != nil || res.Total.Created != 1 {
		t.Errorf("with Insecure: %v %+v", err, res)
	}

	slow := fakeOldHandler(files)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}
		slow(w, r)
	}))
	t.Cleanup(srv2.Close)
	_, err := ImportRemote(ctx, st, acc, RemoteOptions{URL: srv2.URL + "/c/", Kind: store.DAVCards, User: "old", Password: "pw", Insecure: true, Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "time cap") {
		t.Errorf("a slow server: %v", err)
	}
}
