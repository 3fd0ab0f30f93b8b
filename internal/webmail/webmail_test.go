package webmail

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// fixture is a webmail over a temporary store with two accounts, a and
// b, whose sessions are the cookies "a" and "b".
type fixture struct {
	t    *testing.T
	st   *store.Store
	ts   *httptest.Server
	a, b store.Account
}

const csrfOf = "token-of-"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with Options changed by opt; without
// opt, messages are sent at once (no undo hold).
func newFixtureWith(t *testing.T, opt func(*Options)) *fixture {
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
	o := Options{Store: st, Sender: delivery.New(delivery.Options{Store: st, Hostname: "box.example.net"}),
		Session: func(r *http.Request) (Session, bool) {
			c, err := r.Cookie("s")
			if err != nil {
				return Session{}, false
			}
			a, ok := accounts[c.Value]
			return Session{AccountID: a.ID, Email: a.Email, CSRF: csrfOf + c.Value}, ok
		},
		LoginToken: func(w http.ResponseWriter) string { return "login-token" },
		UndoHold:   -1, UploadDir: t.TempDir(),
	}
	if opt != nil {
		opt(&o)
	}
	s := New(o)
	t.Cleanup(s.Shutdown)
	f.ts = httptest.NewUnstartedServer(s)
	f.ts.Config.ReadTimeout = time.Second // as web's server has one: an event stream must outlive it
	f.ts.Start()
	t.Cleanup(f.ts.Close)
	return f
}

