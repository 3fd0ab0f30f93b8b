package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// streamedIdentity writes msg to an identityWriter in pieces of step
// bytes.
func streamedIdentity(msg []byte, step int) (string, []string, string) {
	w := newIdentityWriter()
	for len(msg) > 0 {
		n := min(step, len(msg))
		w.Write(msg[:n])
		msg = msg[n:]
	}
	return w.result()
}

var identityCases = []string{
	"Message-ID: <a@x>\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\nFrom: a@x\r\nSubject: hi\r\n\r\nbody\r\n\r\n\r\n",
	"Message-ID: <a@x>\nDate: Mon, 2 Jan 2006\nSubject: LF only\n\nbody line\nmore \t\n\n",
	"Subject: no date\r\nMessage-ID: <b@x>\r\n\r\nlone\rCR and CR at the end\r",
	"Subject: folded\r\n subject\r\nTo: a@x,\r\n\tb@x\r\n\r\n",
	"Subject: no body",
	"\r\nno header at all\r\n",
	"\nLF blank first\n",
	"Subject: trailing spaces inside\r\n\r\na  \r\n  b \t \r\n",
	"",
}

func TestTheStreamedIdentityIsTheIdentityOfTheWholeMessage(t *testing.T) {
	for _, c := range identityCases {
		msg := []byte(c)
		sum := sha256.Sum256(msg)
		for _, step := range []int{1, 2, 3, 7, 64, len(msg) + 1} {
			id, added, s := streamedIdentity(msg, step)
			if id != Identity(msg) {
				t.Errorf("%q in pieces of %d: identity differs", c, step)
			}
			if !slices.Equal(added, addedFieldIdentities(msg)) {
				t.Errorf("%q in pieces of %d: variants %v, want %v", c, step, added, addedFieldIdentities(msg))
			}
			if s != hex.EncodeToString(sum[:]) {
				t.Errorf("%q in pieces of %d: sha256 differs", c, step)
			}
		}
	}
}

func FuzzStreamedIdentity(f *testing.F) {
	for _, c := range identityCases {
		f.Add([]byte(c), uint8(3))
	}
	f.Fuzz(func(t *testing.T, msg []byte, step uint8) {
		if len(msg) > maxStreamHeader {
			return
		}
		id, added, _ := streamedIdentity(msg, int(step)+1)
		if id != Identity(msg) || !slices.Equal(added, addedFieldIdentities(msg)) {
			t.Fatalf("streamed identity of %q (pieces of %d) differs", msg, int(step)+1)
		}
	})
}

// unescapeReference is the plain whole-message version of lineFixer.
func unescapeReference(b []byte, mbox bool) []byte {
	var out []byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i], b[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if t := bytes.TrimLeft(line, ">"); mbox && len(t) < len(line) && bytes.HasPrefix(t, []byte("From ")) {
			line = line[1:]
		}
		out = append(out, line...)
		if i >= 0 {
			out = append(out, '\r', '\n')
		}
	}
	return out
}

var lineCases = []string{
	"a\nb\r\nc",
	">From me\n>>From you\nFrom x\n> From y\n",
	"long line " + string(bytes.Repeat([]byte("x"), 40)) + "\r\nnext\r",
	"cr\rin the middle\r\r\n",
	"ends in CR\r",
	"exactly sixteen\r\n",
	"",
}

func TestLineFixerMakesCRLFAndUnquotesFromLinesInAnyPieces(t *testing.T) {
	for _, c := range lineCases {
		for _, mbox := range []bool{false, true} {
			for _, size := range []int{16, 17, 64 << 10} {
				got, err := io.ReadAll(newLineFixerSize(bytes.NewReader([]byte(c)), mbox, size))
				if want := unescapeReference([]byte(c), mbox); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%q (mbox %v, buffer %d) = %q, want %q (%v)", c, mbox, size, got, want, err)
				}
			}
		}
	}
}

