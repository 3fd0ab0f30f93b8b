package migrate

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

func TestMboxQuoting(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"crlf becomes lf", "A: b\r\n\r\nbody\r\n", "A: b\n\nbody\n"},
		{"from line quoted", "S: x\r\n\r\nFrom me\r\n", "S: x\n\n>From me\n"},
		{"quoted from gets one more", "S: x\r\n\r\n>From me\r\n>>From you\r\n", "S: x\n\n>>From me\n>>>From you\n"},
		{"from inside a line stays", "S: x\r\n\r\nsaid From me\r\n", "S: x\n\nsaid From me\n"},
		{"not quite from", "S: x\r\n\r\nFrom\r\n>Fromage\r\n", "S: x\n\nFrom\n>Fromage\n"},
		{"lone cr stays", "S: x\r\n\r\na\rb\r\n", "S: x\n\na\rb\n"},
		{"last line ended", "S: x\r\n\r\nno end", "S: x\n\nno end\n"},
		{"bare lf kept as line", "S: x\n\nFrom lf\n", "S: x\n\n>From lf\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := copyMboxQuoted(&b, bufio.NewReader(strings.NewReader(tc.in))); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
			// The importer reads it back to the CRLF original (a bare LF
			// becomes CRLF, as any Maildir or mbox import does).
			back, _ := io.ReadAll(newLineFixer(strings.NewReader(b.String()), true))
			want := strings.ReplaceAll(strings.ReplaceAll(tc.in, "\r\n", "\n"), "\n", "\r\n")
			if !strings.HasSuffix(want, "\r\n") {
				want += "\r\n"
			}
			if string(back) != want {
				t.Errorf("read back %q, want %q", back, want)
			}
		})
	}
}

