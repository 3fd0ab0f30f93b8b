package webmail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

type part struct{ name, file, value string }

// multipartDo posts parts in order as multipart/form-data.
func (f *fixture) multipartDo(who, path string, parts []part, hdr ...string) (*http.Response, string) {
	f.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		if p.file != "" {
			w, _ := mw.CreateFormFile(p.name, p.file)
			io.WriteString(w, p.value)
		} else {
			mw.WriteField(p.name, p.value)
		}
	}
	mw.Close()
	req, _ := http.NewRequest("POST", f.ts.URL+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: "s", Value: who})
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, string(out)
}

func (f *fixture) count(a store.Account, mailbox string) int {
	f.t.Helper()
	c, err := f.st.Counts(context.Background(), f.box(a, mailbox).ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return int(c.Messages)
}

func TestComposeAttachmentsUpToTheLimit(t *testing.T) {
	dir := t.TempDir()
	f := newFixtureWith(t, func(o *Options) { o.MaxMessageBytes = 64 << 10; o.UploadDir = dir })
	fields := []part{{"csrf", "", csrfOf + "a"}, {"from", "", "a@example.net"}, {"to", "", "b@example.net"}, {"subject", "", "Fotos"}, {"body", "", "Anbei."}}
	res, page := f.multipartDo("a", "/mail/send", append(fields, part{"file", "Übersicht ä.txt", "hello attachment"}))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send with a file: %s\n%s", res.Status, page)
	}
	got, err := f.st.LoadMessages(context.Background(), f.box(f.b, "INBOX").ID, []uint32{1}, store.BodyFull)
	if err != nil || len(got) != 1 {
		t.Fatalf("b's INBOX: %v", err)
	}
	m := string(got[0].Data)
	if !strings.Contains(m, "multipart/mixed") || !strings.Contains(m, "filename*=utf-8''%C3%9Cbersicht%20%C3%A4.txt") || !strings.Contains(m, "aGVsbG8gYXR0YWNobWVudA==") {
		t.Errorf("delivered:\n%s", m)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left in the upload area after the send", len(ents))
	}
	// Too big: a clear error, nothing sent, nothing kept.
	res, page = f.multipartDo("a", "/mail/send", append(fields, part{"file", "big.bin", strings.Repeat("x", 70<<10)}))
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "this box takes messages up to 64 KB") {
		t.Errorf("too big: %s\n%s", res.Status, page)
	}
	if n := f.count(f.b, "INBOX"); n != 1 {
		t.Errorf("b has %d messages", n)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left in the upload area after a refusal", len(ents))
	}
	// The upload route (mail.js) answers JSON; a file before the csrf is refused.
	res, page = f.multipartDo("a", "/mail/upload", []part{{"csrf", "", csrfOf + "a"}, {"file", "a.png", "PNG"}}, "Accept", "application/json")
	var ups []upload
	if res.StatusCode != 200 || json.Unmarshal([]byte(page), &ups) != nil || len(ups) != 1 || ups[0].Name != "a.png" || ups[0].Size != 3 {
		t.Errorf("upload: %s %s", res.Status, page)
	}
	if res, _ := f.multipartDo("a", "/mail/upload", []part{{"file", "a.png", "PNG"}, {"csrf", "", csrfOf + "a"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("file before csrf: %s", res.Status)
	}
	// Another account cannot attach a's upload.
	res, _ = f.do("b", "POST", "/mail/send", url.Values{"csrf": {csrfOf + "b"}, "from": {"b@example.net"}, "to": {"a@example.net"}, "subject": {"x"}, "att": {ups[0].ID}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("b sends: %s", res.Status)
	}
	got, _ = f.st.LoadMessages(context.Background(), f.box(f.a, "INBOX").ID, []uint32{1}, store.BodyFull)
	if len(got) != 1 || strings.Contains(string(got[0].Data), "a.png") {
		t.Errorf("b attached a's upload")
	}
}

func TestDraftSaveReplaceContinueAndSend(t *testing.T) {
	f := newFixture(t)
	save := func(v url.Values) (uid uint32) {
		t.Helper()
		res, page := f.do("a", "POST", "/mail/draft", v, "Accept", "application/json")
		var r struct{ UID uint32 }
		if res.StatusCode != 200 || json.Unmarshal([]byte(page), &r) != nil || r.UID == 0 {
			t.Fatalf("save: %s %s", res.Status, page)
		}
		return r.UID
	}
	v := url.Values{"csrf": {csrfOf + "a"}, "from": {"a@example.net"}, "to": {"b@example.net, not an address"}, "bcc": {"hidden@elsewhere.test"}, "subject": {"Plan"}, "body": {"first"}}
	uid1 := save(v)
	v.Set("draft_uid", fmt.Sprint(uid1))
	v.Set("body", "second version")
	uid2 := save(v)
	drafts := f.box(f.a, "Drafts")
	if n := f.count(f.a, "Drafts"); n != 1 || uid2 == uid1 || f.flags(f.a, "Drafts", uid2)&store.FlagDraft == 0 {
		t.Fatalf("Drafts has %d, uid %d→%d, flags %v", n, uid1, uid2, f.flags(f.a, "Drafts", uid2))
	}
	_, page := f.do("a", "GET", fmt.Sprintf("/mail/compose?mode=draft&box=%d&uid=%d", drafts.ID, uid2), nil)
	for _, want := range []string{`value="b@example.net, not an address"`, `value="hidden@elsewhere.test"`, `value="Plan"`, ">second version</textarea>", fmt.Sprintf(`name="draft_uid" value="%d"`, uid2)} {
		if !strings.Contains(page, want) {
			t.Errorf("continued draft lacks %s:\n%s", want, page)
		}
	}
	v.Set("draft_uid", fmt.Sprint(uid2))
	v.Set("to", "b@example.net")
	if res, page := f.do("a", "POST", "/mail/send", v); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send the draft: %s\n%s", res.Status, page)
	}
	if n := f.count(f.a, "Drafts"); n != 0 {
		t.Errorf("the sent draft stays: %d", n)
	}
	got, _ := f.st.LoadMessages(context.Background(), f.box(f.a, "Sent").ID, []uint32{1}, store.BodyFull)
	if len(got) != 1 || !strings.Contains(string(got[0].Data), "Bcc: <hidden@elsewhere.test>") {
		t.Error("the Sent copy lacks Bcc")
	}
	got, _ = f.st.LoadMessages(context.Background(), f.box(f.b, "INBOX").ID, []uint32{1}, store.BodyFull)
	if len(got) != 1 || strings.Contains(string(got[0].Data), "hidden@") {
		t.Error("the Bcc shows in what b got")
	}
	// Past recipients (from Sent) are offered: JSON and the datalist.
	if _, page := f.do("a", "GET", "/mail/recipients?q=HIDDEN", nil); strings.TrimSpace(page) != `["hidden@elsewhere.test"]` {
		t.Errorf("recipients: %s", page)
	}
	if _, page := f.do("a", "GET", "/mail/compose", nil); !strings.Contains(page, `<option value="b@example.net">`) {
		t.Errorf("no datalist of past recipients:\n%s", page)
	}
}

func TestUndoSend(t *testing.T) {
	var d *delivery.Deliverer
	f := newFixtureWith(t, func(o *Options) {
		d = delivery.New(delivery.Options{Store: o.Store, Hostname: "box.example.net"})
		o.Sender, o.UndoHold = d, 10*time.Second
	})
	ctx := context.Background()
	v := url.Values{"csrf": {csrfOf + "a"}, "from": {"a@example.net"}, "to": {"b@example.net"}, "subject": {"oops"}, "body": {"not yet"}}
	res, page := f.do("a", "POST", "/mail/send", v)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/mail/sent?held=") {
		t.Fatalf("send: %s %q\n%s", res.Status, loc, page)
	}
	_, page = f.do("a", "GET", loc, nil)
	if !strings.Contains(page, `id="undo"`) {
		t.Fatalf("no Undo:\n%s", page)
	}
	q, _ := url.ParseQuery(strings.TrimPrefix(loc, "/mail/sent?"))
	d.ReleaseHeld(ctx, time.Now()) // within the hold: nothing leaves
	if n := f.count(f.b, "INBOX"); n != 0 {
		t.Fatalf("delivered during the hold: %d", n)
	}
	res, page = f.do("a", "POST", "/mail/undo", url.Values{"csrf": {csrfOf + "a"}, "held": {q.Get("held")}, "sent_uid": {q.Get("uid")}})
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "mode=draft") {
		t.Fatalf("undo: %s %q\n%s", res.Status, res.Header.Get("Location"), page)
	}
	d.ReleaseHeld(ctx, time.Now().Add(time.Minute))
	if f.count(f.b, "INBOX") != 0 || f.count(f.a, "Sent") != 0 || f.count(f.a, "Drafts") != 1 {
		t.Errorf("after undo: b %d, Sent %d, Drafts %d", f.count(f.b, "INBOX"), f.count(f.a, "Sent"), f.count(f.a, "Drafts"))
	}
	_, page = f.do("a", "GET", res.Header.Get("Location"), nil)
	if !strings.Contains(page, ">not yet</textarea>") {
		t.Errorf("the undone message does not reopen:\n%s", page)
	}
	// A second undo is too late; a message not undone leaves after the hold.
	if res, _ := f.do("a", "POST", "/mail/undo", url.Values{"csrf": {csrfOf + "a"}, "held": {q.Get("held")}}); res.StatusCode != http.StatusConflict {
		t.Errorf("second undo: %s", res.Status)
	}
	if res, _ := f.do("a", "POST", "/mail/send", v); res.StatusCode != http.StatusSeeOther {
		t.Fatal(res.Status)
	}
	d.ReleaseHeld(ctx, time.Now().Add(11*time.Second))
	if n := f.count(f.b, "INBOX"); n != 1 {
		t.Errorf("after the hold b has %d", n)
	}
}

