package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// webmailFolders maps the folder names of a webmail page to their IDs.
func webmailFolders(page string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`href="/mail/box/(\d+)" class="folder[^"]*" data-box="\d+"><span class="name">([^<]*)</span>`).FindAllStringSubmatch(page, -1) {
		out[m[2]] = m[1]
	}
	return out
}

var webmailSubjectRe = regexp.MustCompile(`<a href="/mail/msg/(\d+)/(\d+)">([^<]*)</a>`)

// webmailRows are the (box, uid, subject) of a list page's rows.
func webmailRows(page string) [][3]string {
	var out [][3]string
	for _, m := range webmailSubjectRe.FindAllStringSubmatch(page, -1) {
		out = append(out, [3]string{m[1], m[2], m[3]})
	}
	return out
}

func webmailSubjects(page string) []string {
	var out []string
	for _, r := range webmailRows(page) {
		out = append(out, r[2])
	}
	slices.Sort(out)
	return out
}

// A family member searches, sorts mail into folders, takes a move and a
// delete back, and has "always do this" file the next mail of a list
// delivered over SMTP.
func TestWebmailOrganise(t *testing.T) {
	b := newBox(t)
	send := func(subject, extra, body string) {
		webmailSend(t, b.SMTP, "friend@elsewhere.example", b.Admin, "From: Friend <friend@elsewhere.example>\nTo: "+b.Admin+"\nSubject: "+subject+"\n"+extra+"\n"+body+"\n")
	}
	send("Garden party", "", "Bring the lemonade please.")
	send("Invoice 42", "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=zz\n", "--zz\nContent-Type: text/plain\n\nSee attached.\n--zz\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=i.pdf\n\nJVBERi0=\n--zz--")
	webmailSend(t, b.SMTP, "other@else.example", b.Admin, "From: Aunt <aunt@else.example>\nTo: Cousin <cousin@else.example>\nCc: "+b.Admin+"\nSubject: Photos\n\nzebra crossing\n")
	send("Weekly news", "List-Id: The Weekly <weekly.lists.example>\n", "issue 1")
	w := newWebClient(t, b, "127.0.0.1")
	w.mustLogin(b.Admin, b.Password)
	_, page := w.get("/mail/")
	csrf := formCSRFRe.FindStringSubmatch(page)[1]
	folders := webmailFolders(page)
	inbox := folders["INBOX"]
	uidOf := map[string]string{}
	for _, r := range webmailRows(page) {
		uidOf[r[2]] = r[1]
	}
	if len(uidOf) != 4 || !strings.Contains(page, `title="Has attachments"`) {
		t.Fatalf("INBOX:\n%s", page)
	}
	act := func(box string, v url.Values) {
		t.Helper()
		v.Set("csrf", csrf)
		if res, p := w.post("/mail/act/"+box, v); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%v: %s\n%s", v, res.Status, p)
		}
	}
	act(inbox, url.Values{"op": {"read"}, "uid": {uidOf["Garden party"], uidOf["Photos"], uidOf["Weekly news"]}})
	act(inbox, url.Values{"op": {"flag"}, "uid": {uidOf["Photos"]}})
	// Folders: create, rename; then one message moves there.
	folderPost := func(v url.Values) (*http.Response, string) {
		v.Set("csrf", csrf)
		return w.post("/mail/folders", v)
	}
	if res, p := folderPost(url.Values{"op": {"create"}, "name": {"Party"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s %s", res.Status, p)
	}
	_, page = w.get("/mail/folders")
	party := webmailFolders(page)["Party"]
	if res, p := folderPost(url.Values{"op": {"rename"}, "box": {party}, "name": {"Parties"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %s %s", res.Status, p)
	}
	if res, _ := folderPost(url.Values{"op": {"delete"}, "box": {inbox}, "confirm": {"yes"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("deleting INBOX: %s", res.Status)
	}
	act(inbox, url.Values{"op": {"move"}, "uid": {uidOf["Garden party"]}, "to": {party}})
	if got := b.Mailbox(b.Admin, "Parties"); len(got) != 1 {
		t.Fatalf("Parties holds %d", len(got))
	}
	// Search: each criterion.
	today := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"q=aunt&in=from", []string{"Photos"}},
		{"q=cousin&in=to", []string{"Photos"}},
		{"q=invoice&in=subject", []string{"Invoice 42"}},
		{"q=zebra&in=body", []string{"Photos"}},
		{"q=zebra", nil},
		{"q=lemonade&in=body", nil},
		{"q=lemonade&in=body&scope=all", []string{"Garden party"}},
		{"q=friend&scope=all", []string{"Garden party", "Invoice 42", "Weekly news"}},
		{"unread=1", []string{"Invoice 42"}},
		{"flagged=1", []string{"Photos"}},
		{"att=1", []string{"Invoice 42"}},
		{"since=" + today + "&until=" + today + "&scope=all", []string{"Garden party", "Invoice 42", "Photos", "Weekly news"}},
		{"since=" + tomorrow, nil},
		{"until=2020-01-01&scope=all", nil},
	} {
		res, p := w.get("/mail/search?box=" + inbox + "&" + c.q)
		if got := webmailSubjects(p); res.StatusCode != 200 || !slices.Equal(got, c.want) {
			t.Errorf("search %s: %s %q, want %q", c.q, res.Status, got, c.want)
		}
	}
	// Undo of a move (the module's JSON) and of a delete (the page's form).
	v := url.Values{"csrf": {csrf}, "op": {"move"}, "uid": {uidOf["Photos"]}, "to": {party}}
	req, _ := http.NewRequest("POST", w.base+"/mail/act/"+inbox, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Requested-With", "fetch")
	res, body := w.do(req)
	var out struct {
		Undo struct {
			Box  int64    `json:"box"`
			UIDs []uint32 `json:"uids"`
			To   int64    `json:"to"`
		} `json:"undo"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || res.StatusCode != 200 || len(out.Undo.UIDs) != 1 {
		t.Fatalf("move: %s %v %s", res.Status, err, body)
	}
	act(fmt.Sprint(out.Undo.Box), url.Values{"op": {"move"}, "to": {fmt.Sprint(out.Undo.To)}, "uid": {fmt.Sprint(out.Undo.UIDs[0])}})
	if len(b.Mailbox(b.Admin, "Parties")) != 1 || len(b.Mailbox(b.Admin, "INBOX")) != 3 {
		t.Fatalf("after undoing the move: Parties %d, INBOX %d", len(b.Mailbox(b.Admin, "Parties")), len(b.Mailbox(b.Admin, "INBOX")))
	}
	_, page = w.get("/mail/")
	for _, r := range webmailRows(page) {
		uidOf[r[2]] = r[1]
	}
	res, _ = w.post("/mail/act/"+inbox, url.Values{"csrf": {csrf}, "op": {"delete"}, "uid": {uidOf["Invoice 42"]}})
	_, page = w.get(res.Header.Get("Location"))
	m := regexp.MustCompile(`action="(/mail/act/\d+)" class="undo note"[\s\S]*?name="to" value="(\d+)"[\s\S]*?name="uid" value="(\d+)"`).FindStringSubmatch(page)
	if m == nil || len(b.Mailbox(b.Admin, "Trash")) != 1 {
		t.Fatalf("no undo after delete:\n%s", page)
	}
	if res, _ := w.post(m[1], url.Values{"csrf": {csrf}, "op": {"move"}, "to": {m[2]}, "uid": {m[3]}}); res.StatusCode != http.StatusSeeOther || len(b.Mailbox(b.Admin, "Trash")) != 0 {
		t.Fatalf("undo of the delete: %s, Trash %d", res.Status, len(b.Mailbox(b.Admin, "Trash")))
	}
	// "Always do this": the list's mail moved to Parties, then the rule.
	res, _ = w.post("/mail/act/"+inbox, url.Values{"csrf": {csrf}, "op": {"move"}, "uid": {uidOf["Weekly news"]}, "to": {party}})
	_, page = w.get(res.Header.Get("Location"))
	m = regexp.MustCompile(`<form method="post" action="/mail/rule" class="offer note"[\s\S]*?name="box" value="(\d+)"[\s\S]*?name="uid" value="(\d+)"[\s\S]*?name="kind" value="(\w+)"[\s\S]*?Always move mail of the list weekly.lists.example to Parties\?`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no offer after the move:\n%s", page)
	}
	if res, _ := w.post("/mail/rule", url.Values{"csrf": {csrf}, "box": {m[1]}, "uid": {m[2]}, "kind": {m[3]}}); res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "rule-added") {
		t.Fatalf("rule: %s %s", res.Status, res.Header.Get("Location"))
	}
	send("Weekly news 2", "List-Id: The Weekly <weekly.lists.example>\n", "issue 2")
	if got := b.Mailbox(b.Admin, "Parties"); len(got) != 3 || !strings.Contains(string(got[2]), "Weekly news 2") {
		t.Errorf("the rule did not file the next issue: Parties has %d", len(got))
	}
	// Delete the folder (confirmed) with its messages.
	if res, _ := folderPost(url.Values{"op": {"delete"}, "box": {party}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("unconfirmed delete: %s", res.Status)
	}
	if res, _ := folderPost(url.Values{"op": {"delete"}, "box": {party}, "confirm": {"yes"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %s", res.Status)
	}
	if _, page = w.get("/mail/"); webmailFolders(page)["Parties"] != "" {
		t.Errorf("Parties is still listed")
	}
}