// Lines longer than the writer's piece size are quoted only at their
// start, and a CRLF split between pieces is still one line end.
func TestMboxQuotingAcrossPieces(t *testing.T) {
	long := strings.Repeat("x", mboxLine-1)
	in := "S: x\r\n\r\n" + long + "\r\nFrom a\r\n" + strings.Repeat("y", 3*mboxLine) + "From b\r\n"
	var b bytes.Buffer
	if err := copyMboxQuoted(&b, bufio.NewReaderSize(strings.NewReader(in), mboxLine)); err != nil {
		t.Fatal(err)
	}
	want := "S: x\n\n" + long + "\n>From a\n" + strings.Repeat("y", 3*mboxLine) + "From b\n"
	if b.String() != want {
		t.Errorf("got %d bytes, want %d (first difference at %d)", b.Len(), len(want), firstDiff(b.String(), want))
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestFlagMapping(t *testing.T) {
	for _, tc := range []struct {
		flags    store.Flags
		kw       []string
		maildir  string
		mboxHead string
	}{
		{0, nil, "", "Status: O\n"},
		{store.FlagSeen, nil, "S", "Status: RO\n"},
		{store.FlagSeen | store.FlagAnswered | store.FlagFlagged, nil, "FRS", "Status: RO\nX-Status: AF\n"},
		{store.FlagDraft | store.FlagDeleted, nil, "DT", "Status: O\nX-Status: TD\n"},
		{store.FlagSeen | store.FlagRecent, []string{"$Label1", "Junk"}, "Sab", "Status: RO\nX-Keywords: $Label1 Junk\n"},
		{store.FlagFlagged, []string{"Junk"}, "Fb", "Status: O\nX-Status: F\nX-Keywords: Junk\n"},
	} {
		k := &keywordLetters{letters: map[string]byte{"$Label1": 'a', "Junk": 'b'}, names: []string{"$Label1", "Junk"}}
		if got := k.info(tc.flags, tc.kw); got != tc.maildir {
			t.Errorf("%v %v: maildir info %q, want %q", tc.flags.Names(), tc.kw, got, tc.maildir)
		}
		// The Maildir reader reads the flags back.
		m := parseMaildirName("k:2,"+tc.maildir, map[byte]string{'a': "$Label1", 'b': "Junk"})
		if m.Flags != tc.flags&^(store.FlagDeleted|store.FlagRecent) || m.Deleted != (tc.flags&store.FlagDeleted != 0) || !slices.Equal(m.Keywords, tc.kw) {
			t.Errorf("%q read back as %v %v deleted %v", tc.maildir, m.Flags.Names(), m.Keywords, m.Deleted)
		}
		if got := MboxFlagFields(tc.flags, tc.kw); got != tc.mboxHead {
			t.Errorf("%v %v: mbox fields %q, want %q", tc.flags.Names(), tc.kw, got, tc.mboxHead)
		}
		f, del := mboxFlags([]byte(strings.ReplaceAll(tc.mboxHead, "\n", "\r\n") + "\r\nbody\r\n"))
		if f != tc.flags&^(store.FlagDeleted|store.FlagRecent) || del != (tc.flags&store.FlagDeleted != 0) {
			t.Errorf("%q read back as %v deleted %v", tc.mboxHead, f.Names(), del)
		}
	}
}

func TestMoreThan26KeywordsAreReported(t *testing.T) {
	k := &keywordLetters{letters: map[string]byte{}}
	var all []string
	for i := 0; i < 28; i++ {
		all = append(all, "k"+string(rune('A'+i)))
	}
	if got := k.info(0, all); got != "abcdefghijklmnopqrstuvwxyz" {
		t.Errorf("info %q", got)
	}
	if !slices.Equal(k.dropped, all[26:]) {
		t.Errorf("dropped %v", k.dropped)
	}
}

func TestFolderPaths(t *testing.T) {
	for _, tc := range []struct{ name, maildir, mbox string }{
		{"INBOX", "", "INBOX.mbox"},
		{"Sent", ".Sent", "Sent.mbox"},
		{"Work/2024", ".Work.2024", "Work.sbd/2024.mbox"},
		{"INBOX/Sub", ".INBOX.Sub", "INBOX.sbd/Sub.mbox"},
		{"v1.2", ".v1&AC4-2", "v1.2.mbox"},
		{"Réunion & co", ".R&AOk-union &- co", "Réunion & co.mbox"},
	} {
		if got := MaildirFolderDir(tc.name); got != tc.maildir {
			t.Errorf("%q: maildir %q, want %q", tc.name, got, tc.maildir)
		}
		if got := MboxFile(tc.name); got != tc.mbox {
			t.Errorf("%q: mbox %q, want %q", tc.name, got, tc.mbox)
		}
		if tc.maildir != "" {
			var back []string
			for _, l := range strings.Split(tc.maildir[1:], ".") {
				back = append(back, DecodeUTF7(l))
			}
			if strings.Join(back, "/") != tc.name {
				t.Errorf("%q decodes as %q", tc.maildir, back)
			}
		}
	}
}

// exportBox is a box with messages in INBOX and nested folders.
type exportMsg struct {
	box   string
	data  string
	flags store.Flags
	kw    []string
	date  time.Time
}

var exportMsgs = []exportMsg{
	{"INBOX", "Message-ID: <1@x>\r\nSubject: one\r\n\r\nhello\r\nFrom the start\r\n>From quoted\r\n", store.FlagSeen, nil, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
	{"INBOX", "Return-Path: <a@b.example>\r\nMessage-ID: <2@x>\r\nSubject: two\r\nStatus: RO\r\n\r\nbye\r\n", store.FlagFlagged | store.FlagAnswered, []string{"$Label1"}, time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)},
	{"Work/2024", "Message-ID: <3@x>\r\nSubject: three\r\n\r\nwork\r\n", store.FlagSeen | store.FlagDraft, []string{"Junk", "$Label1"}, time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)},
	{"Work", "Message-ID: <4@x>\r\nSubject: four\r\n\r\nparent\r\n", 0, nil, time.Date(2019, 9, 9, 9, 9, 9, 0, time.UTC)},
	{"v1.2", "Message-ID: <5@x>\r\nSubject: dots\r\n\r\nv\r\n", store.FlagSeen, nil, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)},
}

