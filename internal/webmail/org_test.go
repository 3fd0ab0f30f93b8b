package webmail

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

func TestGroupThreads(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 12, d, 10, 0, 0, 0, time.UTC) }
	msgs := []threadMsg{
		{ID: "<a@x>", Subject: "Picnic", When: day(1)},                                          // 0
		{ID: "<b@x>", Refs: []string{"<a@x>"}, Subject: "Re: Picnic", When: day(2)},             // 1
		{ID: "<c@x>", Subject: "Bills", When: day(3)},                                           // 2
		{ID: "<d@x>", Refs: []string{"<gone@x>", "<b@x>"}, Subject: "Re: Picnic", When: day(5)}, // 3
		{ID: "<e@x>", Subject: "AW: [family] Bills", When: day(4)},                              // 4: by subject
		{ID: "<f@x>", Subject: "Picnic", When: day(6)},                                          // 5: same subject, not a reply: alone
		{ID: "<g@x>", Refs: []string{"<lost@x>"}, Subject: "x", When: day(7)},                   // 6
		{ID: "<h@x>", Refs: []string{"<lost@x>"}, Subject: "y", When: day(8)},                   // 7: shares a missing parent with 6
	}
	got := groupThreads(msgs)
	want := [][]int{{7, 6}, {5}, {3, 1, 0}, {4, 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("threads %v, want %v", got, want)
	}
	if n, r := normSubject("  Re: RE:  [List] Fwd: Hello   World "); n != "hello world" || !r {
		t.Errorf("normSubject: %q %v", n, r)
	}
	if ids := msgIDs("<A@x> junk <b@y>\r\n <>"); !slices.Equal(ids, []string{"<a@x>", "<b@y>"}) {
		t.Errorf("msgIDs: %q", ids)
	}
}

func TestFileIntoRule(t *testing.T) {
	for _, c := range []struct {
		kind, value, folder string
		want                string // the rule's test and fileinto lines; "" for refused
	}{
		{"list", "news.example.org", "News", "if header :contains \"list-id\" \"news.example.org\"\n{\n\tfileinto \"News\";"},
		{"sender", "bob@example.org", "Family/Bob", "if address :is \"from\" \"bob@example.org\"\n{\n\tfileinto \"Family/Bob\";"},
		{"list", `a"b\c`, `Q"uo\te`, `if header :contains "list-id" "a\"b\\c"` + "\n{\n\tfileinto \"Q\\\"uo\\\\te\";"},
		{"list", "x\r\nfileinto \"Evil\";", "News", ""},
		{"list", "x\x00y", "News", ""},
		{"sender", "a@b", "Ne\nws", ""},
		{"sender", "a@b", "Ne\x00ws", ""},
		{"list", "0", "\u009c", ""}, // C1 control: sieve refuses it in a mailbox name
		{"sender", "", "News", ""},
		{"other", "a@b", "News", ""},
		{"list", strings.Repeat("x", 300), "News", ""},
	} {
		name, text, err := fileIntoRule(c.kind, c.value, c.folder)
		if c.want == "" {
			if err == nil {
				t.Errorf("%q %q: accepted:\n%s", c.value, c.folder, text)
			}
			continue
		}
		if err != nil || !strings.Contains(text, c.want) || strings.ContainsAny(name, "[]\r\n") {
			t.Errorf("%q %q: %v %q\n%s", c.value, c.folder, err, name, text)
			continue
		}
		src, err := withRule("", text)
		if err != nil {
			t.Errorf("%q: %v\n%s", c.value, err, src)
			continue
		}
		sc, err := sieve.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		acts, err := sc.Run(sieve.ParseMessage([]byte("List-Id: News <"+c.value+">\r\nFrom: "+c.value+"\r\nSubject: s\r\n\r\nhi\r\n"), "x@y", "me@z"), sieve.RunOptions{})
		if fi, ok := firstAction(acts).(sieve.FileInto); err != nil || !ok || fi.Mailbox != c.folder {
			t.Errorf("%q: actions %v %v", c.value, acts, err)
		}
	}
	// A bracket in a name would end the marker early.
	if name, _, _ := fileIntoRule("list", "a]b[c", "F"); strings.ContainsAny(name, "[]") {
		t.Errorf("name %q", name)
	}
	// A script that already requires things keeps them, gains fileinto once.
	src, err := withRule("require [\"vacation\"];\n# rule:[x]\nif false # true\n{\n\tkeep;\n}\n", "# rule:[y]\nif true\n{\n\tfileinto \"A\";\n}\n")
	if err != nil || strings.Count(src, "fileinto") != 2 || !strings.Contains(src, "vacation") {
		t.Errorf("%v\n%s", err, src)
	}
	if _, err := withRule("if true {\n", "# rule:[y]\nif true\n{\n\tfileinto \"A\";\n}\n"); err == nil {
		t.Error("a broken script was extended")
	}
}