func FuzzLineFixer(f *testing.F) {
	for _, c := range lineCases {
		f.Add([]byte(c), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, mbox bool) {
		got, _ := io.ReadAll(newLineFixerSize(bytes.NewReader(b), mbox, 16))
		if want := unescapeReference(b, mbox); !bytes.Equal(got, want) {
			t.Fatalf("%q (mbox %v) = %q, want %q", b, mbox, got, want)
		}
	})
}

// A Maildir backup (LF line endings, as Dovecot writes them) with
// messages above the store's file threshold: they are streamed into
// body files with CRLF line endings, one the box already holds (kept
// during forward-and-keep, its copy at the old side gained trace fields)
// is recognised without reading either whole, and a second run copies
// nothing.
func TestLargeMessagesAreStreamedIntoFilesAndStillRecognised(t *testing.T) {
	testutil.SQLiteOnly(t, "it counts the body files in DIR/bodies (on PostgreSQL large bodies are in the body store)")
	ctx := context.Background()
	dir := t.TempDir()
	st, acc := newBox(t, dir, store.Options{FileBodyMin: 4096}, "ben@example.test")
	photo := func(name string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "Message-ID: <%s@friend.test>\nDate: Mon, 02 Jan 2006 15:04:05 +0000\nFrom: friend@friend.test\nSubject: %s\n\n", name, name)
		for i := range 2000 {
			fmt.Fprintf(&b, "%076d\n", i)
		}
		return b.String()
	}
	crlf := func(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }
	kept := photo("kept")
	if _, _, err := st.Append(ctx, acc.ID, "INBOX", crlf(kept), 0, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	md := t.TempDir()
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, d), 0o700)
	}
	os.WriteFile(filepath.Join(md, "cur", "1.kept:2,S"), []byte("Return-Path: <SRS0=x=y=friend.test=friend@example.test>\nReceived: from box\n"+kept), 0o600)
	os.WriteFile(filepath.Join(md, "cur", "2.new:2,S"), []byte(photo("new")), 0o600)
	// The second run finds both recorded: already present.
	for run, want := range [][2]int{{1, 1}, {0, 2}} {
		rep := importMaildir(t, st, acc.ID, md)
		if tot := rep.Totals(); tot.Copied != want[0] || tot.Present != want[1] || !rep.Done() {
			t.Errorf("run %d: copied %d, already present %d (want %v), done %v", run+1, tot.Copied, tot.Present, want, rep.Done())
		}
	}
	mb, _ := st.MailboxByName(ctx, acc.ID, "INBOX")
	msgs, _ := st.Messages(ctx, mb.ID, 1, 0)
	if len(msgs) != 2 {
		t.Fatalf("INBOX holds %d messages, want 2", len(msgs))
	}
	got, err := st.Body(ctx, msgs[1].BodyID)
	if err != nil || !bytes.Equal(got, crlf(photo("new"))) {
		t.Errorf("the imported photo is not the old one with CRLF line endings (%d bytes, %v)", len(got), err)
	}
	files, _ := os.ReadDir(filepath.Join(dir, "bodies"))
	if len(files) != 2 {
		t.Errorf("%d body files, want 2 (the kept photo and the imported one)", len(files))
	}
}

// newBox opens a store in dir with one account; it closes with the test.
func newBox(t *testing.T, dir string, opts store.Options, email string) (*store.Store, store.Account) {
	t.Helper()
	ctx := context.Background()
	st := testutil.StoreAt(t, dir, opts)
	if err := st.AddDomain(ctx, email[strings.IndexByte(email, '@')+1:]); err != nil {
		t.Fatal(err)
	}
	acc, err := st.AddAccount(ctx, email, "a-long-password", false)
	if err != nil {
		t.Fatal(err)
	}
	return st, acc
}

// importMaildir imports the Maildir md into the account.
func importMaildir(t *testing.T, st *store.Store, accountID int64, md string) *Report {
	t.Helper()
	src, err := NewMaildirSource(md)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Import(context.Background(), Options{Store: st, AccountID: accountID}, src)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
