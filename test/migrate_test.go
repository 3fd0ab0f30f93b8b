package test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"boxmail/internal/migrate"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// oldMailbox generates n messages for a user of the old provider: plain
// text, 8-bit UTF-8, multipart with attachments (some large), spread over
// INBOX, Sent Items, nested folders and one with a non-ASCII name, with
// varied flags and dates.
func oldMailbox(seed uint64, n int, large bool) []OldMessage {
	r := rand.New(rand.NewPCG(seed, 7))
	folders := []string{"INBOX", "INBOX", "INBOX", "Sent Items", "Archive/2023", "Archive/2023/Taxes", "Ferien Ärger", "Junk E-mail"}
	flagSets := []string{"", "S", "RS", "FS", "F", "DS", "S", "ST"}
	base := time.Date(2019, 3, 1, 10, 0, 0, 0, time.UTC)
	var out []OldMessage
	for i := range n {
		date := base.Add(time.Duration(r.IntN(5*365*24)) * time.Hour)
		var b bytes.Buffer
		fmt.Fprintf(&b, "Return-Path: <friend%d@old.test>\r\nReceived: from mx.old.test by old.test; %s\r\n", i%7, date.Format(time.RFC1123Z))
		fmt.Fprintf(&b, "Message-ID: <%d.%d@generator.old.test>\r\nDate: %s\r\nFrom: Friend %d <friend%d@old.test>\r\nTo: user@old.test\r\n", seed, i, date.Format(time.RFC1123Z), i%7, i%7)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "Subject: plain note %d\r\n\r\nHello,\r\nthis is message %d.\r\nFrom the line above a mbox would escape.\r\n", i, i)
		case 1:
			fmt.Fprintf(&b, "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_%d?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln, Nachricht %d. Ça va? 日本語\r\n", i, i)
		default:
			size := 2000 + r.IntN(30000)
			if large && i%50 == 2 {
				size = 1<<20 + r.IntN(1<<20)
			}
			att := make([]byte, size)
			for k := range att {
				att[k] = byte(r.UintN(256))
			}
			enc := base64.StdEncoding.EncodeToString(att)
			fmt.Fprintf(&b, "Subject: photos %d\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b%d\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"p%d.jpg\"\r\n\r\n", i, i, i, i, i)
			for len(enc) > 76 {
				b.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			fmt.Fprintf(&b, "%s\r\n--b%d--\r\n", enc, i)
		}
		out = append(out, OldMessage{Folder: folders[r.IntN(len(folders))], Data: b.Bytes(), Flags: flagSets[r.IntN(len(flagSets))], Date: date})
	}
	return out
}

// boxFolder is where an old folder lands in the box.
var boxFolder = map[string]string{"INBOX": "INBOX", "Sent Items": "Sent", "Archive/2023": "Archive/2023",
	"Archive/2023/Taxes": "Archive/2023/Taxes", "Ferien Ärger": "Ferien Ärger", "Junk E-mail": "Junk"}

// boxMessage is a message as the box holds it.
type boxMessage struct {
	data  []byte
	flags store.Flags
	date  time.Time
}

func boxContents(t *testing.T, b *Box, email string) map[string][]boxMessage {
	t.Helper()
	ctx := context.Background()
	st, acc := b.OpenAccount(email)
	mbs, err := st.Mailboxes(ctx, acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]boxMessage{}
	for _, mb := range mbs {
		msgs, err := st.Messages(ctx, mb.ID, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			b, err := st.Body(ctx, m.BodyID)
			if err != nil {
				t.Fatal(err)
			}
			out[mb.Name] = append(out[mb.Name], boxMessage{b, m.Flags, m.InternalDate})
		}
	}
	return out
}