func TestReplyAllAndForwardPages(t *testing.T) {
	f := newFixture(t)
	if err := f.st.AddAlias(context.Background(), store.Alias{Address: "family@example.net", Targets: []string{"a@example.net", "b@example.net"}}); err != nil {
		t.Fatal(err)
	}
	uid := f.deliver(f.a, "INBOX", "From: C <c@elsewhere.test>\nTo: family@example.net, d@elsewhere.test\nCc: A <a@example.net>, e@elsewhere.test\nSubject: Re: trip\nMessage-ID: <t2@elsewhere.test>\nReferences: <t1@elsewhere.test>\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nplans\n--b\nContent-Type: image/png\nContent-Disposition: attachment; filename=map.png\nContent-Transfer-Encoding: base64\n\nUE5H\n--b--\n")
	inbox := f.box(f.a, "INBOX").ID
	_, page := f.do("a", "GET", fmt.Sprintf("/mail/compose?mode=all&box=%d&uid=%d", inbox, uid), nil)
	for _, want := range []string{`name="to" id="to" value="C &lt;c@elsewhere.test&gt;"`, `name="cc" id="cc" value="d@elsewhere.test, e@elsewhere.test"`,
		`value="Re: trip"`, `value="&lt;t1@elsewhere.test&gt; &lt;t2@elsewhere.test&gt;"`, "&gt; plans"} {
		if !strings.Contains(page, want) {
			t.Errorf("reply-all lacks %s:\n%s", want, page)
		}
	}
	_, page = f.do("a", "GET", fmt.Sprintf("/mail/compose?mode=forward&box=%d&uid=%d", inbox, uid), nil)
	if !strings.Contains(page, `value="Fwd: Re: trip"`) || !strings.Contains(page, "map.png") || !strings.Contains(page, "Forwarded message") {
		t.Errorf("forward:\n%s", page)
	}
	_, page = f.do("a", "GET", fmt.Sprintf("/mail/compose?mode=attach&box=%d&uid=%d", inbox, uid), nil)
	if !strings.Contains(page, "Re_ trip.eml") && !strings.Contains(page, "Re: trip.eml") {
		t.Errorf("forward as attachment:\n%s", page)
	}
	_ = mime.QEncoding
}

