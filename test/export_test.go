package test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/migrate"
	"boxmail/internal/store"
)

// exportedMsg is a message put into the box for an export.
type exportedMsg struct {
	folder string
	data   []byte
	flags  store.Flags
	kw     []string
	date   int64
}

// fillForExport puts messages into an account of a running box: INBOX,
// Sent, nested folders, a non-ASCII name, one with a dot, large bodies
// kept in files, flags and keywords.
func fillForExport(t *testing.T, b *Box, email string) []exportedMsg {
	t.Helper()
	ctx := context.Background()
	st, acc := b.OpenAccount(email)
	flagOf := map[rune]store.Flags{'S': store.FlagSeen, 'R': store.FlagAnswered, 'F': store.FlagFlagged, 'D': store.FlagDraft, 'T': store.FlagDeleted}
	var out []exportedMsg
	for i, m := range append(oldMailbox(16, 80, true), OldMessage{Folder: "Release v1.2/Notes", Data: []byte("Message-ID: <dots@x>\r\nSubject: dots\r\n\r\nFrom here\r\n>From there\r\n"), Flags: "S", Date: oldMailbox(1, 1, false)[0].Date}) {
		folder := boxFolder[m.Folder]
		if folder == "" {
			folder = m.Folder
		}
		if _, err := st.MailboxByName(ctx, acc.ID, folder); err != nil {
			must(t, st.CreateMailbox(ctx, acc.ID, folder, ""))
		}
		var f store.Flags
		for _, c := range m.Flags {
			f |= flagOf[c]
		}
		var kw []string
		if i%5 == 1 {
			kw = []string{"$Label1", "Work"}
		}
		if _, _, err := st.Append(ctx, acc.ID, folder, m.Data, f, kw, m.Date); err != nil {
			t.Fatal(err)
		}
		out = append(out, exportedMsg{folder, m.Data, f, kw, m.Date.Unix()})
	}
	return out
}

// pyView is a message as Python's mailbox module sees it.
type pyView struct {
	Folder string `json:"folder"`
	Flags  string `json:"flags"`
	SHA    string `json:"sha"`
	Date   int64  `json:"date"`
	From   string `json:"from"`
}

