package test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/migrate"
	"boxmail/internal/store"
)

// The switch-over of issue 24 (items 3 and 4), with the real Dovecot as
// the old provider. During forward-and-keep the box kept a copy of each
// message in INBOX, while at the old provider the user
//   - filed "filed" into Family, read it and gave it a keyword: after the
//     import the box has it once, in Family, read, with the keyword, and
//     INBOX no longer has it (a phone idling on INBOX sees the EXPUNGE);
//   - has "twice" in two folders, Family and Work: it stays two copies,
//     one in each, and none in INBOX;
//   - read "read" in INBOX: the box's copy is marked read.
//
// A second run changes nothing.
func TestTheSwitchOverImportKeepsOneCopyWhereTheUserFiledIt(t *testing.T) {
	py := needTool(t, "python3")
	old := newOldProvider(t, 1)
	b := newBox(t)
	msg := func(word string) string {
		return "Message-ID: <" + word + "@friend.test>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nFrom: Friend <friend@friend.test>\r\n" +
			"To: me@example.test\r\nSubject: " + word + " from a friend\r\n\r\nThe " + word + " message.\r\n"
	}
	words := []string{"filed", "twice", "read"}
	var sent []string
	for _, w := range words {
		sent = append(sent, msg(w))
	}
	sendAsForwarded(t, py, b, "me@example.test", sent)
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 3 {
		t.Fatalf("the box kept %d messages in INBOX, want 3", n)
	}

	// The old provider's copies, as its MX delivered the forward.
	trace := "Return-Path: <SRS0=ab=CD=friend.test=friend@example.test>\r\nDelivered-To: user1@old.test\r\n" +
		"Received: from mail.example.test by mx.old.test (Postfix) with ESMTP id 1A2B3C\r\n"
	date := time.Date(2006, 1, 2, 15, 5, 0, 0, time.UTC)
	old.Put("user1", []OldMessage{
		{Folder: "Family", Data: []byte(trace + msg("filed")), Flags: "S", Date: date},
		{Folder: "Family", Data: []byte(trace + msg("twice")), Date: date},
		{Folder: "Work", Data: []byte(trace + msg("twice")), Date: date},
		{Folder: "INBOX", Data: []byte(trace + msg("read")), Flags: "S", Date: date},
	})
	oldKeyword(t, old, "user1", "Family", "filed", "$Family")

	phone, r := idleOnInbox(t, b)
	defer phone.Close()
	pw := filepath.Join(t.TempDir(), "oldpw")
	must(t, os.WriteFile(pw, []byte(OldPassword+"\n"), 0o600))
	args := []string{"migrate", "import", b.Admin, "--from", old.URL(), "--user", "user1@old.test", "--password-file", pw, "--insecure", "--json"}
	stdout, stderr, code := b.Cmd("", args...)
	if code != 0 {
		t.Fatalf("migrate import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var reps []struct {
		Done   bool
		Totals migrate.FolderReport
	}
	must(t, json.Unmarshal([]byte(stdout), &reps))
	if len(reps) != 1 || !reps[0].Done || reps[0].Totals.Copied != 1 || reps[0].Totals.Present != 3 {
		t.Errorf("want done, 1 copied (twice's second folder), 3 already present (filed and twice moved, read): %s", stdout)
	}
	if n := expungesWithin(t, phone, r, 2, 3*time.Second); n != 2 {
		t.Errorf("the phone idling on INBOX saw %d EXPUNGEs, want 2 (filed and twice moved out)", n)
	}
	checkSwitchOver(t, b, "after the import")

	stdout, stderr, code = b.Cmd("", args...)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	must(t, json.Unmarshal([]byte(stdout), &reps))
	if len(reps) != 1 || !reps[0].Done || reps[0].Totals.Copied != 0 {
		t.Errorf("the second run copied something: %s", stdout)
	}
	checkSwitchOver(t, b, "after a second run")
}

// checkSwitchOver checks the box after the import of the switch-over test.
func checkSwitchOver(t *testing.T, b *Box, when string) {
	t.Helper()
	type copyOf struct {
		mailbox  string
		flags    store.Flags
		keywords []string
	}
	got := map[string][]copyOf{}
	st, acc := b.OpenAccount(b.Admin)
	defer st.Close()
	ctx := context.Background()
	mbs, err := st.Mailboxes(ctx, acc.ID)
	must(t, err)
	for _, mb := range mbs {
		msgs, err := st.Messages(ctx, mb.ID, 1, 0)
		must(t, err)
		for _, m := range msgs {
			data, err := st.Body(ctx, m.BodyID)
			must(t, err)
			for _, w := range []string{"filed", "twice", "read"} {
				if hasSubject(data, w+" from a friend") {
					got[w] = append(got[w], copyOf{mb.Name, m.Flags &^ store.FlagRecent, m.Keywords})
				}
			}
		}
	}
	want := map[string][]copyOf{
		"filed": {{"Family", store.FlagSeen, []string{"$Family"}}},
		"twice": {{"Family", 0, nil}, {"Work", 0, nil}},
		"read":  {{"INBOX", store.FlagSeen, nil}},
	}
	for w, cs := range want {
		g := got[w]
		slices.SortFunc(g, func(a, b copyOf) int { return strings.Compare(a.mailbox, b.mailbox) })
		same := len(g) == len(cs)
		for i := 0; same && i < len(g); i++ {
			same = g[i].mailbox == cs[i].mailbox && g[i].flags == cs[i].flags && slices.Equal(g[i].keywords, cs[i].keywords)
		}
		if !same {
			t.Errorf("%s: %q is in the box as %+v; want %+v", when, w, g, cs)
		}
	}
}

// sendAsForwarded sends msgs to rcpt through the box's SMTP port from
// 127.0.0.2, an outside sender, as the forwarded mail reached it.
func sendAsForwarded(t *testing.T, py string, b *Box, rcpt string, msgs []string) {
	t.Helper()
	js, _ := json.Marshal(msgs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := exec.CommandContext(ctx, py, "-c", `import json,smtplib,sys
s=smtplib.SMTP("127.0.0.1", int(sys.argv[1]), source_address=("127.0.0.2", 0), timeout=20)
for m in json.load(sys.stdin):
    s.sendmail("friend@friend.test", [sys.argv[2]], m.encode("utf-8"))
s.quit()`, fmt.Sprint(b.SMTP), rcpt)
	send.Stdin = strings.NewReader(string(js))
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("sending to the box: %v\n%s", err, out)
	}
}

// oldKeyword sets a keyword, through Dovecot's IMAP, on the messages of
// an old folder whose Subject holds word.
func oldKeyword(t *testing.T, old *OldProvider, user, folder, word, keyword string) {
	t.Helper()
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", old.IMAP), nil)
	must(t, err)
	defer c.Close()
	must(t, c.Login(user+"@old.test", OldPassword).Wait())
	_, err = c.Select(folder, nil).Wait()
	must(t, err)
	d, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: word}}}, nil).Wait()
	must(t, err)
	if len(d.AllUIDs()) != 1 {
		t.Fatalf("%s at the old provider: %d messages about %s", folder, len(d.AllUIDs()), word)
	}
	must(t, c.Store(imap.UIDSetNum(d.AllUIDs()...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.Flag(keyword)}}, nil).Close())
	must(t, c.Logout().Wait())
}

// idleOnInbox is the admin's phone: logged in over IMAPS, INBOX
// selected, idling.
func idleOnInbox(t *testing.T, b *Box) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAPS), insecureTLS())
	must(t, err)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	readUntil(t, r, "* OK")
	fmt.Fprintf(c, "a1 LOGIN %s %s\r\n", b.Admin, b.Password)
	if l := readUntil(t, r, "a1 "); !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("LOGIN: %q", l)
	}
	fmt.Fprintf(c, "a2 SELECT INBOX\r\n")
	if l := readUntil(t, r, "a2 "); !strings.HasPrefix(l, "a2 OK") {
		t.Fatalf("SELECT: %q", l)
	}
	fmt.Fprintf(c, "a3 IDLE\r\n")
	readUntil(t, r, "+ ")
	return c, r
}

// expungesWithin counts the EXPUNGE responses the idling session gets,
// until it has want of them or limit has passed.
func expungesWithin(t *testing.T, c *tls.Conn, r *bufio.Reader, want int, limit time.Duration) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	defer c.SetReadDeadline(time.Now().Add(60 * time.Second))
	n := 0
	for n < want {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasSuffix(strings.TrimRight(l, "\r\n"), " EXPUNGE") {
			n++
		}
	}
	return n
}