func TestIdentityNameAndSignature(t *testing.T) {
	f := newFixture(t)
	if err := f.st.SetIdentity(context.Background(), f.a.ID, store.Identity{Address: "a@example.net", Name: "Anna Ä", Signature: "Anna\nphone 123"}); err != nil {
		t.Fatal(err)
	}
	_, page := f.do("a", "GET", "/mail/compose", nil)
	if !strings.Contains(page, "Anna Ä &lt;a@example.net&gt;</option>") || !strings.Contains(page, "\n-- \nAnna\nphone 123\n</textarea>") {
		t.Errorf("compose page:\n%s", page)
	}
	v := url.Values{"csrf": {csrfOf + "a"}, "from": {"a@example.net"}, "to": {"b@example.net"}, "subject": {"x"}, "body": {"hi"}}
	if res, page := f.do("a", "POST", "/mail/send", v); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %s\n%s", res.Status, page)
	}
	got, _ := f.st.LoadMessages(context.Background(), f.box(f.b, "INBOX").ID, []uint32{1}, store.BodyFull)
	if len(got) != 1 || !strings.Contains(string(got[0].Data), "From: =?utf-8?q?Anna_=C3=84?= <a@example.net>") {
		t.Errorf("From with the display name:\n%s", got[0].Data)
	}
}