func fillExportBox(t *testing.T, st *store.Store, acc store.Account) {
	t.Helper()
	ctx := context.Background()
	for _, m := range exportMsgs {
		if _, err := st.MailboxByName(ctx, acc.ID, m.box); err != nil {
			if err := st.CreateMailbox(ctx, acc.ID, m.box, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := st.Append(ctx, acc.ID, m.box, []byte(m.data), m.flags, m.kw, m.date); err != nil {
			t.Fatal(err)
		}
	}
}

// boxMessages lists an account's messages by folder: data, flags, keywords, date.
func boxMessages(t *testing.T, st *store.Store, accountID int64) map[string][]string {
	t.Helper()
	ctx := context.Background()
	mbs, err := st.Mailboxes(ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
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
			kw := slices.Clone(m.Keywords)
			slices.Sort(kw)
			out[mb.Name] = append(out[mb.Name], strings.Join([]string{string(b), strings.Join((m.Flags &^ store.FlagRecent).Names(), " "), strings.Join(kw, " "), m.InternalDate.UTC().String()}, "|"))
		}
	}
	return out
}

func TestExportMaildirRoundTrip(t *testing.T) {
	ctx := context.Background()
	st, acc := newBox(t, t.TempDir(), store.Options{}, "me@example.test")
	fillExportBox(t, st, acc)
	dir := filepath.Join(t.TempDir(), "md")
	rep, err := ExportMaildir(ctx, ExportOptions{Store: st, AccountID: acc.ID}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := rep.Totals(); n != len(exportMsgs) {
		t.Fatalf("exported %d messages, want %d: %+v", n, len(exportMsgs), rep)
	}
	// Bytes unchanged, date as mtime, flags in the name.
	for _, m := range exportMsgs {
		files, _ := filepath.Glob(filepath.Join(dir, MaildirFolderDir(m.box), "cur", "*"))
		found := false
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if string(b) != m.data {
				continue
			}
			found = true
			fi, _ := os.Stat(f)
			if !fi.ModTime().Equal(m.date) {
				t.Errorf("%s: mtime %v, want %v", f, fi.ModTime(), m.date)
			}
		}
		if !found {
			t.Errorf("%s: no file holds %q", m.box, m.data)
		}
	}
	// Imported into the same account: everything already present.
	rep2 := importMaildir(t, st, acc.ID, dir)
	if tot := rep2.Totals(); tot.Copied != 0 || tot.Present != len(exportMsgs) || !rep2.Done() {
		t.Errorf("re-import: %+v", tot)
	}
	// Imported into another account: the same messages, flags, keywords, dates.
	st2, acc2 := newBox(t, t.TempDir(), store.Options{}, "other@example.test")
	if rep3 := importMaildir(t, st2, acc2.ID, dir); !rep3.Done() || rep3.Totals().Copied != len(exportMsgs) {
		t.Errorf("import elsewhere: %+v", rep3.Totals())
	}
	want, got := boxMessages(t, st, acc.ID), boxMessages(t, st2, acc2.ID)
	for box, msgs := range want {
		if len(msgs) > 0 && !slices.Equal(msgs, got[box]) {
			t.Errorf("%s: got %q, want %q", box, got[box], msgs)
		}
	}
	if _, err := ExportMaildir(ctx, ExportOptions{Store: st, AccountID: acc.ID}, dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second export into the same dir: %v", err)
	}
}

func TestExportMboxRoundTrip(t *testing.T) {
	ctx := context.Background()
	st, acc := newBox(t, t.TempDir(), store.Options{}, "me@example.test")
	fillExportBox(t, st, acc)
	dir := filepath.Join(t.TempDir(), "mbox")
	var told []int64 // the progress bar's figures
	if _, err := ExportMbox(ctx, ExportOptions{Store: st, AccountID: acc.ID, Progress: func(done int64) { told = append(told, done) }}, dir); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, m := range exportMsgs {
		sum += int64(len(m.data))
	}
	if len(told) != len(exportMsgs) || !slices.IsSorted(told) || told[len(told)-1] != sum {
		t.Errorf("progress told %v, want %d steps up to %d bytes", told, len(exportMsgs), sum)
	}
	b, err := os.ReadFile(filepath.Join(dir, "INBOX.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	wantInbox := "From MAILER-DAEMON Thu Jan  2 03:04:05 2020\nStatus: RO\nMessage-ID: <1@x>\nSubject: one\n\nhello\n>From the start\n>>From quoted\n\n" +
		"From a@b.example Thu May  6 07:08:09 2021\nStatus: O\nX-Status: AF\nX-Keywords: $Label1\nReturn-Path: <a@b.example>\nMessage-ID: <2@x>\nSubject: two\nStatus: RO\n\nbye\n\n"
	if string(b) != wantInbox {
		t.Errorf("INBOX.mbox:\n%q\nwant\n%q", b, wantInbox)
	}
	if _, err := os.Stat(filepath.Join(dir, "Work.sbd", "2024.mbox")); err != nil {
		t.Error(err)
	}
	src, err := NewMboxSource(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Import(ctx, Options{Store: st, AccountID: acc.ID}, src)
	if err != nil {
		t.Fatal(err)
	}
	if tot := rep.Totals(); tot.Copied != 0 || tot.Present != len(exportMsgs) || !rep.Done() {
		t.Errorf("re-import: %+v", tot)
	}
	// Flags, keywords (X-Keywords) and dates come back in another account.
	st2, acc2 := newBox(t, t.TempDir(), store.Options{}, "other@example.test")
	src2, _ := NewMboxSource(dir, "")
	if rep, err := Import(ctx, Options{Store: st2, AccountID: acc2.ID}, src2); err != nil || rep.Totals().Copied != len(exportMsgs) {
		t.Fatalf("import elsewhere: %v %+v", err, rep)
	}
	got := boxMessages(t, st2, acc2.ID)
	for _, m := range exportMsgs {
		prefix := strings.ReplaceAll(MboxFlagFields(m.flags, m.kw), "\n", "\r\n")
		kw := slices.Clone(m.kw)
		slices.Sort(kw)
		want := prefix + m.data + "|" + strings.Join(m.flags.Names(), " ") + "|" + strings.Join(kw, " ") + "|" + m.date.String()
		if !slices.Contains(got[m.box], want) {
			t.Errorf("%s: %q not in %q", m.box, want, got[m.box])
		}
	}
}

func TestExportMboxZip(t *testing.T) {
	ctx := context.Background()
	st, acc := newBox(t, t.TempDir(), store.Options{}, "me@example.test")
	fillExportBox(t, st, acc)
	var buf bytes.Buffer
	if _, err := ExportMboxZip(ctx, ExportOptions{Store: st, AccountID: acc.ID}, &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	for _, n := range []string{"INBOX.mbox", "Work.mbox", "Work.sbd/2024.mbox", "v1.2.mbox"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s not in the zip %v", n, names)
		}
	}
	buf.Reset()
	if _, err := ExportMboxZip(ctx, ExportOptions{Store: st, AccountID: acc.ID, MaxBytes: 100}, &buf); !errors.Is(err, ErrExportTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// A large message kept in a body file is streamed, byte for byte.
func TestExportStreamsFileBodies(t *testing.T) {
	ctx := context.Background()
	st, acc := newBox(t, t.TempDir(), store.Options{FileBodyMin: 1024}, "me@example.test")
	big := "Subject: big\r\n\r\n" + strings.Repeat("From line\r\n"+strings.Repeat("z", 200)+"\r\n", 2000)
	if _, _, err := st.Append(ctx, acc.ID, "INBOX", []byte(big), store.FlagSeen, nil, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "md")
	if _, err := ExportMaildir(ctx, ExportOptions{Store: st, AccountID: acc.ID}, dir); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cur", "*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], ":2,S") {
		t.Fatalf("files %v", files)
	}
	if b, _ := os.ReadFile(files[0]); string(b) != big {
		t.Error("big message changed")
	}
}

func TestRemoteTarget(t *testing.T) {
	remote := []Folder{{Name: "INBOX"}, {Name: "Sent Items"}, {Name: "Papierkorb"}, {Name: "Archiv", SpecialUse: `\Archive`}, {Name: "Work"}, {Name: "Work/2024"}}
	wire := map[string]string{"Sent Items": "Sent Items", "Papierkorb": "Papierkorb", "Archiv": "Archiv", "Work": "Work", "Work/2024": "Work.2024"}
	for _, tc := range []struct {
		name, use string
		delim     rune
		want      string
		exists    bool
	}{
		{"INBOX", "", '.', "INBOX", true},
		{"Sent", `\Sent`, '.', "Sent Items", true},   // a common name
		{"Trash", `\Trash`, '.', "Papierkorb", true}, // a common name, German
		{"Archive", `\Archive`, '.', "Archiv", true}, // SPECIAL-USE
		{"Junk", `\Junk`, '.', "Junk", false},        // none there: created
		{"Work/2024", "", '.', "Work.2024", true},    // the hierarchy
		{"Work/2025", "", '.', "Work.2025", false},   // created
		{"Release v1.2/Notes", "", '.', "Release v1_2.Notes", false},
		{"Release v1.2/Notes", "", '/', "Release v1.2/Notes", false},
	} {
		got, exists := remoteTarget(store.Mailbox{Name: tc.name, SpecialUse: tc.use}, remote, wire, tc.delim)
		if got != tc.want || exists != tc.exists {
			t.Errorf("%s (%s) with %q: %q %v, want %q %v", tc.name, tc.use, tc.delim, got, exists, tc.want, tc.exists)
		}
	}
}

// The header key of a whole header is that of the identity fields alone,
// as FETCH BODY[HEADER.FIELDS (...)] returns them.
func TestHeaderKeyOfTheFieldsAlone(t *testing.T) {
	whole := "Received: from x\r\nMessage-ID: <a@b>\r\nSubject: a\r\n  folded\r\nX-Spam: yes\r\nFrom: c@d\r\nTo: e@f\r\nTo: g@h\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"
	fields := "Message-ID: <a@b>\r\nSubject: a\r\n  folded\r\nFrom: c@d\r\nTo: e@f\r\nTo: g@h\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"
	if headerKey([]byte(whole)) != headerKey([]byte(fields)) {
		t.Error("the fields alone have another key")
	}
	if headerKey([]byte(whole)) == headerKey([]byte(strings.Replace(fields, "g@h", "x@y", 1))) {
		t.Error("other fields have the same key")
	}
	iw := newIdentityWriter()
	iw.Write([]byte(whole + "body\r\n"))
	iw.result()
	if headerKey(iw.hdr) != headerKey([]byte(fields)) {
		t.Error("the streamed header has another key")
	}
}
