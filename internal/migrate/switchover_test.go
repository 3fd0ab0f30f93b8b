package migrate

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// writeMaildir writes files (folder "" is INBOX, name with its ":2,"
// info) into a Maildir++ tree, with a dovecot-keywords where given.
func writeMaildir(t *testing.T, files map[string]map[string]string, keywords map[string]string) string {
	t.Helper()
	md := t.TempDir()
	for folder, msgs := range files {
		dir := md
		if folder != "" {
			dir = filepath.Join(md, "."+folder)
		}
		for _, d := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range msgs {
			if err := os.WriteFile(filepath.Join(dir, "cur", name), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if kw, ok := keywords[folder]; ok {
			if err := os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte(kw), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return md
}

// boxPlace is one copy of a message in the box.
type boxPlace struct {
	mailbox  string
	flags    store.Flags
	keywords []string
}

// placesOf returns, for each message body text, the copies of it.
func placesOf(t *testing.T, st *store.Store, accountID int64) map[string][]boxPlace {
	t.Helper()
	ctx := context.Background()
	mbs, err := st.Mailboxes(ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]boxPlace{}
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
			_, body, _ := strings.Cut(string(b), "\r\n\r\n")
			out[body] = append(out[body], boxPlace{mb.Name, m.Flags &^ store.FlagRecent, m.Keywords})
		}
	}
	return out
}

// The switch-over: the box kept copies of mail forwarded to the old
// provider, where the user filed some into folders and read them. The
// import keeps one copy of each, in the folder chosen at the old
// provider, with the old side's read state merged in; a message the old
// side has in two folders stays in two; a copy the user filed at the box
// stays where it is.
func TestImportMovesForwardedCopiesIntoTheFoldersChosenAtTheOldProvider(t *testing.T) {
	ctx := context.Background()
	st, acc := newBox(t, t.TempDir(), store.Options{}, "ben@example.test")
	msg := func(word string) string {
		return "Message-ID: <" + word + "@friend.test>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nFrom: friend@friend.test\r\nTo: ben@example.test\r\nSubject: " +
			word + "\r\n\r\n" + word + " body\r\n"
	}
	trace := "Return-Path: <SRS0=x=y=friend.test=friend@example.test>\r\nReceived: from mail.example.test by mx.old.test\r\n"
	for _, w := range []string{"filed", "twice", "unfiled", "inboxtoo", "boxfiled"} {
		if err := st.Deliver(ctx, store.Delivery{Data: []byte("Received: by mail.example.test\r\n" + msg(w)),
			Local: []store.LocalTarget{{AccountID: acc.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateMailbox(ctx, acc.ID, "Mine", ""); err != nil {
		t.Fatal(err)
	}
	inbox, _ := st.MailboxByName(ctx, acc.ID, "INBOX")
	if _, err := st.Copy(ctx, acc.ID, inbox.ID, []uint32{5}, "Mine", true); err != nil { // boxfiled, filed at the box
		t.Fatal(err)
	}
	md := writeMaildir(t, map[string]map[string]string{
		"":       {"1.a:2,S": trace + msg("unfiled"), "2.b:2,": trace + msg("inboxtoo"), "3.c:2,F": trace + msg("boxfiled")},
		"Family": {"4.d:2,Sa": trace + msg("filed"), "5.e:2,": trace + msg("twice"), "6.f:2,R": trace + msg("inboxtoo")},
		"Work":   {"7.g:2,": trace + msg("twice")},
	}, map[string]string{"Family": "0 $Family\n"})
	for run := range 2 {
		rep := importMaildir(t, st, acc.ID, md)
		tot := rep.Totals()
		want := []int{2, 0}[run] // twice's second folder, inboxtoo's Family copy
		if tot.Copied != want || !rep.Done() {
			t.Errorf("run %d: copied %d (want %d), done %v: %+v", run+1, tot.Copied, want, rep.Done(), rep.Folders)
		}
		// filed, twice into one of its folders, and inboxtoo when Family
		// came before INBOX (two folders are imported at once).
		if run == 0 && (tot.Moved < 2 || tot.Moved > 3) {
			t.Errorf("run 1: moved %d, want 2 or 3", tot.Moved)
		}
	}
	places := placesOf(t, st, acc.ID)
	check := func(word string, want ...boxPlace) {
		t.Helper()
		got := places[word+" body\r\n"]
		slices.SortFunc(got, func(a, b boxPlace) int { return strings.Compare(a.mailbox, b.mailbox) })
		if len(got) != len(want) {
			t.Errorf("%s is in %+v; want %+v", word, got, want)
			return
		}
		for i := range got {
			if got[i].mailbox != want[i].mailbox || got[i].flags != want[i].flags || !slices.Equal(got[i].keywords, want[i].keywords) {
				t.Errorf("%s is in %+v; want %+v", word, got, want)
			}
		}
	}
	check("filed", boxPlace{"Family", store.FlagSeen, []string{"$Family"}})
	check("unfiled", boxPlace{"INBOX", store.FlagSeen, nil})
	check("twice", boxPlace{"Family", 0, nil}, boxPlace{"Work", 0, nil})
	check("inboxtoo", boxPlace{"Family", store.FlagAnswered, nil}, boxPlace{"INBOX", 0, nil})
	check("boxfiled", boxPlace{"Mine", store.FlagFlagged, nil})
}

// Resumed across runs: Family alone first (the box's copy moves there),
// INBOX later. The moved copy is the import's now, so the old side's
// INBOX copy is stored beside it, not taken for it.
func TestAMovedCopyIsNotTakenAgainByALaterRun(t *testing.T) {
	ctx := context.Background()
	st, acc := newBox(t, t.TempDir(), store.Options{}, "ben@example.test")
	m := "Message-ID: <x@friend.test>\r\nFrom: friend@friend.test\r\nSubject: x\r\n\r\nboth\r\n"
	if err := st.Deliver(ctx, store.Delivery{Data: []byte(m), Local: []store.LocalTarget{{AccountID: acc.ID}}}); err != nil {
		t.Fatal(err)
	}
	md := writeMaildir(t, map[string]map[string]string{"": {"1.a:2,": m}, "Family": {"2.b:2,S": m}}, nil)
	for _, folders := range [][]string{{"Family"}, {"INBOX"}, nil} {
		src, err := NewMaildirSource(md)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Import(ctx, Options{Store: st, AccountID: acc.ID, Folders: folders}, src); err != nil {
			t.Fatal(err)
		}
	}
	places := placesOf(t, st, acc.ID)["both\r\n"]
	if len(places) != 2 || places[0].mailbox == places[1].mailbox {
		t.Errorf("the message is in %+v; want INBOX and Family", places)
	}
}

// Records written before migration 15 do not name the box's copy they
// matched; they still claim the delivered copy of their mailbox with
// their identity, so a later run does not move it away.
func TestRecordsFromBeforeTheirBoxCopyWasNamedStillClaimIt(t *testing.T) {
	testutil.SQLiteOnly(t, "it rewrites old records in the database file")
	ctx := context.Background()
	dir := t.TempDir()
	st, acc := newBox(t, dir, store.Options{}, "ben@example.test")
	m := "Message-ID: <y@friend.test>\r\nFrom: friend@friend.test\r\nSubject: y\r\n\r\nin two\r\n"
	if err := st.Deliver(ctx, store.Delivery{Data: []byte(m), Local: []store.LocalTarget{{AccountID: acc.ID}}}); err != nil {
		t.Fatal(err)
	}
	md := writeMaildir(t, map[string]map[string]string{"": {"1.a:2,": m}, "Family": {"2.b:2,S": m}}, nil)
	src, err := NewMaildirSource(md)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, Options{Store: st, AccountID: acc.ID, Folders: []string{"INBOX"}}, src); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE import_messages SET box_mailbox = 0, box_uid = 0"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rep := importMaildir(t, st, acc.ID, md)
	if tot := rep.Totals(); tot.Copied != 1 || tot.Moved != 0 {
		t.Errorf("copied %d, moved %d; want Family's copied, INBOX's left", tot.Copied, tot.Moved)
	}
	places := placesOf(t, st, acc.ID)["in two\r\n"]
	if len(places) != 2 || places[0].mailbox == places[1].mailbox {
		t.Errorf("the message is in %+v; want INBOX and Family", places)
	}
}
