package webmail

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

const testHost = "mx.box.example"

// newSettingsFixture is newFixture with admin.Service and the hostname
// set; it returns the server too (its unsubscribe client is replaced in
// tests).
func newSettingsFixture(t *testing.T, withAdmin bool) (*fixture, *Server) {
	t.Helper()
	ctx := context.Background()
	st := testutil.Store(t)
	if err := st.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st}
	var err error
	if f.a, err = st.AddAccount(ctx, "a@example.net", "password-of-a-1", false); err != nil {
		t.Fatal(err)
	}
	if f.b, err = st.AddAccount(ctx, "b@example.net", "password-of-b-1", false); err != nil {
		t.Fatal(err)
	}
	accounts := map[string]store.Account{"a": f.a, "b": f.b}
	d := delivery.New(delivery.Options{Store: st, Hostname: testHost})
	o := Options{Store: st, Sender: d, Hostname: testHost,
		Session: func(r *http.Request) (Session, bool) {
			c, err := r.Cookie("s")
			if err != nil {
				return Session{}, false
			}
			a, ok := accounts[c.Value]
			return Session{AccountID: a.ID, Email: a.Email, CSRF: csrfOf + c.Value}, ok
		},
		LoginToken: func(w http.ResponseWriter) string { return "login-token" },
	}
	if withAdmin {
		o.Admin = admin.New(admin.Options{Store: st, Deliverer: d})
	}
	s := New(o)
	t.Cleanup(s.Shutdown)
	f.ts = httptest.NewServer(s)
	t.Cleanup(f.ts.Close)
	return f, s
}

func (f *fixture) script(a store.Account) string {
	f.t.Helper()
	sc, err := f.st.ActiveSieveScript(context.Background(), a.ID)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return sc.Content
}