func firstAction(a []sieve.Action) sieve.Action {
	if len(a) == 0 {
		return nil
	}
	return a[0]
}

func FuzzFileIntoRule(f *testing.F) {
	f.Add("list", "a\"b\\c", "Folder")
	f.Add("sender", "x@y", "F\"/\\")
	f.Fuzz(func(t *testing.T, kind, value, folder string) {
		_, text, err := fileIntoRule(kind, value, folder)
		if err != nil {
			return
		}
		if _, err := withRule("", text); err != nil {
			t.Fatalf("%q %q: %v\n%s", value, folder, err, text)
		}
	})
}

// appendAt puts a message in a mailbox with an arrival time.
func (f *fixture) appendAt(a store.Account, mailbox, msg string, at time.Time, fl store.Flags) uint32 {
	f.t.Helper()
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	uid, _, err := f.st.Append(context.Background(), a.ID, mailbox, []byte(msg), fl, nil, at)
	if err != nil {
		f.t.Fatal(err)
	}
	return uid
}

var subjectLinkRe = regexp.MustCompile(`<a href="/mail/msg/\d+/\d+">([^<]*)</a>`)

// subjects lists the subjects of a list page.
func subjects(page string) []string {
	var out []string
	for _, m := range subjectLinkRe.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestSearchCriteria(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.st.CreateMailbox(ctx, f.a.ID, "Family", ""); err != nil {
		t.Fatal(err)
	}
	d := func(day int) time.Time { return time.Date(2026, 11, day, 12, 0, 0, 0, time.UTC) }
	f.appendAt(f.a, "INBOX", "From: Granny <granny@example.org>\nTo: a@example.net\nSubject: Cake recipe\n\nUse =?utf-8?q?butter?= and love.\n", d(1), store.FlagSeen)
	f.appendAt(f.a, "INBOX", "From: Shop <shop@example.com>\nTo: a@example.net\nSubject: =?utf-8?q?Your_r=C3=A9ceipt?=\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nThanks.\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=r.pdf\n\nJVBER\n--b--\n", d(10), 0)
	f.appendAt(f.a, "INBOX", "From: Bob <bob@example.org>\nTo: Kid <kid@example.net>\nCc: a@example.net\nSubject: Trip\nContent-Type: text/html\n\n<p>The <b>zebra</b> park</p>\n", d(20), store.FlagSeen|store.FlagFlagged)
	f.appendAt(f.a, "Family", "From: Granny <granny@example.org>\nTo: a@example.net\nSubject: More cake\n\nbaking\n", d(21), store.FlagSeen)
	inbox := f.box(f.a, "INBOX").ID
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"q=granny", []string{"Cake recipe"}},
		{"q=granny&scope=all", []string{"More cake", "Cake recipe"}},
		{"q=RÉCEIPT", []string{"Your réceipt"}},
		{"q=kid%40example&in=to", []string{"Trip"}},
		{"q=a%40example.net&in=to", []string{"Trip", "Your réceipt", "Cake recipe"}},
		{"q=zebra", nil},
		{"q=zebra&in=body", []string{"Trip"}},
		{"q=butter&in=body&in=subject", []string{"Cake recipe"}},
		{"q=park&in=body&scope=all", []string{"Trip"}},
		{"unread=1", []string{"Your réceipt"}},
		{"flagged=1", []string{"Trip"}},
		{"att=1", []string{"Your réceipt"}},
		{"since=2026-11-05&until=2026-11-15", []string{"Your réceipt"}},
		{"since=2026-11-10", []string{"Trip", "Your réceipt"}},
		{"until=2026-11-10&scope=all", []string{"Your réceipt", "Cake recipe"}},
		{"q=cake&since=2026-11-15&scope=all", []string{"More cake"}},
	} {
		res, page := f.do("a", "GET", fmt.Sprintf("/mail/search?box=%d&%s", inbox, c.query), nil)
		if res.StatusCode != 200 || !slices.Equal(subjects(page), c.want) {
			t.Errorf("%s: %s %q, want %q", c.query, res.Status, subjects(page), c.want)
		}
	}
	if res, _ := f.do("a", "GET", fmt.Sprintf("/mail/search?box=%d&since=yesterday", inbox), nil); res.StatusCode != 400 {
		t.Errorf("a bad date: %s", res.Status)
	}
	if res, _ := f.do("b", "GET", fmt.Sprintf("/mail/search?box=%d&q=granny", inbox), nil); res.StatusCode != 404 {
		t.Errorf("b searched a's INBOX: %s", res.Status)
	}
	// b's "all folders" never reaches a's mail.
	bInbox := f.box(f.b, "INBOX").ID
	if _, page := f.do("b", "GET", fmt.Sprintf("/mail/search?box=%d&q=granny&scope=all", bInbox), nil); len(subjects(page)) != 0 {
		t.Errorf("b found %q", subjects(page))
	}
	// The list marks the attachment.
	if _, page := f.do("a", "GET", "/mail/", nil); strings.Count(page, `title="Has attachments"`) != 1 {
		t.Errorf("attachment marks: %d", strings.Count(page, `title="Has attachments"`))
	}
}