func pythonView(t *testing.T, b *Box, kind, dir string) map[string][]pyView {
	t.Helper()
	out, err := b.Python("export_check.py", kind, dir)
	if err != nil {
		t.Fatalf("python mailbox on the %s export: %v\n%s", kind, err, out)
	}
	var l []pyView
	must(t, json.Unmarshal([]byte(out), &l))
	by := map[string][]pyView{}
	for _, v := range l {
		by[v.SHA] = append(by[v.SHA], v)
	}
	return by
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var fromLine = regexp.MustCompile(`(?m)^(>*From )`)

// pythonFlags are the flags Python's MaildirMessage / mboxMessage report.
func pythonFlags(f store.Flags, mbox bool) string {
	var s string
	for _, x := range []struct {
		f            store.Flags
		maildir, box string
	}{{store.FlagSeen, "S", "R"}, {store.FlagAnswered, "R", "A"}, {store.FlagFlagged, "F", "F"}, {store.FlagDraft, "D", "T"}, {store.FlagDeleted, "T", "D"}} {
		if f&x.f != 0 {
			if mbox {
				s += x.box
			} else {
				s += x.maildir
			}
		}
	}
	if mbox {
		s += "O"
	}
	b := []byte(s)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}

func sortedString(s string) string {
	b := []byte(s)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}

// A family member leaves: 'boxmail export' beside the running server
// writes a Maildir and an mbox directory; Python's mailbox module reads
// every message with its bytes and flags; importing either export back
// finds every message already present; a non-empty target is refused.
func TestExportMaildirAndMbox(t *testing.T) {
	needTool(t, "python3")
	b := newBox(t)
	b.Cmd(testPassword+"\n", "user", "add", "leaver@example.test")
	msgs := fillForExport(t, b, "leaver@example.test")
	tmp := t.TempDir()
	md, mb := filepath.Join(tmp, "maildir"), filepath.Join(tmp, "mbox")
	for _, args := range [][]string{{"--maildir", md}, {"--mbox", mb}} {
		if out, errs, code := b.Cmd("", append([]string{"export", "leaver@example.test"}, args...)...); code != 0 {
			t.Fatalf("export %v: exit %d\n%s%s", args, code, out, errs)
		} else {
			t.Logf("export %v:\n%s", args, out)
		}
	}

	mdView, mbView := pythonView(t, b, "maildir", md), pythonView(t, b, "mbox", mb)
	for _, m := range msgs {
		// Maildir: the stored bytes, unchanged.
		wantFolder := strings.TrimPrefix(migrate.MaildirFolderDir(m.folder), ".")
		// Python's flags are the info letters: system flags, then keywords (lower case).
		if v := mdView[sha(m.data)]; len(v) != 1 || v[0].Folder != wantFolder || strings.TrimRight(v[0].Flags, "abcdefghijklmnopqrstuvwxyz") != pythonFlags(m.flags, false) || v[0].Date != m.date {
			t.Errorf("maildir: message %.50q in %s (flags %v): python sees %+v, want folder %q flags %q", m.data, m.folder, m.flags.Names(), v, wantFolder, pythonFlags(m.flags, false))
		}
		// mbox: the flag fields, then the message with LF endings, quoted.
		withFields := migrate.MboxFlagFields(m.flags, m.kw) + fromLine.ReplaceAllString(strings.ReplaceAll(string(m.data), "\r\n", "\n"), ">$1")
		v := mbView[sha([]byte(withFields))]
		if len(v) != 1 || v[0].Folder != filepath.FromSlash(migrate.MboxFile(m.folder)) || sortedString(v[0].Flags) != pythonFlags(m.flags, true) {
			t.Errorf("mbox: message %.50q in %s (flags %v): python sees %+v, want file %s flags %q", m.data, m.folder, m.flags.Names(), v, migrate.MboxFile(m.folder), pythonFlags(m.flags, true))
		}
	}
	if n := len(msgs); len(flatten(mdView)) != n || len(flatten(mbView)) != n {
		t.Errorf("python sees %d (maildir) and %d (mbox) messages, want %d", len(flatten(mdView)), len(flatten(mbView)), n)
	}
	checkMaildirKeywords(t, md, msgs)

	// Imported back: every message already present (the deleted ones are
	// skipped, as any import skips them).
	deleted := 0
	for _, m := range msgs {
		if m.flags&store.FlagDeleted != 0 {
			deleted++
		}
	}
	for _, args := range [][]string{{"--maildir", md}, {"--mbox", mb}} {
		out, errs, code := b.Cmd("", append([]string{"migrate", "import", "leaver@example.test", "--json"}, args...)...)
		var reps []struct {
			Done   bool
			Totals migrate.FolderReport
		}
		if code != 0 || json.Unmarshal([]byte(out), &reps) != nil || len(reps) != 1 {
			t.Fatalf("re-import %v: exit %d\n%s%s", args, code, out, errs)
		}
		if tot := reps[0].Totals; !reps[0].Done || tot.Copied != 0 || tot.Present != len(msgs)-deleted || tot.Skipped != deleted {
			t.Errorf("re-import %v: %+v, want all %d already present and %d deleted skipped", args, tot, len(msgs)-deleted, deleted)
		}
	}

	// A target that holds anything is refused, and left as it was.
	must(t, os.WriteFile(filepath.Join(tmp, "keep.txt"), []byte("mine"), 0o600))
	out, errs, code := b.Cmd("", "export", "leaver@example.test", "--mbox", tmp)
	if code != 1 || !strings.Contains(errs, "is not empty") {
		t.Errorf("export into a non-empty dir: exit %d\n%s%s", code, out, errs)
	}
	if _, errs, code := b.Cmd("", "export", "nobody@example.test", "--mbox", filepath.Join(tmp, "x")); code != 1 || !strings.Contains(errs, "no account") {
		t.Errorf("export of an unknown account: exit %d %s", code, errs)
	}
}

func flatten(m map[string][]pyView) []pyView {
	var out []pyView
	for _, l := range m {
		out = append(out, l...)
	}
	return out
}

// checkMaildirKeywords reads the keywords back from the file names and
// each folder's dovecot-keywords file (what Dovecot reads).
func checkMaildirKeywords(t *testing.T, md string, msgs []exportedMsg) {
	t.Helper()
	for _, m := range msgs {
		dir := filepath.Join(md, migrate.MaildirFolderDir(m.folder))
		kwFile, _ := os.ReadFile(filepath.Join(dir, "dovecot-keywords"))
		letters := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(kwFile)), "\n") {
			if n, name, ok := strings.Cut(l, " "); ok && len(n) == 1 {
				letters[string(rune('a'+n[0]-'0'))] = name
			}
		}
		files, _ := filepath.Glob(filepath.Join(dir, "cur", "*"))
		for _, f := range files {
			if data, _ := os.ReadFile(f); string(data) != string(m.data) {
				continue
			}
			_, info, _ := strings.Cut(filepath.Base(f), ":2,")
			var got []string
			for _, c := range info {
				if c >= 'a' && c <= 'z' {
					got = append(got, letters[string(c)])
				}
			}
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(m.kw, " ") {
				t.Errorf("%s: keywords %v, want %v", f, got, m.kw)
			}
		}
	}
}