// deliver appends a message to a mailbox of an account; it returns its UID.
func (f *fixture) deliver(a store.Account, mailbox, msg string) uint32 {
	f.t.Helper()
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	uid, _, err := f.st.Append(context.Background(), a.ID, mailbox, []byte(msg), 0, nil, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return uid
}

func (f *fixture) box(a store.Account, name string) store.Mailbox {
	f.t.Helper()
	mb, err := f.st.MailboxByName(context.Background(), a.ID, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return mb
}

func (f *fixture) do(who, method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, f.ts.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if who != "" {
		req.AddCookie(&http.Cookie{Name: "s", Value: who})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (f *fixture) flags(a store.Account, mailbox string, uid uint32) store.Flags {
	f.t.Helper()
	ms, err := f.st.LoadMessages(context.Background(), f.box(a, mailbox).ID, []uint32{uid}, store.FlagsOnly)
	if err != nil || len(ms) != 1 {
		f.t.Fatalf("message %d in %s: %v", uid, mailbox, err)
	}
	return ms[0].Flags
}

func simple(subject, body string) string {
	return "From: Sender <s@example.org>\nTo: a@example.net\nSubject: " + subject + "\nDate: Sat, 5 Dec 2026 10:00:00 +0000\nMessage-ID: <m1@example.org>\n\n" + body + "\n"
}

func TestLoginFormIsTheAccountPagesForm(t *testing.T) {
	f := newFixture(t)
	res, page := f.do("", "GET", "/mail/", nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") != ShellCSP {
		t.Fatalf("%s, CSP %q", res.Status, res.Header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{`action="/login"`, `name="csrf" value="login-token"`, `name="email"`, `name="password"`, `name="next" value="/mail/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %s:\n%s", want, page)
		}
	}
	if res.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("the shell may be framed")
	}
	// Other pages send a stranger to the login, and changes are refused.
	if res, _ := f.do("", "GET", fmt.Sprintf("/mail/box/%d", f.box(f.a, "INBOX").ID), nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("list without a session: %s", res.Status)
	}
	if res, _ := f.do("", "POST", fmt.Sprintf("/mail/act/%d", f.box(f.a, "INBOX").ID), url.Values{"op": {"read"}, "uid": {"1"}}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("action without a session: %s", res.Status)
	}
}

func TestListShowsFoldersAndEscapedSubjects(t *testing.T) {
	f := newFixture(t)
	f.deliver(f.a, "INBOX", simple(`<script>alert(1)</script> Hello "you"`, "hi"))
	f.deliver(f.a, "INBOX", simple("=?iso-8859-1?q?Caf=E9_=3Cb=3E?=", "hi"))
	res, page := f.do("a", "GET", "/mail/", nil)
	if res.StatusCode != 200 {
		t.Fatalf("%s\n%s", res.Status, page)
	}
	if strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt; Hello &#34;you&#34;") {
		t.Errorf("subject not escaped:\n%s", page)
	}
	if !strings.Contains(page, "Café &lt;b&gt;") {
		t.Errorf("encoded-word subject not decoded:\n%s", page)
	}
	for _, name := range []string{"INBOX", "Sent", "Trash", "Junk"} {
		if !regexp.MustCompile(fmt.Sprintf(`href="/mail/box/%d"[^>]*><span class="name">%s</span>`, f.box(f.a, name).ID, name)).MatchString(page) {
			t.Errorf("no link to %s:\n%s", name, page)
		}
	}
	if !strings.Contains(page, `<span class="count">2</span>`) {
		t.Errorf("INBOX's unread count missing:\n%s", page)
	}
}

func TestListPagesNewestFirst(t *testing.T) {
	f := newFixture(t)
	for i := 1; i <= 120; i++ {
		f.deliver(f.a, "INBOX", simple(fmt.Sprintf("number %d", i), "x"))
	}
	box := f.box(f.a, "INBOX").ID
	subjects := regexp.MustCompile(`>number (\d+)</a>`)
	for _, c := range []struct {
		page        string
		first, last string
		n           int
	}{{"", "120", "71", 50}, {"?page=2", "70", "21", 50}, {"?page=3", "20", "1", 20}, {"?page=99", "20", "1", 20}} {
		_, p := f.do("a", "GET", fmt.Sprintf("/mail/box/%d%s", box, c.page), nil)
		m := subjects.FindAllStringSubmatch(p, -1)
		if len(m) != c.n || m[0][1] != c.first || m[len(m)-1][1] != c.last {
			t.Errorf("page %q: %d rows, first %v", c.page, len(m), m[:min(len(m), 1)])
		}
	}
}

func TestMessageViewAndBodyFrame(t *testing.T) {
	f := newFixture(t)
	uid := f.deliver(f.a, "INBOX", "From: x@example.org\nSubject: <img src=x onerror=alert(1)>\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nplain\n--b\n"+
		"Content-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"+
		"<p onclick=3D\"x()\">Caf=E9</p><script>alert(1)</script><img src=3D\"http://127.0.0.1:1/x.png\">\n--b--\n")
	box := f.box(f.a, "INBOX").ID
	res, page := f.do("a", "GET", fmt.Sprintf("/mail/msg/%d/%d", box, uid), nil)
	if res.StatusCode != 200 || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Fatalf("%s\n%s", res.Status, page)
	}
	if !strings.Contains(page, fmt.Sprintf(`<iframe id="body" class="body" src="/mail/body/%d/%d" sandbox="allow-same-origin allow-popups"`, box, uid)) {
		t.Errorf("no sandboxed body frame:\n%s", page)
	}
	if f.flags(f.a, "INBOX", uid)&store.FlagSeen != 0 {
		t.Error("GET marked the message read")
	}
	res, body := f.do("a", "GET", fmt.Sprintf("/mail/body/%d/%d", box, uid), nil)
	if got := res.Header.Get("Content-Security-Policy"); got != "sandbox allow-same-origin allow-popups; default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'" {
		t.Errorf("body CSP %q", got)
	}
	if res.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("X-Frame-Options %q", res.Header.Get("X-Frame-Options"))
	}
	if !strings.Contains(body, "<p>Café</p>") || strings.Contains(body, "script") || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "onclick") {
		t.Errorf("body:\n%s", body)
	}
	// Mark read is a POST with the token.
	if res, _ := f.do("a", "POST", fmt.Sprintf("/mail/act/%d", box), url.Values{"op": {"read"}, "uid": {fmt.Sprint(uid)}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF token: %s", res.Status)
	}
	if res, _ := f.do("a", "POST", fmt.Sprintf("/mail/act/%d", box), url.Values{"op": {"read"}, "uid": {fmt.Sprint(uid)}, "csrf": {csrfOf + "a"}},
		"Sec-Fetch-Site", "cross-site"); res.StatusCode != http.StatusForbidden {
		t.Errorf("from another site: %s", res.Status)
	}
	res, _ = f.do("a", "POST", fmt.Sprintf("/mail/act/%d", box), url.Values{"op": {"read"}, "uid": {fmt.Sprint(uid)}, "csrf": {csrfOf + "a"}})
	if res.StatusCode != http.StatusSeeOther || f.flags(f.a, "INBOX", uid)&store.FlagSeen == 0 {
		t.Errorf("mark read: %s, flags %v", res.Status, f.flags(f.a, "INBOX", uid))
	}
}

func TestTextBodyIsEscapedAndLinkified(t *testing.T) {
	f := newFixture(t)
	uid := f.deliver(f.a, "INBOX", "From: x@example.org\nSubject: t\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"+
		"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0PiBzZWUgaHR0cHM6Ly9leGFtcGxlLmNvbS94\n")
	_, body := f.do("a", "GET", fmt.Sprintf("/mail/body/%d/%d", f.box(f.a, "INBOX").ID, uid), nil)
	if !strings.Contains(body, `&lt;script&gt;alert(1)&lt;/script&gt; see <a href="https://example.com/x" target="_blank" rel="noopener noreferrer">https://example.com/x</a>`) {
		t.Errorf("body:\n%s", body)
	}
}

// TestAnotherAccountsMailIsRefused: b names a's mailbox ids and UIDs in
// every route; nothing is shown or changed.
func TestAnotherAccountsMailIsRefused(t *testing.T) {
	f := newFixture(t)
	uid := f.deliver(f.a, "INBOX", simple("secret of a", "the secret text"))
	abox, ajunk := f.box(f.a, "INBOX").ID, f.box(f.a, "Junk").ID
	for _, p := range []string{fmt.Sprintf("/mail/box/%d", abox), fmt.Sprintf("/mail/msg/%d/%d", abox, uid), fmt.Sprintf("/mail/body/%d/%d", abox, uid),
		fmt.Sprintf("/mail/events?box=%d", abox), fmt.Sprintf("/mail/compose?box=%d&uid=%d", abox, uid)} {
		res, page := f.do("b", "GET", p, nil)
		if res.StatusCode != http.StatusNotFound || strings.Contains(page, "secret") {
			t.Errorf("b GET %s: %s\n%s", p, res.Status, page)
		}
	}
	for _, op := range []string{"read", "flag", "move", "delete"} {
		res, _ := f.do("b", "POST", fmt.Sprintf("/mail/act/%d", abox), url.Values{"op": {op}, "uid": {fmt.Sprint(uid)}, "to": {fmt.Sprint(f.box(f.b, "Junk").ID)}, "csrf": {csrfOf + "b"}})
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("b %s on a's mailbox: %s", op, res.Status)
		}
	}
	// Moving b's own message into a's mailbox.
	buid := f.deliver(f.b, "INBOX", simple("b's own", "x"))
	res, _ := f.do("b", "POST", fmt.Sprintf("/mail/act/%d", f.box(f.b, "INBOX").ID), url.Values{"op": {"move"}, "uid": {fmt.Sprint(buid)}, "to": {fmt.Sprint(ajunk)}, "csrf": {csrfOf + "b"}})
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("b moving into a's Junk: %s", res.Status)
	}
	if f.flags(f.a, "INBOX", uid) != store.FlagRecent {
		t.Errorf("a's message changed: %v", f.flags(f.a, "INBOX", uid))
	}
	if c, _ := f.st.Counts(context.Background(), ajunk); c.Messages != 0 {
		t.Error("a's Junk got a message")
	}
	// b's CSRF token is not a's.
	if res, _ := f.do("a", "POST", fmt.Sprintf("/mail/act/%d", abox), url.Values{"op": {"read"}, "uid": {fmt.Sprint(uid)}, "csrf": {csrfOf + "b"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a with b's token: %s", res.Status)
	}
}

func TestFlagMoveDelete(t *testing.T) {
	f := newFixture(t)
	uid := f.deliver(f.a, "INBOX", simple("to move", "x"))
	inbox := f.box(f.a, "INBOX").ID
	post := func(box int64, v url.Values) *http.Response {
		t.Helper()
		v.Set("csrf", csrfOf+"a")
		res, page := f.do("a", "POST", fmt.Sprintf("/mail/act/%d", box), v)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%v: %s\n%s", v, res.Status, page)
		}
		return res
	}
	post(inbox, url.Values{"op": {"flag"}, "uid": {fmt.Sprint(uid)}})
	if f.flags(f.a, "INBOX", uid)&store.FlagFlagged == 0 {
		t.Error("not flagged")
	}
	post(inbox, url.Values{"op": {"read"}, "uid": {fmt.Sprint(uid)}})
	post(inbox, url.Values{"op": {"unread"}, "uid": {fmt.Sprint(uid)}})
	if f.flags(f.a, "INBOX", uid)&store.FlagSeen != 0 {
		t.Error("still read")
	}
	junk := f.box(f.a, "Junk")
	res := post(inbox, url.Values{"op": {"move"}, "uid": {fmt.Sprint(uid)}, "to": {fmt.Sprint(junk.ID)}, "next": {"//evil.example/"}})
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/mail/box/") {
		t.Errorf("went to %q", loc)
	}
	if c, _ := f.st.Counts(context.Background(), junk.ID); c.Messages != 1 {
		t.Fatalf("Junk has %d", c.Messages)
	}
	post(junk.ID, url.Values{"op": {"delete"}, "uid": {"1"}})
	trash := f.box(f.a, "Trash")
	if c, _ := f.st.Counts(context.Background(), trash.ID); c.Messages != 1 {
		t.Fatalf("Trash has %d", c.Messages)
	}
	post(trash.ID, url.Values{"op": {"delete"}, "uid": {"1"}})
	if c, _ := f.st.Counts(context.Background(), trash.ID); c.Messages != 0 {
		t.Fatalf("Trash still has %d", c.Messages)
	}
	uid = f.deliver(f.a, "INBOX", simple("unread", "x"))
	if res, _ := f.do("a", "GET", fmt.Sprintf("/mail/act/%d?op=read&uid=%d&csrf=%s", inbox, uid, csrfOf+"a"), nil); res.StatusCode < 400 || f.flags(f.a, "INBOX", uid)&store.FlagSeen != 0 {
		t.Errorf("GET of an action: %s", res.Status)
	}
}

func TestComposeSendsAndKeepsACopy(t *testing.T) {
	f := newFixture(t)
	uid := f.deliver(f.a, "INBOX", "From: B <b@example.net>\nTo: a@example.net\nSubject: question\nMessage-ID: <q1@example.net>\n\nHow are you?\n")
	inbox := f.box(f.a, "INBOX").ID
	_, page := f.do("a", "GET", fmt.Sprintf("/mail/compose?box=%d&uid=%d", inbox, uid), nil)
	for _, want := range []string{`value="B &lt;b@example.net&gt;"`, `value="Re: question"`, `name="in_reply_to" value="&lt;q1@example.net&gt;"`, "&gt; How are you?"} {
		if !strings.Contains(page, want) {
			t.Errorf("reply form lacks %s:\n%s", want, page)
		}
	}
	form := url.Values{"csrf": {csrfOf + "a"}, "from": {"a@example.net"}, "to": {"b@example.net"}, "subject": {"Re: question\r\nBcc: evil@example.org"},
		"body": {"Fine, thanks.\n> How are you?"}, "in_reply_to": {"<q1@example.net>"}, "references": {"<q1@example.net>"},
		"reply_box": {fmt.Sprint(inbox)}, "reply_uid": {fmt.Sprint(uid)}}
	// A line break in the subject is refused, not flattened.
	if res, page := f.do("a", "POST", "/mail/send", form); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "line breaks") {
		t.Fatalf("subject with CRLF: %s\n%s", res.Status, page)
	}
	form.Set("subject", "Re: question Bcc: evil@example.org")
	res, page := f.do("a", "POST", "/mail/send", form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %s\n%s", res.Status, page)
	}
	got, err := f.st.LoadMessages(context.Background(), f.box(f.b, "INBOX").ID, []uint32{1}, store.BodyFull)
	if err != nil || len(got) != 1 {
		t.Fatalf("b's INBOX: %v", err)
	}
	m := string(got[0].Data)
	for _, want := range []string{"From: <a@example.net>", "In-Reply-To: <q1@example.net>", "Subject: Re: question Bcc: evil@example.org\r\n", "Fine, thanks.", "auth=a@example.net"} {
		if !strings.Contains(m, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, m)
		}
	}
	if c, _ := f.st.Counts(context.Background(), f.box(f.a, "Sent").ID); c.Messages != 1 {
		t.Error("no copy in Sent")
	}
	if f.flags(f.a, "INBOX", uid)&store.FlagAnswered == 0 {
		t.Error("the message replied to is not marked answered")
	}
	// Another account's address as From is refused.
	form.Set("from", "b@example.net")
	if res, page := f.do("a", "POST", "/mail/send", form); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "You may not send as that address") {
		t.Errorf("sending as b: %s\n%s", res.Status, page)
	}
	// An alias that permits a may be used.
	if err := f.st.AddAlias(context.Background(), store.Alias{Address: "family@example.net", Targets: []string{"a@example.net"}, Permit: []string{"a@example.net"}}); err != nil {
		t.Fatal(err)
	}
	form.Set("from", "family@example.net")
	if res, page := f.do("a", "POST", "/mail/send", form); res.StatusCode != http.StatusSeeOther {
		t.Errorf("sending as a permitted alias: %s\n%s", res.Status, page)
	}
}

func TestEventsFollowTheChangeFeed(t *testing.T) {
	f := newFixture(t)
	inbox := f.box(f.a, "INBOX")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/mail/events?box=%d", f.ts.URL, inbox.ID), nil)
	req.AddCookie(&http.Cookie{Name: "s", Value: "a"})
	req.Header.Set("Last-Event-ID", fmt.Sprint(inbox.ModSeq))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", res.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(res.Body)
	// Nothing changed since Last-Event-ID: no state until a delivery.
	go func() {
		time.Sleep(1500 * time.Millisecond) // past the server's ReadTimeout
		f.deliver(f.a, "INBOX", simple("new", "x"))
	}()
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v (%q)", err, lines)
		}
		lines = append(lines, l)
		if strings.HasPrefix(l, "data: ") {
			break
		}
	}
	want := fmt.Sprintf("id: %d\n", inbox.ModSeq+1)
	if !strings.Contains(strings.Join(lines, ""), want) || !strings.Contains(lines[len(lines)-1], `"unread":1,"inbox_unread":1`) {
		t.Errorf("events %q, want %q and one unread", lines, want)
	}
}