// The settings page sets filters and the vacation reply as Sieve rules
// of the account (refusing input that cannot be one), only with the
// session's CSRF token, and shows them back.
func TestSettingsFiltersAndVacation(t *testing.T) {
	f, _ := newSettingsFixture(t, true)
	res, body := f.do("a", "GET", "/mail/settings", nil)
	if res.StatusCode != 200 || !strings.Contains(body, `id="filter-form"`) || !strings.Contains(body, `action="/account"`) ||
		!strings.Contains(body, `name="password2"`) || !strings.Contains(body, `id="vacation-days"`) {
		t.Fatalf("settings page: %d\n%s", res.StatusCode, body)
	}
	add := url.Values{"csrf": {csrfOf + "a"}, "op": {"add"}, "field": {"list-id"}, "contains": {`news "weekly" \ list`},
		"action": {"move"}, "folder": {"Archive"}, "name": {"Lists"}}
	if res, _ := f.do("a", "POST", "/mail/settings/filter", add); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add filter: %d", res.StatusCode)
	}
	fwd := url.Values{"csrf": {csrfOf + "a"}, "op": {"add"}, "field": {"subject"}, "contains": {"invoice"}, "action": {"forward"}, "arg": {"b@example.net"}}
	if res, body := f.do("a", "POST", "/mail/settings/filter", fwd); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add forward filter: %d %s", res.StatusCode, body)
	}
	sc := f.script(f.a)
	if !strings.Contains(sc, `if header :contains ["list-id"] "news \"weekly\" \\ list"`) || !strings.Contains(sc, `redirect :copy "b@example.net";`) {
		t.Errorf("script:\n%s", sc)
	}
	_, body = f.do("a", "GET", "/mail/settings", nil)
	if !strings.Contains(body, "news &#34;weekly&#34; \\ list") || !strings.Contains(body, "Subject: invoice") {
		t.Errorf("filters not shown:\n%s", body)
	}

	bad := url.Values{"csrf": {csrfOf + "a"}, "op": {"add"}, "field": {"subject"}, "contains": {"x\r\n# rule:[Evil]"}, "action": {"read"}}
	res, body = f.do("a", "POST", "/mail/settings/filter", bad)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "one line") || strings.Contains(f.script(f.a), "Evil") {
		t.Errorf("a line break: %d\n%s", res.StatusCode, body)
	}
	noCSRF := url.Values{"op": {"add"}, "field": {"subject"}, "contains": {"y"}, "action": {"read"}}
	if res, _ := f.do("a", "POST", "/mail/settings/filter", noCSRF); res.StatusCode != http.StatusForbidden {
		t.Errorf("without CSRF: %d", res.StatusCode)
	}
	if res, _ := f.do("b", "POST", "/mail/settings/filter", url.Values{"csrf": {csrfOf + "a"}, "op": {"remove"}, "name": {"Lists"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("another session's CSRF: %d", res.StatusCode)
	}

	vac := url.Values{"csrf": {csrfOf + "a"}, "op": {"set"}, "subject": {"Away"}, "body": {"Back soon.\r\n.\r\n"}, "days": {"3"},
		"from": {time.Now().Format("2006-01-02")}, "until": {time.Now().AddDate(0, 0, 10).Format("2006-01-02")}}
	if res, body := f.do("a", "POST", "/mail/settings/vacation", vac); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("vacation: %d %s", res.StatusCode, body)
	}
	sc = f.script(f.a)
	if !strings.Contains(sc, "vacation :days 3 :subject \"Away\"") || !strings.Contains(sc, `currentdate :value "le" "date"`) {
		t.Errorf("vacation script:\n%s", sc)
	}
	vac.Set("days", "0")
	if res, _ := f.do("a", "POST", "/mail/settings/vacation", vac); res.StatusCode != http.StatusBadRequest {
		t.Errorf("0 days: %d", res.StatusCode)
	}
	vac.Set("days", "2")
	vac.Set("body", strings.Repeat("x", maxVacationText+1))
	if res, _ := f.do("a", "POST", "/mail/settings/vacation", vac); res.StatusCode != http.StatusBadRequest {
		t.Errorf("a huge text: %d", res.StatusCode)
	}
	_, body = f.do("a", "GET", "/mail/settings", nil)
	if !strings.Contains(body, `value="3"`) || !strings.Contains(body, "is <b>on</b>") {
		t.Errorf("vacation not shown:\n%s", body)
	}
	if strings.Contains(body, "<b>Vacation</b>") {
		t.Errorf("the vacation rule is listed again among the other rules:\n%s", body)
	}
	if res, _ := f.do("a", "POST", "/mail/settings/vacation", url.Values{"csrf": {csrfOf + "a"}, "op": {"off"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("vacation off: %d", res.StatusCode)
	}
	if res, _ := f.do("a", "POST", "/mail/settings/filter", url.Values{"csrf": {csrfOf + "a"}, "op": {"remove"}, "name": {"Lists"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("remove: %d", res.StatusCode)
	}
	sc = f.script(f.a)
	if strings.Contains(sc, "vacation :days") || strings.Contains(sc, "list-id") || !strings.Contains(sc, "invoice") {
		t.Errorf("after removals:\n%s", sc)
	}
	if f.script(f.b) != "" {
		t.Error("b's script changed")
	}
}

func TestSettingsWithoutAdmin(t *testing.T) {
	f, _ := newSettingsFixture(t, false)
	if res, body := f.do("a", "GET", "/mail/settings", nil); res.StatusCode != 200 || !strings.Contains(body, "cannot be changed here") {
		t.Errorf("page: %d %s", res.StatusCode, body)
	}
	if res, _ := f.do("a", "POST", "/mail/settings/filter", url.Values{"csrf": {csrfOf + "a"}, "op": {"add"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("post: %d", res.StatusCode)
	}
	if res, _ := f.do("", "GET", "/mail/settings", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("no session: %d", res.StatusCode)
	}
	if _, body := f.do("", "GET", "/mail/", nil); !strings.Contains(body, `name="remember" value="1"`) || !strings.Contains(body, `name="password"`) {
		t.Errorf("the login form lacks remember or the account pages' fields:\n%s", body)
	}
}

// signedList is a list message as the box stores it: its own
// Authentication-Results, DKIM passing for list.example, the signature
// covering h.
func signedList(h, unsub string) string {
	return "Authentication-Results: " + testHost + ";\r\n\tdkim=pass header.d=list.example header.s=s1 header.b=AbCd;\r\n\tdmarc=pass header.from=list.example\r\n" +
		"DKIM-Signature: v=1; a=rsa-sha256; d=list.example; s=s1;\r\n\th=" + h + ";\r\n\tbh=x; b=AbCd\r\n efgh\r\n" +
		"From: News <news@list.example>\r\nTo: a@example.net\r\nSubject: Weekly\r\n" + unsub + "\r\nhello\r\n"
}

const oneClick = "List-Unsubscribe: <mailto:leave@list.example?subject=stop>, <https://list.example/u/123>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"

func TestUnsubscribeOffer(t *testing.T) {
	full := "from:to:subject:list-unsubscribe:list-unsubscribe-post"
	cases := []struct {
		name, msg string
		want      unsubOffer
	}{
		{"one-click", signedList(full, oneClick), unsubOffer{OneClick: true, HTTPS: "https://list.example/u/123", Compose: "/mail/compose?subject=stop&to=leave%40list.example"}},
		{"signature without the post field", signedList("from:list-unsubscribe", oneClick), unsubOffer{HTTPS: "https://list.example/u/123", Compose: "/mail/compose?subject=stop&to=leave%40list.example"}},
		{"no post field", signedList(full, "List-Unsubscribe: <https://list.example/u/1>\r\n"), unsubOffer{HTTPS: "https://list.example/u/1"}},
		{"http only", signedList(full, "List-Unsubscribe: <http://list.example/u/1>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), unsubOffer{}},
		{"javascript", signedList(full, "List-Unsubscribe: <javascript:alert(1)>\r\n"), unsubOffer{}},
		{"mailto only", signedList(full, "List-Unsubscribe: <mailto:x@list.example>\r\n"), unsubOffer{Compose: "/mail/compose?subject=unsubscribe&to=x%40list.example"}},
		{"not ours", strings.Replace(signedList(full, oneClick), testHost, "other.example", 1), unsubOffer{HTTPS: "https://list.example/u/123", Compose: "/mail/compose?subject=stop&to=leave%40list.example"}},
		{"another signature's b", strings.Replace(signedList(full, oneClick), "b=AbCd", "b=Zz", 1), unsubOffer{HTTPS: "https://list.example/u/123", Compose: "/mail/compose?subject=stop&to=leave%40list.example"}},
	}
	for _, c := range cases {
		if got := unsubscribeOffer([]byte(c.msg), testHost); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// The one-click button POSTs List-Unsubscribe=One-Click to the list's
// https URL from the server; the real client refuses a loopback address.
func TestUnsubscribeOneClick(t *testing.T) {
	f, s := newSettingsFixture(t, true)
	var mu sync.Mutex
	var got []string
	list := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b)+" "+r.Header.Get("Content-Type")+" ref="+r.Header.Get("Referer"))
		mu.Unlock()
	}))
	defer list.Close()
	msg := signedList("from:list-unsubscribe:list-unsubscribe-post", strings.Replace(oneClick, "https://list.example", list.URL, 1))
	uid := f.deliver(f.a, "INBOX", msg)
	inbox := f.box(f.a, "INBOX")
	path := "/mail/unsubscribe/" + itoa(inbox.ID) + "/" + itoa(int64(uid))

	_, page := f.do("a", "GET", "/mail/msg/"+itoa(inbox.ID)+"/"+itoa(int64(uid)), nil)
	if !strings.Contains(page, `action="`+path+`"`) || !strings.Contains(page, `class="sig s-good"`) {
		t.Fatalf("message page lacks the button or the panel:\n%s", page)
	}
	// The real client: the list's address is loopback, refused.
	res, _ := f.do("a", "POST", path, url.Values{"csrf": {csrfOf + "a"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "note=unsubfailed") {
		t.Errorf("loopback: %d %s", res.StatusCode, loc)
	}
	mu.Lock()
	if len(got) != 0 {
		t.Errorf("the loopback list was asked: %v", got)
	}
	mu.Unlock()

	pool := list.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	s.unsub = unsubscriber{allow: func(netip.AddrPort) bool { return true }, tls: &tls.Config{RootCAs: pool}}
	res, _ = f.do("a", "POST", path, url.Values{"csrf": {csrfOf + "a"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "note=unsubscribed") {
		t.Errorf("one-click: %d %s", res.StatusCode, loc)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != "POST /u/123 List-Unsubscribe=One-Click application/x-www-form-urlencoded ref=" {
		t.Errorf("the list got %q", got)
	}
	mu.Unlock()
	if res, _ := f.do("a", "POST", path, url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("without CSRF: %d", res.StatusCode)
	}
	if res, _ := f.do("b", "POST", path, url.Values{"csrf": {csrfOf + "b"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("another account's message: %d", res.StatusCode)
	}
	plain := f.deliver(f.a, "INBOX", "From: x@y.example\r\nSubject: s\r\n\r\nx\r\n")
	if res, _ := f.do("a", "POST", "/mail/unsubscribe/"+itoa(inbox.ID)+"/"+itoa(int64(plain)), url.Values{"csrf": {csrfOf + "a"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("a message without one-click: %d", res.StatusCode)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A name and signature set on the settings page for one's own address
// come back on the page and in compose's From choices; another person's
// address, a name with a line break and a too long signature are refused.
func TestSettingsSetAnIdentity(t *testing.T) {
	f, _ := newSettingsFixture(t, true)
	set := func(who, addr, name, sig string) int {
		t.Helper()
		res, _ := f.do(who, "POST", "/mail/settings/identity", url.Values{"csrf": {csrfOf + who}, "address": {addr}, "name": {name}, "signature": {sig}})
		return res.StatusCode
	}
	if code := set("a", "A@example.net", "Ann Example", "-- \r\nAnn"); code != http.StatusSeeOther {
		t.Fatalf("setting one's own identity: %d", code)
	}
	ids, err := f.st.Identities(context.Background(), f.a.ID)
	if err != nil || len(ids) != 1 || ids[0].Name != "Ann Example" || ids[0].Signature != "-- \nAnn" || ids[0].Address != "a@example.net" {
		t.Fatalf("stored: %+v %v", ids, err)
	}
	if _, body := f.do("a", "GET", "/mail/settings", nil); !strings.Contains(body, `value="Ann Example"`) {
		t.Error("the settings page does not show the name")
	}
	for _, tc := range []struct{ addr, name, sig string }{
		{"b@example.net", "Not Ann", ""},
		{"a@example.net", "Ann\r\nBcc: x@example.org", ""},
		{"a@example.net", "Ann", strings.Repeat("x", 5000)},
	} {
		if code := set("a", tc.addr, tc.name, tc.sig); code != http.StatusBadRequest {
			t.Errorf("%q %q: %d", tc.addr, tc.name, code)
		}
	}
	if ids, _ := f.st.Identities(context.Background(), f.a.ID); len(ids) != 1 || ids[0].Name != "Ann Example" {
		t.Errorf("a refused change changed something: %+v", ids)
	}
	if res, _ := f.do("a", "POST", "/mail/settings/identity", url.Values{"address": {"a@example.net"}, "name": {"x"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("without CSRF: %d", res.StatusCode)
	}
}