// sameAsOldSide checks that every message of the old side not marked
// deleted is in the box exactly once, byte for byte, with its flags and
// internal date, and that nothing else was imported.
func sameAsOldSide(t *testing.T, old []OldMessage, box map[string][]boxMessage, extra map[string]int) {
	t.Helper()
	want := map[string]int{}
	for _, m := range old {
		if strings.Contains(m.Flags, "T") {
			continue
		}
		want[boxFolder[m.Folder]]++
		found := 0
		for _, bm := range box[boxFolder[m.Folder]] {
			if !bytes.Equal(bm.data, m.Data) {
				continue
			}
			found++
			var f store.Flags
			for _, c := range m.Flags {
				f |= map[rune]store.Flags{'S': store.FlagSeen, 'R': store.FlagAnswered, 'F': store.FlagFlagged, 'D': store.FlagDraft}[c]
			}
			if bm.flags != f {
				t.Errorf("%s: message %.40q has flags %v in the box, %q on the old side", m.Folder, m.Data, bm.flags.Names(), m.Flags)
			}
			if !bm.date.Equal(m.Date) {
				t.Errorf("%s: message %.40q has internal date %v in the box, %v on the old side", m.Folder, m.Data, bm.date, m.Date)
			}
		}
		if found != 1 {
			t.Errorf("%s: message %.60q is %d times in %s", m.Folder, m.Data, found, boxFolder[m.Folder])
		}
	}
	for f, n := range want {
		if got := len(box[f]); got != n+extra[f] {
			t.Errorf("box folder %s holds %d messages, want %d", f, got, n+extra[f])
		}
	}
}