// The web download: a user gets their own mail from /account as a zip of
// mbox files, the same files 'boxmail export --mbox' writes; an admin
// gets any user's from the Users tab; a user who is not an admin gets
// nobody else's.
func TestMailDownloadOnTheWeb(t *testing.T) {
	b := newBox(t)
	b.Cmd(testPassword+"\n", "user", "add", "leaver@example.test")
	b.Cmd(testPassword+"\n", "user", "add", "stays@example.test")
	msgs := fillForExport(t, b, "leaver@example.test")
	mb := filepath.Join(t.TempDir(), "mbox")
	if out, errs, code := b.Cmd("", "export", "leaver@example.test", "--mbox", mb); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, out, errs)
	}

	leaver := newWebClient(t, b, "127.0.0.1")
	leaver.mustLogin("leaver@example.test", testPassword)
	if _, page := leaver.get("/account"); !strings.Contains(page, `href="/account/mail.zip"`) {
		t.Errorf("the account page offers no download")
	}
	res, data := leaver.get("/account/mail.zip")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/zip" || !strings.Contains(res.Header.Get("Content-Disposition"), "mail-leaver@example.test-") {
		t.Fatalf("download: %s %v", res.Status, res.Header)
	}
	sameAsExport(t, []byte(data), mb, len(msgs))

	admin := newWebClient(t, b, "127.0.0.1")
	admin.mustLogin(b.Admin, b.Password)
	if _, page := admin.get("/admin/users"); !strings.Contains(page, `href="/admin/users/leaver@example.test/mail.zip"`) {
		t.Errorf("the Users tab offers no download")
	}
	res, data = admin.get("/admin/users/leaver@example.test/mail.zip")
	if res.StatusCode != 200 {
		t.Fatalf("admin download: %s", res.Status)
	}
	sameAsExport(t, []byte(data), mb, len(msgs))
	if res, _ := admin.get("/admin/users/nobody@example.test/mail.zip"); res.StatusCode != 404 {
		t.Errorf("download of no user: %s", res.Status)
	}

	stays := newWebClient(t, b, "127.0.0.1")
	stays.mustLogin("stays@example.test", testPassword)
	if res, data := stays.get("/admin/users/leaver@example.test/mail.zip"); res.StatusCode != 403 || strings.Contains(data, "From ") {
		t.Errorf("a user who is not an admin downloading another's mail: %s", res.Status)
	}
	res, data = stays.get("/account/mail.zip")
	zr, err := zip.NewReader(bytes.NewReader([]byte(data)), int64(len(data)))
	if res.StatusCode != 200 || err != nil {
		t.Fatalf("own download of an empty account: %s %v", res.Status, err)
	}
	for _, f := range zr.File {
		if f.UncompressedSize64 != 0 {
			t.Errorf("the other user's download holds %s (%d bytes)", f.Name, f.UncompressedSize64)
		}
	}
}

// sameAsExport checks that a zip holds exactly the files of an mbox
// export directory, byte for byte.
func sameAsExport(t *testing.T, data []byte, dir string, messages int) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("the download is no zip: %v", err)
	}
	n := 0
	for _, f := range zr.File {
		rc, err := f.Open()
		must(t, err)
		got, err := io.ReadAll(rc)
		must(t, err)
		rc.Close()
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s in the zip differs from the export's (%v)", f.Name, err)
		}
		n += bytes.Count(got, []byte("\nStatus: "))
	}
	files := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files != len(zr.File) || n != messages {
		t.Errorf("the zip holds %d files and %d messages; the export %d files, %d messages", len(zr.File), n, files, messages)
	}
}