func TestThreadsOnTheList(t *testing.T) {
	f := newFixture(t)
	f.deliver(f.a, "INBOX", "From: x@example.org\nSubject: Plan\nMessage-ID: <p1@x>\n\n1\n")
	f.deliver(f.a, "INBOX", "From: y@example.org\nSubject: Other\nMessage-ID: <o1@x>\n\n2\n")
	f.deliver(f.a, "INBOX", "From: z@example.org\nSubject: Re: Plan\nMessage-ID: <p2@x>\nIn-Reply-To: <p1@x>\n\n3\n")
	_, page := f.do("a", "GET", fmt.Sprintf("/mail/box/%d?threads=1", f.box(f.a, "INBOX").ID), nil)
	if got := subjects(page); !slices.Equal(got, []string{"Re: Plan", "Plan", "Other"}) {
		t.Errorf("thread order %q", got)
	}
	if !strings.Contains(page, `<span class="tcount" title="Messages in this thread">2</span>`) || strings.Count(page, ` child"`) != 1 {
		t.Errorf("thread marks:\n%s", page)
	}
}

func TestFolderCreateRenameDelete(t *testing.T) {
	f := newFixture(t)
	post := func(v url.Values) (*http.Response, string) {
		v.Set("csrf", csrfOf+"a")
		return f.do("a", "POST", "/mail/folders", v)
	}
	if res, page := post(url.Values{"op": {"create"}, "name": {"Trips"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s %s", res.Status, page)
	}
	trips := f.box(f.a, "Trips")
	if res, _ := post(url.Values{"op": {"create"}, "name": {"2026"}, "parent": {fmt.Sprint(trips.ID)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create child: %s", res.Status)
	}
	for _, bad := range []string{"", "a/b", "x*", "Trips"} {
		if res, _ := post(url.Values{"op": {"create"}, "name": {bad}}); res.StatusCode != 400 {
			t.Errorf("create %q: %s", bad, res.Status)
		}
	}
	if res, _ := post(url.Values{"op": {"rename"}, "box": {fmt.Sprint(trips.ID)}, "name": {"Travel"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %s", res.Status)
	}
	child := f.box(f.a, "Travel/2026")
	f.deliver(f.a, "Travel/2026", simple("photo", "x"))
	_, page := f.do("a", "GET", "/mail/folders", nil)
	if !strings.Contains(page, "Travel/2026") || strings.Contains(page, "Trips") {
		t.Errorf("folders page:\n%s", page)
	}
	for name, v := range map[string]url.Values{
		"INBOX":       {"op": {"delete"}, "box": {fmt.Sprint(f.box(f.a, "INBOX").ID)}, "confirm": {"yes"}},
		"Trash":       {"op": {"delete"}, "box": {fmt.Sprint(f.box(f.a, "Trash").ID)}, "confirm": {"yes"}},
		"Sent rename": {"op": {"rename"}, "box": {fmt.Sprint(f.box(f.a, "Sent").ID)}, "name": {"Out"}},
		"unconfirmed": {"op": {"delete"}, "box": {fmt.Sprint(trips.ID)}},
		"b's":         {"op": {"delete"}, "box": {fmt.Sprint(f.box(f.b, "Junk").ID)}, "confirm": {"yes"}},
	} {
		if res, _ := post(v); res.StatusCode != 400 && res.StatusCode != 404 {
			t.Errorf("%s: %s", name, res.Status)
		}
	}
	if res, _ := post(url.Values{"op": {"delete"}, "box": {fmt.Sprint(trips.ID)}, "confirm": {"yes"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %s", res.Status)
	}
	for _, id := range []int64{trips.ID, child.ID} {
		if _, err := f.st.MailboxByID(context.Background(), f.a.ID, id); err == nil {
			t.Errorf("folder %d is still there", id)
		}
	}
}

func TestUndoAndAlwaysDoThis(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.st.CreateMailbox(ctx, f.a.ID, `News "daily"`, ""); err != nil {
		t.Fatal(err)
	}
	news := f.box(f.a, `News "daily"`)
	inbox := f.box(f.a, "INBOX")
	uid := f.deliver(f.a, "INBOX", "From: Paper <paper@example.org>\nList-Id: The \"Daily\" <daily.example.org>\nSubject: Today\n\nnews\n")
	v := url.Values{"csrf": {csrfOf + "a"}, "op": {"move"}, "uid": {fmt.Sprint(uid)}, "to": {fmt.Sprint(news.ID)}}
	res, body := f.do("a", "POST", fmt.Sprintf("/mail/act/%d", inbox.ID), v, "X-Requested-With", "fetch")
	var got actResult
	if err := json.Unmarshal([]byte(body), &got); err != nil || res.StatusCode != 200 || got.Undo == nil || got.Offer == nil {
		t.Fatalf("move: %s %v %s", res.Status, err, body)
	}
	if got.Offer.Kind != "list" || got.Offer.Value != "daily.example.org" || got.Undo.To != inbox.ID || got.Undo.Box != news.ID {
		t.Errorf("offer/undo %+v %+v", got.Offer, got.Undo)
	}
	// Undo: the message goes back.
	v = url.Values{"csrf": {csrfOf + "a"}, "op": {"move"}, "uid": {fmt.Sprint(got.Undo.UIDs[0])}, "to": {fmt.Sprint(got.Undo.To)}}
	if res, _ := f.do("a", "POST", fmt.Sprintf("/mail/act/%d", got.Undo.Box), v); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("undo: %s", res.Status)
	}
	if c, _ := f.st.Counts(ctx, inbox.ID); c.Messages != 1 {
		t.Fatalf("INBOX has %d after undo", c.Messages)
	}
	// Delete without the module: the page offers the undo form.
	st, _ := f.st.SelectMailbox(ctx, f.a.ID, "INBOX")
	v = url.Values{"csrf": {csrfOf + "a"}, "op": {"delete"}, "uid": {fmt.Sprint(st.UIDs[0])}}
	res, _ = f.do("a", "POST", fmt.Sprintf("/mail/act/%d", inbox.ID), v)
	loc := res.Header.Get("Location")
	_, page := f.do("a", "GET", loc, nil)
	m := regexp.MustCompile(`<form method="post" action="(/mail/act/\d+)" class="undo note"[\s\S]*?name="to" value="(\d+)"[\s\S]*?name="uid" value="(\d+)"`).FindStringSubmatch(page)
	if m == nil || m[2] != fmt.Sprint(inbox.ID) {
		t.Fatalf("no undo form after delete (%s):\n%s", loc, page)
	}
	v = url.Values{"csrf": {csrfOf + "a"}, "op": {"move"}, "uid": {m[3]}, "to": {m[2]}}
	f.do("a", "POST", m[1], v)
	if c, _ := f.st.Counts(ctx, inbox.ID); c.Messages != 1 {
		t.Fatalf("INBOX has %d after undoing the delete", c.Messages)
	}
	// "Always do this": the rule lands in the active script, escaped, once.
	v = url.Values{"csrf": {csrfOf + "a"}, "box": {fmt.Sprint(got.Offer.Box)}, "uid": {fmt.Sprint(got.Offer.UID)}, "kind": {"list"}}
	st2, _ := f.st.SelectMailbox(ctx, f.a.ID, "INBOX")
	v2 := url.Values{"csrf": {csrfOf + "a"}, "op": {"move"}, "uid": {fmt.Sprint(st2.UIDs[0])}, "to": {fmt.Sprint(news.ID)}}
	_, body = f.do("a", "POST", fmt.Sprintf("/mail/act/%d", inbox.ID), v2, "X-Requested-With", "fetch")
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Offer == nil {
		t.Fatalf("second move: %v %s", err, body)
	}
	v.Set("box", fmt.Sprint(got.Offer.Box))
	v.Set("uid", fmt.Sprint(got.Offer.UID))
	if res, _ := f.do("a", "POST", "/mail/rule", v); res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "note=rule-added") {
		t.Fatalf("rule: %s %s", res.Status, res.Header.Get("Location"))
	}
	sc, err := f.st.ActiveSieveScript(ctx, f.a.ID)
	if err != nil || !strings.Contains(sc.Content, `fileinto "News \"daily\"";`) || !strings.Contains(sc.Content, `"list-id" "daily.example.org"`) {
		t.Fatalf("script %v:\n%s", err, sc.Content)
	}
	if res, _ := f.do("a", "POST", "/mail/rule", v); !strings.Contains(res.Header.Get("Location"), "note=rule-exists") {
		t.Errorf("a second rule: %s", res.Header.Get("Location"))
	}
	if sc, _ := f.st.ActiveSieveScript(ctx, f.a.ID); strings.Count(sc.Content, "# rule:") != 1 {
		t.Errorf("rules:\n%s", sc.Content)
	}
}

func TestArchiveCreatesTheFolderWhenMissing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.st.DeleteMailbox(ctx, f.a.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	uid := f.deliver(f.a, "INBOX", simple("keep", "x"))
	v := url.Values{"csrf": {csrfOf + "a"}, "op": {"archive"}, "uid": {fmt.Sprint(uid)}}
	if res, page := f.do("a", "POST", fmt.Sprintf("/mail/act/%d", f.box(f.a, "INBOX").ID), v); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("archive: %s %s", res.Status, page)
	}
	mb := f.box(f.a, "Archive")
	if c, _ := f.st.Counts(ctx, mb.ID); mb.SpecialUse != `\Archive` || c.Messages != 1 {
		t.Errorf("Archive %+v holds %d", mb, c.Messages)
	}
}
