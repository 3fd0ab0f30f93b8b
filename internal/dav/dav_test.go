package dav

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

const (
	annCard = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann-1\r\nFN:Ann Example\r\nN:Example;Ann;;;\r\nEMAIL:ann@example.org\r\nEND:VCARD\r\n"
	event   = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:ev-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260110T100000Z\r\nDTEND:20260110T110000Z\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)

type fixture struct {
	t   *testing.T
	srv *httptest.Server
	st  *store.Store
}

func newFixture(t *testing.T) *fixture {
	st := testutil.Store(t)
	ctx := context.Background()
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"ann@example.org", "bob@example.org"} {
		if _, err := st.AddAccount(ctx, e, "secret-password-1", false); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(New(Options{Store: st}))
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, st: st}
}

// do sends a request as user (password secret-password-1) and returns
// the status, the body and the response.
func (f *fixture) do(user, method, path, body string, hdr ...string) (int, string, *http.Response) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, "secret-password-1")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp
}

const xmlCT = "Content-Type"

func TestDiscoveryPutGetQuerySyncAndDelete(t *testing.T) {
	f := newFixture(t)
	ann := "ann@example.org"
	if code, _, resp := f.do("", "PROPFIND", "/.well-known/carddav", ""); code != http.StatusPermanentRedirect || resp.Header.Get("Location") != "/dav/" {
		t.Fatalf("well-known: %d %q", code, resp.Header.Get("Location"))
	}
	if code, _, _ := f.do("", "PROPFIND", "/dav/", ""); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", code)
	}
	propfind := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav" xmlns:K="urn:ietf:params:xml:ns:caldav"><D:prop><D:current-user-principal/><C:addressbook-home-set/><K:calendar-home-set/></D:prop></D:propfind>`
	code, body, _ := f.do(ann, "PROPFIND", "/dav/", propfind, xmlCT, "application/xml", "Depth", "0")
	if code != http.StatusMultiStatus || !strings.Contains(body, "/dav/ann@example.org/") || !strings.Contains(body, "/dav/ann@example.org/contacts/") || !strings.Contains(body, "/dav/ann@example.org/calendars/") {
		t.Fatalf("PROPFIND root: %d %s", code, body)
	}
	code, body, _ = f.do(ann, "PROPFIND", "/dav/ann@example.org/contacts/", `<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:displayname/></D:prop></D:propfind>`, xmlCT, "application/xml", "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(body, "/dav/ann@example.org/contacts/default/") || !strings.Contains(body, "Contacts") {
		t.Fatalf("the default address book: %d %s", code, body)
	}

	props := `<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:displayname/><D:sync-token/><CS:getctag/><D:supported-report-set/><D:resourcetype/></D:prop></D:propfind>`
	code, body, _ = f.do(ann, "PROPFIND", "/dav/ann@example.org/contacts/", props, xmlCT, "application/xml", "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(body, "<sync-token xmlns=\"DAV:\">http://boxmail.invalid/ns/sync/") ||
		!strings.Contains(body, `<getctag xmlns="http://calendarserver.org/ns/">http://boxmail.invalid/ns/sync/`) || !strings.Contains(body, "<sync-collection/>") ||
		!strings.Contains(body, ">Contacts</displayname>") || !strings.Contains(body, "addressbook") {
		t.Fatalf("collection sync properties: %d %s", code, body)
	}
	card := "/dav/ann@example.org/contacts/default/ann-1.vcf"
	code, _, resp := f.do(ann, "PUT", card, annCard, xmlCT, "text/vcard", "If-None-Match", "*")
	etag := resp.Header.Get("ETag")
	if code != http.StatusCreated || etag == "" {
		t.Fatalf("PUT: %d %q", code, etag)
	}
	if code, _, _ := f.do(ann, "PUT", card, annCard, xmlCT, "text/vcard", "If-None-Match", "*"); code != http.StatusPreconditionFailed {
		t.Errorf("PUT If-None-Match * again: %d", code)
	}
	if code, _, _ := f.do(ann, "PUT", card, annCard, xmlCT, "text/vcard", "If-Match", `"stale"`); code != http.StatusPreconditionFailed {
		t.Errorf("PUT with a stale If-Match: %d", code)
	}
	if code, _, _ := f.do(ann, "PUT", "/dav/ann@example.org/contacts/default/other.vcf", annCard, xmlCT, "text/vcard"); code != http.StatusConflict {
		t.Errorf("the same UID under another name: %d", code)
	}
	if code, body, _ := f.do(ann, "GET", card, ""); code != http.StatusOK || !strings.Contains(body, "FN:Ann Example") {
		t.Errorf("GET: %d %s", code, body)
	}

	query := `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter><C:prop-filter name="FN"><C:text-match collation="i;unicode-casemap" match-type="contains">%s</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`
	if code, body, _ := f.do(ann, "REPORT", "/dav/ann@example.org/contacts/default/", strings.Replace(query, "%s", "ann ex", 1), xmlCT, "application/xml", "Depth", "1"); code != http.StatusMultiStatus || !strings.Contains(body, "ann-1.vcf") {
		t.Errorf("addressbook-query that matches: %d %s", code, body)
	}
	if code, body, _ := f.do(ann, "REPORT", "/dav/ann@example.org/contacts/default/", strings.Replace(query, "%s", "zed", 1), xmlCT, "application/xml", "Depth", "1"); code != http.StatusMultiStatus || strings.Contains(body, "ann-1.vcf") {
		t.Errorf("addressbook-query that does not match: %d %s", code, body)
	}

	sync := `<D:sync-collection xmlns:D="DAV:"><D:sync-token>%s</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
	code, body, _ = f.do(ann, "REPORT", "/dav/ann@example.org/contacts/default/", strings.Replace(sync, "%s", "", 1), xmlCT, "application/xml")
	if code != http.StatusMultiStatus || !strings.Contains(body, "ann-1.vcf") || !strings.Contains(body, strings.Trim(etag, `"`)) {
		t.Fatalf("initial sync: %d %s", code, body)
	}
	token := between(body, "<D:sync-token>", "</D:sync-token>")
	if code, _, _ := f.do(ann, "DELETE", card, "", "If-Match", `"wrong"`); code != http.StatusPreconditionFailed {
		t.Errorf("DELETE with a wrong If-Match: %d", code)
	}
	if code, _, _ := f.do(ann, "DELETE", card, "", "If-Match", etag); code != http.StatusNoContent {
		t.Errorf("DELETE: %d", code)
	}
	code, body, _ = f.do(ann, "REPORT", "/dav/ann@example.org/contacts/default/", strings.Replace(sync, "%s", token, 1), xmlCT, "application/xml")
	if code != http.StatusMultiStatus || !strings.Contains(body, "ann-1.vcf") || !strings.Contains(body, "404 Not Found") {
		t.Fatalf("incremental sync: %d %s", code, body)
	}
	if code, _, _ := f.do(ann, "REPORT", "/dav/ann@example.org/contacts/default/", strings.Replace(sync, "%s", "http://elsewhere/1", 1), xmlCT, "application/xml"); code != http.StatusForbidden {
		t.Errorf("a foreign sync token: %d", code)
	}
}