// Rolling back: 'boxmail migrate export' appends the box's mail to the
// old provider's real Dovecot with flags, keywords and internal dates,
// creating the folders. Killed halfway and run again, it copies each
// message once; a message the old side already holds (the same content)
// is not copied again; a last run copies nothing.
func TestMigrateExportToDovecot(t *testing.T) {
	old := newOldProvider(t, 1)
	b := newBox(t)
	b.Cmd(testPassword+"\n", "user", "add", "leaver@example.test")
	msgs := fillForExport(t, b, "leaver@example.test")
	// The old side still holds one of the box's INBOX messages (as the
	// forward-and-keep period leaves them), with its trace field.
	kept := slices.IndexFunc(msgs, func(m exportedMsg) bool { return m.folder == "INBOX" && m.flags&store.FlagDeleted == 0 })
	old.Put("user1", []OldMessage{{Folder: "INBOX", Data: append([]byte("Received: from mx.old.test\r\n"), msgs[kept].data...), Flags: "S", Date: time.Unix(msgs[kept].date, 0)}})
	live := 0
	for _, m := range msgs {
		if m.flags&store.FlagDeleted == 0 {
			live++
		}
	}
	pw := filepath.Join(t.TempDir(), "pw")
	must(t, os.WriteFile(pw, []byte(OldPassword+"\n"), 0o600))
	args := []string{"migrate", "export", "leaver@example.test", "--to", old.URL(), "--user", "user1@old.test", "--password-file", pw, "--insecure", "--json", "--dir", b.Dir}

	// A wrong password: a clear refusal, nothing copied.
	bad := filepath.Join(t.TempDir(), "bad")
	must(t, os.WriteFile(bad, []byte("wrong\n"), 0o600))
	badArgs := slices.Clone(args)
	badArgs[slices.Index(badArgs, pw)] = bad
	if _, errs, code := run(t, "", badArgs...); code != 1 || !strings.Contains(errs, "refused the login of user1@old.test") || oldFiles(old) != 1 {
		t.Errorf("a wrong password: exit %d, %d files there\n%s", code, oldFiles(old), errs)
	}

	// Killed once a third is there.
	cmd := exec.Command(binary, args...)
	must(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && oldFiles(old) < len(msgs)/3 {
		time.Sleep(5 * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait() // killed
	t.Logf("killed with %d messages on the old side", oldFiles(old))

	type push struct {
		Done   bool
		Totals migrate.PushedFolder
	}
	for n := 1; n <= 2; n++ {
		out, errs, code := run(t, "", args...)
		var rep push
		if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
			t.Fatalf("run %d: exit %d\n%s%s", n, code, out, errs)
		}
		t.Logf("run %d: %+v", n, rep.Totals)
		if tot := rep.Totals; !rep.Done || tot.Appended+tot.Present != live || tot.Present < 1 {
			t.Errorf("run %d: %+v, want %d copied or already there", n, tot, live)
		}
		if n == 2 && rep.Totals.Appended != 0 {
			t.Errorf("the last run copied %d", rep.Totals.Appended)
		}
	}
	checkOldSide(t, old, msgs, kept, false, func(folder string) string {
		return strings.ReplaceAll(strings.ReplaceAll(folder, ".", "_"), "/", ".")
	})
}

// Dovecot serves a Maildir export as it is: every message, deleted ones
// too, with its bytes, flags, keywords (dovecot-keywords) and internal
// date, in its folder (Dovecot decodes "&AC4-" back to "." in names).
func TestDovecotServesTheMaildirExport(t *testing.T) {
	old := newOldProvider(t, 1)
	b := newBox(t)
	b.Cmd(testPassword+"\n", "user", "add", "leaver@example.test")
	msgs := fillForExport(t, b, "leaver@example.test")
	md := filepath.Join(old.home("user1"), "Maildir")
	if out, errs, code := b.Cmd("", "export", "leaver@example.test", "--maildir", md); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, out, errs)
	}
	// A "." inside a name ("Release v1.2") has no place in Dovecot's
	// Maildir++ without its listescape plugin: Dovecot lists the folder
	// but cannot open it. Only boxmail's importer reads it back.
	dotted, err := filepath.Glob(filepath.Join(md, ".*&AC4-*"))
	if err != nil || len(dotted) == 0 {
		t.Fatalf("no folder with an encoded dot in the export: %v", err)
	}
	for _, d := range dotted {
		must(t, os.RemoveAll(d))
	}
	msgs = slices.DeleteFunc(msgs, func(m exportedMsg) bool { return strings.Contains(m.folder, ".") })
	old.Put("user1", nil) // hands the files to Dovecot's user
	checkOldSide(t, old, msgs, -1, true, func(folder string) string { return strings.ReplaceAll(folder, "/", ".") })
}