// The seed document's story: a family leaves its old provider. Anna's
// mailbox is imported in one go; Ben's import is killed halfway and run
// again. Ben is on forward-and-keep meanwhile (a real Sieve redirect :copy
// rule on the box): mail that reaches the box is kept there and forwarded
// through the box's queue, SRS-rewritten and DKIM-signed, to a real
// Postfix, the old provider's MX, which puts it into the Maildir the old
// Dovecot serves. The final import must recognise every forwarded copy as
// already present, so each of those messages is in the box exactly once.
// A last run copies nothing.
func TestMigrateFamilyFromDovecot(t *testing.T) {
	py := needTool(t, "python3")
	old := newOldProvider(t, 2)
	anna := oldMailbox(1, 150, false)
	ben := oldMailbox(2, 250, true)
	old.Put("user1", anna)
	old.Put("user2", ben)
	mx := startOldMX(t, old, "user1", "user2")

	b := newBoxWith(t, map[string]string{"transports": "old.test=" + mx.Addr, "retry_schedule": "1s"})
	pw := filepath.Join(t.TempDir(), "oldpw")
	must(t, os.WriteFile(pw, []byte(OldPassword+"\n"), 0o600))
	for _, u := range []string{"anna", "ben"} {
		b.Cmd(testPassword+"\n", "user", "add", u+"@example.test")
	}
	if out, errs, code := b.Cmd("", "forward", "add", "ben@example.test", "--to", "user2@old.test", "--keep"); code != 0 {
		t.Fatalf("forward add: exit %d\n%s%s", code, out, errs)
	}

	// Mail for Ben while the family switches: half of it before his
	// import starts, half between the resumed run and the final one.
	sw := switchMail()
	deliverToBen(t, py, b, sw[:len(sw)/2])
	waitKeptAndForwarded(t, b, old, sw[:len(sw)/2])

	importArgs := func(user, box string) []string {
		return []string{"migrate", "import", box, "--from", old.URL(), "--user", user + "@old.test", "--password-file", pw, "--insecure"}
	}

	// Anna: one run.
	stdout, stderr, code := b.Cmd("", importArgs("user1", "anna@example.test")...)
	if code != 0 {
		t.Fatalf("import of anna: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "done: every message of the old side is in the box") {
		t.Errorf("anna's report does not say done:\n%s", stdout)
	}
	t.Logf("anna's report:\n%s", stdout)
	sameAsOldSide(t, anna, boxContents(t, b, "anna@example.test"), nil)

	// Ben: killed once a third of his messages are in, then resumed.
	cmd := exec.Command(binary, append(importArgs("user2", "ben@example.test"), "--dir", b.Dir, "--connections", "1", "--batch", "5")...)
	must(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if n := importedCount(t, b.Dir, "ben@example.test"); n >= len(ben)/3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	half := importedCount(t, b.Dir, "ben@example.test")
	if half == 0 || half >= len(ben) {
		t.Logf("the kill came at %d of %d messages", half, len(ben))
	}
	stdout, stderr, code = b.Cmd("", importArgs("user2", "ben@example.test")...)
	if code != 0 {
		t.Fatalf("resumed import of ben: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("ben's resumed report (killed after %d):\n%s", half, stdout)

	// More mail while the forward is still on, then the final import: it
	// copies nothing (the old side's new messages are the forwarded
	// copies) and counts them as already present.
	deliverToBen(t, py, b, sw[len(sw)/2:])
	waitKeptAndForwarded(t, b, old, sw[len(sw)/2:])
	stdout, stderr, code = b.Cmd("", append(importArgs("user2", "ben@example.test"), "--json")...)
	if code != 0 {
		t.Fatalf("final import of ben: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var reps []struct {
		Done   bool
		Totals migrate.FolderReport
		Report migrate.Report
	}
	must(t, json.Unmarshal([]byte(stdout), &reps))
	if len(reps) != 1 || !reps[0].Done || reps[0].Totals.Copied != 0 {
		t.Errorf("the final import copied something or is not done:\n%s", stdout)
	}
	oldInbox := len(sw)
	for _, m := range ben {
		if m.Folder == "INBOX" && !strings.Contains(m.Flags, "T") {
			oldInbox++
		}
	}
	for _, f := range reps[0].Report.Folders {
		if f.Old == "INBOX" && (f.OnOldSide-f.Skipped != oldInbox || f.Present != oldInbox) {
			t.Errorf("final import, INBOX: %d on the old side (%d skipped), %d already present; want %d, all already present",
				f.OnOldSide, f.Skipped, f.Present, oldInbox)
		}
	}
	benBox := boxContents(t, b, "ben@example.test")
	sameAsOldSide(t, ben, benBox, map[string]int{"INBOX": len(sw)})
	for _, m := range sw {
		n := 0
		for _, bm := range benBox["INBOX"] {
			if hasSubject(bm.data, m.subject) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s (from the forward-and-keep period) is %d times in ben's INBOX, want once", m.subject, n)
		}
	}
	// The forwarded copies were recognised by their content, not copied.
	if n := recognisedCount(t, b, "ben@example.test"); n != len(sw) {
		t.Errorf("%d messages of the old side were recognised as already in the box, want the %d forwarded copies", n, len(sw))
	}

	// A second run copies nothing.
	stdout, _, code = b.Cmd("", importArgs("user2", "ben@example.test")...)
	if code != 0 || !regexpMatch(`(?m)^\s*total\s+\d+\s+0\s+\d+`, stdout) {
		t.Errorf("a second run copied something or failed (exit %d):\n%s", code, stdout)
	}
}

// switchMessage is mail that reaches the box during forward-and-keep;
// subject is a word of its Subject that no other message has.
type switchMessage struct {
	subject string
	data    string
}

// switchMail is what a family receives in a week: a short note, 8-bit
// text with encoded words and folded address lists, a photo, a scan from
// a device that sets no Message-ID, a reply with dots and "From " at line
// starts, trailing blanks and a long HTML line, and a boiler's alarm
// without a Date. The old MX adds the missing Message-ID and Date to its
// copies.
func switchMail() []switchMessage {
	photo := make([]byte, 30000)
	for i := range photo {
		photo[i] = byte(i * 7 % 251)
	}
	enc := base64.StdEncoding.EncodeToString(photo)
	var att strings.Builder
	for len(enc) > 76 {
		att.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	att.WriteString(enc + "\r\n")
	return []switchMessage{
		{"switch-1", "Message-ID: <switch-1@friend.test>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nFrom: friend@friend.test\r\nTo: ben@example.test\r\n" +
			"Subject: switch-1 during the switch\r\n\r\nsee you on Sunday\r\n"},
		{"switch-2", "Message-ID: <switch-2@friend.test>\r\nDate: Tue, 03 Jan 2006 09:00:00 +0100\r\nFrom: =?utf-8?q?J=C3=BCrgen?= <juergen@friend.test>\r\n" +
			"To: Ben <ben@example.test>,\r\n Anna <anna@example.test>\r\nCc: oma@friend.test\r\nSubject: =?utf-8?q?switch-2_Gr=C3=BC=C3=9Fe?=\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln. Ça va? 日本語\r\n"},
		{"switch-3", "Message-ID: <switch-3@friend.test>\r\nDate: Wed, 04 Jan 2006 18:30:00 +0000\r\nFrom: friend@friend.test\r\nTo: ben@example.test\r\n" +
			"Subject: switch-3 photos\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"sw3\"\r\n\r\n--sw3\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
			"--sw3\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"p.jpg\"\r\n\r\n" + att.String() + "--sw3--\r\n"},
		{"switch-4", "Date: Thu, 05 Jan 2006 08:15:00 +0000\r\nFrom: scanner@friend.test\r\nTo: ben@example.test\r\nSubject: switch-4 scan\r\n\r\nScanned document attached.\r\n"},
		{"switch-5", "Message-ID: <switch-5@friend.test>\r\nIn-Reply-To: <switch-1@friend.test>\r\nReferences: <switch-1@friend.test>\r\n" +
			"Date: Fri, 06 Jan 2006 20:00:00 -0500\r\nFrom: friend@friend.test\r\nTo: ben@example.test\r\nSubject: Re: switch-5 Sunday\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n.\r\n..two dots\r\nFrom the start \r\ntrailing blanks   \r\n" +
			"<p>" + strings.Repeat("long line ", 120) + "</p>\r\n\r\n"},
		{"switch-6", "Message-ID: <switch-6@home.test>\r\nFrom: heating@home.test\r\nTo: ben@example.test\r\nSubject: switch-6 boiler\r\n\r\npressure low\r\n"},
	}
}

// deliverToBen sends msgs to ben@example.test through the box's SMTP
// port from 127.0.0.2, an outside sender.
func deliverToBen(t *testing.T, py string, b *Box, msgs []switchMessage) {
	t.Helper()
	var data []string
	for _, m := range msgs {
		data = append(data, m.data)
	}
	js, _ := json.Marshal(data)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := exec.CommandContext(ctx, py, "-c", `import json,smtplib,sys
s=smtplib.SMTP("127.0.0.1", int(sys.argv[1]), source_address=("127.0.0.2", 0), timeout=20)
for m in json.load(sys.stdin):
    s.sendmail("friend@friend.test", ["ben@example.test"], m.encode("utf-8"))
s.quit()`, fmt.Sprint(b.SMTP))
	send.Stdin = bytes.NewReader(js)
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("delivering through the box: %v\n%s", err, out)
	}
}

// waitKeptAndForwarded waits until each of msgs is in Ben's box INBOX
// and, forwarded by the box and delivered by the old MX, in the old
// Dovecot's INBOX of user2 (seen through IMAP).
func waitKeptAndForwarded(t *testing.T, b *Box, old *OldProvider, msgs []switchMessage) {
	t.Helper()
	var words []string
	for _, m := range msgs {
		words = append(words, m.subject)
	}
	testutil.WaitFor(t, "the box to keep "+strings.Join(words, ", "), 20*time.Second, func() bool {
		inbox := b.Mailbox("ben@example.test", "INBOX")
		for _, w := range words {
			if !slices.ContainsFunc(inbox, func(m []byte) bool { return hasSubject(m, w) }) {
				return false
			}
		}
		return true
	})
	var last map[string]int
	testutil.WaitFor(t, "the old provider to receive the forwarded "+strings.Join(words, ", "), 30*time.Second, func() bool {
		n, err := old.InboxCounts("user2", words...)
		if err != nil {
			t.Logf("old provider: %v", err)
			return false
		}
		last = n
		for _, w := range words {
			if n[w] == 0 {
				return false
			}
		}
		return true
	})
	for _, w := range words {
		if last[w] != 1 {
			t.Errorf("%s is %d times at the old provider, want once", w, last[w])
		}
	}
	// The copies took the real forward's path: SRS sender, the box's loop
	// mark and DKIM signature, the old MX's delivery.
	var files []string
	for _, sub := range []string{"new", "cur"} {
		fs, _ := filepath.Glob(filepath.Join(old.home("user2"), "Maildir", sub, "*"))
		files = append(files, fs...)
	}
	for _, w := range words {
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil || !hasSubject(data, w) {
				continue
			}
			for _, want := range []string{"Return-Path: <SRS0=", "X-Boxmail-Loop: ben@example.test", "DKIM-Signature: ", "d=example.test", "Delivered-To: user2@old.test", "by mx.old.test (Postfix)"} {
				if !bytes.Contains(data, []byte(want)) {
					t.Errorf("the old provider's copy of %s lacks %q:\n%s", w, want, data)
				}
			}
		}
	}
	testutil.WaitFor(t, "the box's queue to drain", 10*time.Second, func() bool { return len(b.Queue()) == 0 })
}

// hasSubject says whether msg's Subject field holds word.
func hasSubject(msg []byte, word string) bool {
	return regexp.MustCompile(`(?m)^Subject:[^\r\n]*` + regexp.QuoteMeta(word)).Match(msg)
}

// recognisedCount counts the old side's messages that an import found
// already in the box (recorded without a copy of their own).
func recognisedCount(t *testing.T, b *Box, email string) int {
	t.Helper()
	st := b.OpenStore()
	defer st.Close()
	acc, err := st.AccountByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.ImportRecords(context.Background(), acc.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.UID == 0 {
			n++
		}
	}
	return n
}

func regexpMatch(re, s string) bool {
	return regexp.MustCompile(re).MatchString(s)
}

// importedCount counts the messages recorded for an account.
func importedCount(t *testing.T, dir, email string) int {
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		return 0
	}
	defer st.Close()
	acc, err := st.AccountByEmail(context.Background(), email)
	if err != nil {
		return 0
	}
	recs, _ := st.ImportRecords(context.Background(), acc.ID, "")
	return len(recs)
}

// 'migrate status' walks the seed document's checklist from measurements:
// mid-migration (MX at the old provider, SPF relaxed) the MX step is to
// do; once one of two resolvers sees the new MX it is waiting
// ("propagated to 1 of 2"), then done; the import step follows the
// import's records; SPF hardened ends it.
func TestMigrateStatusFollowsTheChecklist(t *testing.T) {
	w1, w2 := startWorld(t), startWorld(t)
	b := newBoxWith(t, map[string]string{"resolvers": w1.addr + ", " + w2.addr, "public_ipv4": "127.0.0.1"})
	recs := mustRun(t, "", "dns", "records", "--format", "json", "--dir", b.Dir)
	var j struct {
		Records []struct{ Name, Type, Value string }
	}
	must(t, json.Unmarshal([]byte(recs), &j))
	dkim := ""
	for _, r := range j.Records {
		if r.Name == "mail._domainkey.example.test" {
			dkim = "mail._domainkey.example.test. TXT " + r.Value
		}
	}
	common := []string{"mail.example.test. A 127.0.0.1", `mail.example.test. TXT "v=spf1 ip4:127.0.0.1 -all"`, dkim, `spf.old.test. TXT "v=spf1 ip4:203.0.113.0/24 -all"`}
	oldMX := append([]string{"example.test. MX 10 mx.old.test.", `example.test. TXT "v=spf1 include:spf.old.test include:mail.example.test ~all"`}, common...)
	newMX := append([]string{"example.test. MX 10 mail.example.test.", `example.test. TXT "v=spf1 include:spf.old.test include:mail.example.test ~all"`}, common...)
	hard := append([]string{"example.test. MX 10 mail.example.test.", `example.test. TXT "v=spf1 mx -all"`}, common...)

	steps := func() map[int]string {
		t.Helper()
		out, errs, code := b.Cmd("", "migrate", "status", "example.test", "--json")
		if code != 0 {
			t.Fatalf("migrate status: exit %d\n%s%s", code, out, errs)
		}
		var js map[string][]struct {
			N     int
			State string
			Found string
		}
		must(t, json.Unmarshal([]byte(out), &js))
		m := map[int]string{}
		for _, s := range js["example.test"] {
			m[s.N] = s.State + ": " + s.Found
		}
		return m
	}
	want := func(m map[int]string, n int, prefix string) {
		t.Helper()
		if !strings.HasPrefix(m[n], prefix) {
			t.Errorf("step %d: %q, want %q…", n, m[n], prefix)
		}
	}

	w1.set(t, oldMX...)
	w2.set(t, oldMX...)
	m := steps()
	want(m, 1, "done: 1 accounts")
	want(m, 3, "done")
	want(m, 4, "done")
	want(m, 5, "to do: propagated to 0 of 2")
	want(m, 7, "to do")
	want(m, 8, "to do: 0 of 1 users imported")
	out, _, _ := b.Cmd("", "migrate", "status", "example.test")
	if !strings.Contains(out, "next: replace the MX records of example.test by MX @ 10 mail.example.test.") {
		t.Errorf("no next step for the MX:\n%s", out)
	}

	// Nobody has switched and nobody forwards: step 2 is to do, naming
	// the user; an SPF hardened this early does not end the story.
	want(steps(), 2, "to do: 0 of 1 users not yet switched forward a copy")
	w1.set(t, hard...)
	w2.set(t, hard...)
	if m := steps(); !strings.HasPrefix(m[7], "to do: MX switched and SPF names only the box, but me@example.test has not logged in at the box yet") {
		t.Errorf("step 7 with me@ not switched: %q", m[7])
	}
	mustRun(t, "", "forward", "add", b.Admin, "--to", "me@old.test", "--dir", b.Dir)
	want(steps(), 2, "done: 1 of 1 users not yet switched forward a copy")

	w1.set(t, newMX...)
	w2.set(t, oldMX...)
	want(steps(), 5, "waiting: propagated to 1 of 2")
	w2.set(t, newMX...)
	want(steps(), 5, "done: propagated to 2 of 2")

	// The import of the admin's old mailbox, from a Maildir backup.
	md := filepath.Join(t.TempDir(), "Maildir")
	for _, s := range []string{"cur", "new", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(md, s), 0o700))
	}
	must(t, os.WriteFile(filepath.Join(md, "cur", "1.M1.old:2,S"), []byte("Subject: hi\r\n\r\nold mail\r\n"), 0o600))
	if out, errs, code := b.Cmd("", "migrate", "import", "me@example.test", "--maildir", md); code != 0 {
		t.Fatalf("maildir import: exit %d\n%s%s", code, out, errs)
	}
	want(steps(), 8, "done: 1 of 1 users imported")

	w1.set(t, hard...)
	w2.set(t, hard...)
	want(steps(), 7, "to do") // me@ has not switched: hardening now fails their mail
	if got := imapsLogin(t, b.IMAPS, b.Admin, b.Password); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("IMAPS login: %q", got)
	}
	want(steps(), 7, "done")
	if m := steps(); strings.Contains(m[7], "migration is complete") && !strings.HasPrefix(m[6], "done") {
		t.Errorf("step 7 says the migration is complete while step 6 is %q", m[6])
	}
}