func TestCalendarTimeRangeAndMkcalendar(t *testing.T) {
	f := newFixture(t)
	ann := "ann@example.org"
	ev := "/dav/ann@example.org/calendars/default/ev-1.ics"
	if code, body, _ := f.do(ann, "PUT", ev, event, xmlCT, "text/calendar"); code != http.StatusCreated {
		t.Fatalf("PUT event: %d %s", code, body)
	}
	q := `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="%s" end="%e"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`
	in := strings.NewReplacer("%s", "20260110T000000Z", "%e", "20260111T000000Z").Replace(q)
	out := strings.NewReplacer("%s", "20260201T000000Z", "%e", "20260202T000000Z").Replace(q)
	if code, body, _ := f.do(ann, "REPORT", "/dav/ann@example.org/calendars/default/", in, xmlCT, "application/xml", "Depth", "1"); code != http.StatusMultiStatus || !strings.Contains(body, "ev-1.ics") {
		t.Errorf("a time range around the event: %d %s", code, body)
	}
	if code, body, _ := f.do(ann, "REPORT", "/dav/ann@example.org/calendars/default/", out, xmlCT, "application/xml", "Depth", "1"); code != http.StatusMultiStatus || strings.Contains(body, "ev-1.ics") {
		t.Errorf("a time range away from the event: %d %s", code, body)
	}
	mk := `<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Family</D:displayname></D:prop></D:set></C:mkcalendar>`
	if code, body, _ := f.do(ann, "MKCALENDAR", "/dav/ann@example.org/calendars/family/", mk, xmlCT, "application/xml"); code != http.StatusCreated {
		t.Fatalf("MKCALENDAR: %d %s", code, body)
	}
	if code, _, _ := f.do(ann, "MKCALENDAR", "/dav/ann@example.org/calendars/family/", mk, xmlCT, "application/xml"); code != http.StatusMethodNotAllowed {
		t.Errorf("MKCALENDAR twice: %d", code)
	}
	if code, body, _ := f.do(ann, "PROPFIND", "/dav/ann@example.org/calendars/", `<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>`, xmlCT, "application/xml", "Depth", "1"); !strings.Contains(body, "Family") {
		t.Errorf("the new calendar is not listed: %d %s", code, body)
	}
	patch := `<D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop><D:displayname>Family &amp; friends</D:displayname>%s</D:prop></D:set></D:propertyupdate>`
	code, body, _ := f.do(ann, "PROPPATCH", "/dav/ann@example.org/calendars/family/", strings.Replace(patch, "%s", "<A:calendar-color>#ff0000</A:calendar-color>", 1), xmlCT, "application/xml")
	if code != http.StatusMultiStatus || !strings.Contains(body, "403 Forbidden") || !strings.Contains(body, "424 Failed Dependency") {
		t.Errorf("PROPPATCH with a property we do not keep: %d %s", code, body)
	}
	code, body, _ = f.do(ann, "PROPPATCH", "/dav/ann@example.org/calendars/family/", strings.Replace(patch, "%s", "", 1), xmlCT, "application/xml")
	if code != http.StatusMultiStatus || !strings.Contains(body, "200 OK") {
		t.Errorf("PROPPATCH of the display name: %d %s", code, body)
	}
	if _, body, _ := f.do(ann, "PROPFIND", "/dav/ann@example.org/calendars/family/", `<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>`, xmlCT, "application/xml", "Depth", "0"); !strings.Contains(body, "Family &amp; friends") {
		t.Errorf("the renamed calendar: %s", body)
	}
	if code, _, _ := f.do("bob@example.org", "PROPPATCH", "/dav/ann@example.org/calendars/family/", strings.Replace(patch, "%s", "", 1), xmlCT, "application/xml"); code != http.StatusNotFound {
		t.Errorf("bob renames ann's calendar: %d", code)
	}
}