// oldFiles counts the message files in the old provider's Maildirs.
func oldFiles(old *OldProvider) int {
	n := 0
	filepath.WalkDir(old.Dir, func(p string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() && (filepath.Base(filepath.Dir(p)) == "cur" || filepath.Base(filepath.Dir(p)) == "new") {
			n++
		}
		return nil
	})
	return n
}

// checkOldSide reads every folder of user1 through Dovecot's IMAP: each
// box message (not marked deleted, unless withDeleted) is there exactly
// once in remoteName(its folder), byte for byte (msgs[kept], if any, as
// the old side had it before, with its own trace field), with its flags,
// keywords and internal date.
func checkOldSide(t *testing.T, old *OldProvider, msgs []exportedMsg, kept int, withDeleted bool, remoteName func(string) string) {
	t.Helper()
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", old.IMAP), nil)
	must(t, err)
	defer c.Close()
	must(t, c.Login("user1@old.test", OldPassword).Wait())
	type remoteMsg struct {
		flags string
		date  int64
	}
	got := map[string][]remoteMsg{} // folder + body sha
	total := 0
	list, err := c.List("", "*", nil).Collect()
	must(t, err)
	for _, l := range list {
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		must(t, err)
		if sel.NumMessages == 0 {
			continue
		}
		fetched, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		must(t, err)
		for _, m := range fetched {
			var fl []string
			for _, f := range m.Flags {
				if f != `\Recent` {
					fl = append(fl, string(f))
				}
			}
			sort.Strings(fl)
			for _, body := range m.BodySection {
				got[l.Mailbox+" "+sha(body.Bytes)] = append(got[l.Mailbox+" "+sha(body.Bytes)], remoteMsg{strings.Join(fl, " "), m.InternalDate.Unix()})
				total++
			}
		}
	}
	want := 0
	for i, m := range msgs {
		if m.flags&store.FlagDeleted != 0 && !withDeleted {
			continue
		}
		want++
		remote := remoteName(m.folder)
		data, flags := m.data, append(m.flags.Names(), m.kw...)
		if i == kept {
			data, flags = append([]byte("Received: from mx.old.test\r\n"), m.data...), []string{`\Seen`}
		}
		sort.Strings(flags)
		if l := got[remote+" "+sha(data)]; len(l) != 1 || l[0].flags != strings.Join(flags, " ") || l[0].date != m.date {
			t.Errorf("%s: message %.40q: on the old side %+v, want once with flags %v and date %d", remote, m.data, l, flags, m.date)
		}
	}
	if total != want {
		t.Errorf("the old side holds %d messages, want %d", total, want)
	}
}

// An export reads the box a page of messages at a time and streams each
// body: 128 MiB of mail (some messages of 8 MiB) are written out by a
// process that stays far below that.
func TestExportMemoryIsBounded(t *testing.T) {
	b := newBox(t)
	b.Cmd(testPassword+"\n", "user", "add", "big@example.test")
	ctx := context.Background()
	st, acc := b.OpenAccount("big@example.test")
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	total := 0
	for i := 0; total < 128<<20; i++ {
		size := 1 << 20
		if i%4 == 0 {
			size = 8 << 20
		}
		msg := fmt.Sprintf("Message-ID: <%d@big>\r\nSubject: big %d\r\n\r\n", i, i) + strings.Repeat(line, size/len(line))
		if _, _, err := st.Append(ctx, acc.ID, "INBOX", []byte(msg), store.FlagSeen, nil, time.Unix(1700000000+int64(i), 0)); err != nil {
			t.Fatal(err)
		}
		total += len(msg)
	}
	must(t, st.Close())
	peak := func(email, kind string) int64 {
		cmd := exec.Command(binary, "export", email, kind, filepath.Join(t.TempDir(), "out"), "--dir", b.Dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("export %s %s: %v\n%s", email, kind, err, out)
		}
		return int64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) << 10 // KiB on Linux
	}
	for _, kind := range []string{"--maildir", "--mbox"} {
		base, rss := peak(b.Admin, kind), peak("big@example.test", kind)
		t.Logf("export %s: peak RSS %d MiB for %d MiB of mail, %d MiB for none", kind, rss>>20, total>>20, base>>20)
		if rss-base > 24<<20 {
			t.Errorf("export %s of %d MiB used %d MiB more than an export of nothing", kind, total>>20, (rss-base)>>20)
		}
	}
}
