package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/mailmsg"
)

// bigMessage is a message of about n bytes with a recognisable header.
func bigMessage(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: anna@example.org\r\nSubject: holiday photos\r\n\r\n")
	for b.Len() < n {
		b.WriteString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\n")
	}
	return b.Bytes()
}

// fileOptions keep large bodies in local files on PostgreSQL too (its
// default is the shared chunk store, bodystore.go).
var fileOptions = Options{PasswordCost: testOptions.PasswordCost, BodyStore: BodyStoreFile}

func openFileStore(t testing.TB) *Store {
	t.Helper()
	s, err := testOpen(context.Background(), t.TempDir(), fileOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func bodyFiles(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.dir, bodiesDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestALargeMessageIsKeptInAFileAndReadsBackByteForByte(t *testing.T) {
	skipOnPG(t, "Check runs PRAGMA integrity_check (check.go), no PostgreSQL form yet")
	s := openFileStore(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	small := []byte("Subject: hi\r\n\r\nsmall\r\n")
	big := bigMessage(DefaultFileBodyMin + 1000)
	for _, d := range [][]byte{small, big} {
		if err := s.Deliver(ctx, Delivery{Data: d, Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	if files := bodyFiles(t, s); len(files) != 1 {
		t.Fatalf("body files: %v, want only the large message's", files)
	}
	var inDB int
	if err := s.rdb.QueryRow("SELECT length(data) FROM bodies WHERE file IS NOT NULL").Scan(&inDB); err != nil || inDB != 0 {
		t.Errorf("the large body is also in the database: %d bytes (%v)", inDB, err)
	}
	mb, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	msgs, err := s.Messages(ctx, mb.ID, 1, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages: %v %v", msgs, err)
	}
	if msgs[1].Size != int64(len(big)) {
		t.Errorf("size %d, want %d", msgs[1].Size, len(big))
	}
	got, err := s.Body(ctx, msgs[1].BodyID)
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("Body: %d bytes, %v", len(got), err)
	}
	r, size, err := s.OpenBody(ctx, msgs[1].BodyID)
	if err != nil {
		t.Fatal(err)
	}
	streamed, _ := io.ReadAll(r)
	r.Close()
	if size != int64(len(big)) || !bytes.Equal(streamed, big) {
		t.Errorf("OpenBody: size %d, %d bytes", size, len(streamed))
	}
	for part, want := range map[BodyPart][]byte{BodyFull: big, BodyHeader: big[:mailmsg.HeaderEnd(big)]} {
		lm, err := s.LoadMessages(ctx, mb.ID, []uint32{msgs[0].UID, msgs[1].UID}, part)
		if err != nil || len(lm) != 2 {
			t.Fatalf("LoadMessages(%d): %v", part, err)
		}
		if !bytes.Equal(lm[1].Data, want) {
			t.Errorf("LoadMessages(%d) of the large message: %d bytes, want %d", part, len(lm[1].Data), len(want))
		}
		if part == BodyFull && !bytes.Equal(lm[0].Data, small) {
			t.Errorf("LoadMessages of the small message: %q", lm[0].Data)
		}
	}
	// Within a byte budget only what fits is loaded (at least one).
	for budget, want := range map[int64]int{1: 1, int64(len(small)) + int64(len(big)): 2} {
		lm, err := s.LoadMessagesUpTo(ctx, mb.ID, []uint32{msgs[0].UID, msgs[1].UID}, BodyFull, budget)
		if err != nil || len(lm) != want {
			t.Errorf("LoadMessagesUpTo %d bytes: %d messages (%v), want %d", budget, len(lm), err, want)
		}
	}
	if lm, _ := s.LoadMessagesUpTo(ctx, mb.ID, []uint32{msgs[1].UID, msgs[0].UID}, BodyFull, int64(len(big))); len(lm) != 1 || lm[0].UID != msgs[0].UID {
		t.Errorf("LoadMessagesUpTo goes in UID order, one at least: %d", len(lm))
	}
	var subject string
	if err := s.rdb.QueryRow("SELECT subject FROM header_search WHERE body_id = ?", msgs[1].BodyID).Scan(&subject); err != nil || subject != "holiday photos" {
		t.Errorf("header search row of the large message: %q %v", subject, err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
	// A lost or cut file is a finding of the integrity check.
	os.Truncate(s.bodyPath(bodyFiles(t, s)[0]), 10)
	if err := s.IntegrityCheck(ctx); err == nil || !strings.Contains(err.Error(), "holds 10 bytes") {
		t.Errorf("integrity check of a cut body file: %v", err)
	}
}

func TestWhenTheLastCopyOfALargeMessageGoesItsFileGoesToo(t *testing.T) {
	s := openFileStore(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	if err := s.Deliver(ctx, Delivery{Data: bigMessage(DefaultFileBodyMin), Local: []LocalTarget{{AccountID: a.ID}, {AccountID: a.ID, Mailbox: "Archive"}}}); err != nil {
		t.Fatal(err)
	}
	expunge := func(name string) {
		mb, _ := s.MailboxByName(ctx, a.ID, name)
		if _, err := s.UpdateFlags(ctx, a.ID, mb.ID, []uint32{1}, FlagsAdd, FlagDeleted, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Expunge(ctx, a.ID, mb.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	expunge("INBOX")
	if files := bodyFiles(t, s); len(files) != 1 {
		t.Fatalf("the Archive copy still needs the file: %v", files)
	}
	expunge("Archive")
	if files := bodyFiles(t, s); len(files) != 0 {
		t.Errorf("the file outlived its last message: %v", files)
	}
	// Its record goes with the next write.
	newAccount(t, s, "you@example.test")
	var n int
	s.rdb.QueryRow("SELECT count(*) FROM dead_files").Scan(&n)
	if n != 0 {
		t.Errorf("%d dead file records left", n)
	}
}

func TestAFailedDeliveryLeavesNoBodyFile(t *testing.T) {
	s := openFileStore(t)
	ctx := context.Background()
	err := s.Deliver(ctx, Delivery{Data: bigMessage(DefaultFileBodyMin), Local: []LocalTarget{{AccountID: 999}}})
	if err == nil {
		t.Fatal("delivery to a missing account succeeded")
	}
	if files := bodyFiles(t, s); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
}

func TestACrashBeforeTheCommitLeavesAFileTheNextOpenRemoves(t *testing.T) {
	dir := t.TempDir()
	s, err := testOpen(context.Background(), dir, fileOptions)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.NewBodyWriter()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bigMessage(1000))
	sb, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // as if killed before ImportMessages committed
	old := filepath.Join(dir, bodiesDir, sb.b.file)
	fresh := filepath.Join(dir, bodiesDir, "0123456789abcdef") // another process is writing it
	os.WriteFile(fresh, []byte("partial"), 0o600)
	past := time.Now().Add(-2 * orphanAge)
	os.Chtimes(old, past, past)

	s, err = testOpen(context.Background(), dir, fileOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the orphan is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh file was removed: %v", err)
	}
}

func TestAnImportStreamsALargeMessageIntoTheStore(t *testing.T) {
	s := openFileStore(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	mb, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	big := bigMessage(3 << 20)
	spool := func() *SpooledBody {
		w, err := s.NewBodyWriter()
		if err != nil {
			t.Fatal(err)
		}
		// In pieces, as an IMAP literal arrives; the header's blank line
		// straddles two of them.
		split := bytes.Index(big, []byte("\r\n\r\n")) + 2
		for _, p := range [][]byte{big[:split], big[split : split+1000], big[split+1000:]} {
			if _, err := w.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		sb, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return sb
	}
	item := ImportItem{Source: "imap://old/INBOX", Key: "7", Identity: "x", Body: spool(), Size: int64(len(big)), InternalDate: time.Now()}
	out, err := s.ImportMessages(ctx, a.ID, mb.ID, []ImportItem{item})
	if err != nil || out[0] != ImportCopied {
		t.Fatalf("import: %v %v", out, err)
	}
	lm, err := s.LoadMessages(ctx, mb.ID, []uint32{1}, BodyHeader)
	if err != nil || len(lm) != 1 || string(lm[0].Data) != string(big[:mailmsg.HeaderEnd(big)]) {
		t.Fatalf("header kept: %d messages, %v", len(lm), err)
	}
	got, err := s.Body(ctx, lm[0].BodyID)
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("body: %d bytes, %v", len(got), err)
	}
	// A failed import leaves a streamed body to the caller, to try again
	// or discard.
	failed := spool()
	if _, err := s.ImportMessages(ctx, a.ID, 9999, []ImportItem{{Source: "imap://old/INBOX", Key: "8", Body: failed}}); err == nil {
		t.Fatal("import into a missing mailbox succeeded")
	}
	if files := bodyFiles(t, s); len(files) != 2 {
		t.Errorf("after a failed import: %d body files, want 2", len(files))
	}
	failed.Discard()
	// The same message again: already known, its spooled copy is dropped.
	item.Body = spool()
	if out, err := s.ImportMessages(ctx, a.ID, mb.ID, []ImportItem{item}); err != nil || out[0] != ImportKnown {
		t.Fatalf("second import: %v %v", out, err)
	}
	if files := bodyFiles(t, s); len(files) != 1 {
		t.Errorf("body files: %v, want one", files)
	}
}

func TestSmallBodiesStayInTheDatabaseAndTheThresholdIsSettable(t *testing.T) {
	s, err := testOpen(context.Background(), t.TempDir(), Options{FileBodyMin: -1, PasswordCost: testOptions.PasswordCost})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAccount(t, s, "me@example.test")
	if err := s.Deliver(context.Background(), Delivery{Data: bigMessage(2 * DefaultFileBodyMin), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
		t.Fatal(err)
	}
	if files := bodyFiles(t, s); len(files) != 0 {
		t.Errorf("FileBodyMin -1 wrote files: %v", files)
	}
}