func TestHostileRequests(t *testing.T) {
	f := newFixture(t)
	ann := "ann@example.org"
	book := "/dav/ann@example.org/contacts/default/"
	if code, _, _ := f.do(ann, "PUT", book+"x.vcf", "this is not a vCard", xmlCT, "text/vcard"); code != http.StatusBadRequest {
		t.Errorf("a malformed vCard: %d", code)
	}
	if code, _, _ := f.do(ann, "PUT", "/dav/ann@example.org/calendars/default/x.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", xmlCT, "text/calendar"); code != http.StatusBadRequest {
		t.Errorf("an empty calendar: %d", code)
	}
	big := strings.Replace(annCard, "FN:Ann Example", "FN:"+strings.Repeat("a", store.DAVMaxObjectBytes), 1)
	if code, _, _ := f.do(ann, "PUT", book+"big.vcf", big, xmlCT, "text/vcard"); code != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized vCard: %d", code)
	}
	for _, p := range []string{
		"/dav/ann@example.org/contacts/default/..%2f..%2fbob@example.org",
		"/dav/ann@example.org/contacts/default/%2e%2e/x.vcf",
		"/dav/ann@example.org/contacts/default/a%2Fb.vcf",
		"/dav/ann@example.org/contacts/../../etc/passwd",
		"/dav/ann@example.org/other/default/x.vcf",
		"/dav/ann@example.org/contacts/default/x/y.vcf",
	} {
		if code, _, _ := f.do(ann, "PUT", p, annCard, xmlCT, "text/vcard"); code < 400 || code >= 500 {
			t.Errorf("PUT %s: %d", p, code)
		}
	}
	for _, m := range []string{"GET", "PUT", "PROPFIND", "DELETE"} {
		if code, _, _ := f.do(ann, m, "/dav/bob@example.org/contacts/default/", annCard, xmlCT, "text/vcard"); code != http.StatusNotFound {
			t.Errorf("%s on bob's address book as ann: %d", m, code)
		}
	}
	req, _ := http.NewRequest("PROPFIND", f.srv.URL+"/dav/", nil)
	req.SetBasicAuth(ann, "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d", resp.StatusCode)
	}
}

func TestImportIsIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.st.AccountByEmail(ctx, "ann@example.org")
	if err != nil {
		t.Fatal(err)
	}
	vcf := annCard + strings.Replace(strings.Replace(annCard, "ann-1", "ann-2", 1), "Ann Example", "Ann Two", 1) +
		"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No UID\r\nEND:VCARD\r\n"
	ics := strings.Replace(event, "END:VCALENDAR\r\n", "", 1) + "BEGIN:VEVENT\r\nUID:ev-2\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Paris:20260112T100000\r\nSUMMARY:Two\r\nEND:VEVENT\r\n" +
		"BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
	for i := range 2 {
		res, err := ImportFile(ctx, f.st, a.ID, store.DAVCards, strings.NewReader(vcf))
		if err != nil || res.Read != 3 || (i == 0 && res.Created != 3) || (i == 1 && res.Unchanged != 3) {
			t.Fatalf("vcf import %d: %+v %v", i, res, err)
		}
		res, err = ImportFile(ctx, f.st, a.ID, store.DAVCalendars, strings.NewReader(ics))
		if err != nil || res.Read != 2 || (i == 1 && res.Unchanged != 2) {
			t.Fatalf("ics import %d: %+v %v", i, res, err)
		}
	}
	code, body, _ := f.do("ann@example.org", "GET", "/dav/ann@example.org/calendars/default/ev-2.ics", "")
	if code != http.StatusOK || !strings.Contains(body, "TZID:Europe/Paris") || strings.Contains(body, "Dentist") {
		t.Errorf("the imported event with its time zone: %d %s", code, body)
	}
	if _, err := ImportFile(ctx, f.st, a.ID, store.DAVCards, strings.NewReader("garbage")); err == nil {
		t.Error("a malformed .vcf imported")
	}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}
