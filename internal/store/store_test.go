package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// testOptions are the Options of every store the tests open: a low
// password cost, so that adding accounts is fast.
var testOptions = Options{PasswordCost: bcrypt.MinCost}

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := testOpen(context.Background(), t.TempDir(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newAccount(t testing.TB, s *Store, email string) Account {
	t.Helper()
	ctx := context.Background()
	if err := s.AddDomain(ctx, domainOf(email)); err != nil && !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	a, err := s.AddAccount(ctx, email, "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestANewAccountHasTheStandardMailboxesAndCanLogIn(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "Me@Example.Test")
	if a.Email != "me@example.test" {
		t.Errorf("email not lower-cased: %q", a.Email)
	}
	mbs, err := s.Mailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mbs {
		names = append(names, m.Name+m.SpecialUse)
	}
	want := []string{`Archive\Archive`, `Drafts\Drafts`, "INBOX", `Junk\Junk`, `Sent\Sent`, `Trash\Trash`}
	if !slices.Equal(names, want) {
		t.Errorf("mailboxes = %v, want %v", names, want)
	}
	if _, err := s.Authenticate(ctx, "ME@example.test", "correct horse battery"); err != nil {
		t.Errorf("login with right password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "me@example.test", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("login with wrong password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "nobody@example.test", "x"); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("login of unknown user: %v", err)
	}
	if _, err := s.AddAccount(ctx, "me@example.test", "pw", false); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate account: %v", err)
	}
	if _, err := s.AddAccount(ctx, "x@unknown.test", "pw", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("account in unknown domain: %v", err)
	}
}

func TestConcurrentDeliveriesAllLandWithDistinctUIDs(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	b := newAccount(t, s, "you@example.test")
	var wg sync.WaitGroup
	const n = 200
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Deliver(ctx, Delivery{Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nhi\r\n", i),
				Local: []LocalTarget{{AccountID: a.ID}, {AccountID: b.ID}}})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, acc := range []Account{a, b} {
		mb, _ := s.MailboxByName(ctx, acc.ID, "inbox")
		snap, err := s.Snapshot(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap) != n || snap[0].UID != 1 || snap[n-1].UID != n {
			t.Fatalf("%s: %d messages, uids %d..%d", acc.Email, len(snap), snap[0].UID, snap[len(snap)-1].UID)
		}
		if snap[0].Flags&FlagRecent == 0 {
			t.Errorf("new message not \\Recent")
		}
	}
	// Concurrent deliveries share fsyncs: far fewer commits than writes.
	if st := s.Stats(); st.Commits >= st.Writes || st.Writes < n {
		t.Errorf("stats %+v: %d deliveries were not group-committed", st, n)
	} else {
		t.Logf("%d writes in %d commits", st.Writes, st.Commits)
	}
	var bodies int
	s.rdb.QueryRow("SELECT count(*) FROM bodies").Scan(&bodies)
	if bodies != n {
		t.Errorf("%d bodies stored for %d messages delivered to two mailboxes; want one copy each", bodies, n)
	}
}

func TestAFailingWriteDoesNotSpoilItsBatch(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	var wg sync.WaitGroup
	var bad, good int
	var mu sync.Mutex
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acc := a.ID
			if i%2 == 0 {
				acc = 99999 // no such account: no INBOX
			}
			err := s.Deliver(ctx, Delivery{Data: []byte("x"), Local: []LocalTarget{{AccountID: acc}}})
			mu.Lock()
			if err != nil {
				bad++
			} else {
				good++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if bad != 25 || good != 25 {
		t.Fatalf("bad=%d good=%d", bad, good)
	}
	var orphans int
	s.rdb.QueryRow("SELECT count(*) FROM bodies WHERE refs = 0").Scan(&orphans)
	if orphans != 0 {
		t.Errorf("%d orphan bodies left by failed deliveries", orphans)
	}
}

// One batch of four writes, in this order: the first writes a mailbox
// and then fails, the second succeeds, the third fails in SQL, the
// fourth succeeds. On PostgreSQL the batch's first write runs without a
// savepoint (runFirst): its failure must roll back its mailbox and
// leave the writes after it to succeed, in a transaction of their own.
func TestAFailedFirstWriteOfABatchLeavesNothingAndSpoilsNothing(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	gate, busy := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.write(ctx, func(context.Context, *Tx) error { close(busy); <-gate; return nil })
	}()
	<-busy // the writer waits in this batch; the next four queue up as one
	boom := errors.New("boom")
	writes := []func(ctx context.Context, tx *Tx) error{
		func(ctx context.Context, tx *Tx) error {
			if _, err := createMailbox(ctx, tx, a.ID, "Bad", ""); err != nil {
				return err
			}
			return boom
		},
		func(ctx context.Context, tx *Tx) error {
			_, err := createMailbox(ctx, tx, a.ID, "Good", "")
			return err
		},
		func(ctx context.Context, tx *Tx) error {
			_, err := tx.exec(ctx, "INSERT INTO no_such_table(x) VALUES(1)")
			return err
		},
		func(ctx context.Context, tx *Tx) error {
			_, err := createMailbox(ctx, tx, a.ID, "Good2", "")
			return err
		},
	}
	errs := make([]chan error, len(writes))
	for i, w := range writes {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.write(ctx, w) }()
		for len(s.reqs) < i+1 { // queued in this order
			time.Sleep(time.Millisecond)
		}
	}
	close(gate)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true, false, true} {
		err := <-errs[i]
		if (err == nil) != want {
			t.Errorf("write %d: %v", i+1, err)
		}
		if i == 0 && !errors.Is(err, boom) {
			t.Errorf("write 1 failed with %v, want its own error", err)
		}
	}
	for name, want := range map[string]bool{"Bad": false, "Good": true, "Good2": true} {
		_, err := s.MailboxByName(ctx, a.ID, name)
		if (err == nil) != want {
			t.Errorf("mailbox %s: %v (want it there: %v)", name, err, want)
		}
	}
}

func TestFlagsCopyMoveExpungeAndTheChangeFeed(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	sub := s.Subscribe(a.ID)
	defer sub.Close()
	for range 3 {
		if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nbody\r\n"), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-sub.C:
	case <-time.After(time.Second):
		t.Fatal("no event")
	}
	if ev := sub.Events(); len(ev) != 3 || ev[2].Kind != EventNewMessage || ev[2].UID != 3 {
		t.Fatalf("events = %+v", ev)
	}
	inbox, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	if rec, _ := s.ClearRecent(ctx, inbox.ID); len(rec) != 3 {
		t.Errorf("recent = %v", rec)
	}
	if rec, _ := s.ClearRecent(ctx, inbox.ID); len(rec) != 0 {
		t.Errorf("recent again = %v", rec)
	}
	f, kw := ParseFlags([]string{`\Seen`, "$Label1", `\recent`})
	got, err := s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1, 2, 42}, FlagsAdd, f, kw)
	if err != nil || len(got) != 2 || got[0].Flags != FlagSeen || !slices.Equal(got[0].Keywords, []string{"$Label1"}) {
		t.Fatalf("UpdateFlags = %+v, %v", got, err)
	}
	res, err := s.Copy(ctx, a.ID, inbox.ID, []uint32{2, 3}, "Archive", true)
	if err != nil || !slices.Equal(res.SourceUIDs, []uint32{2, 3}) || !slices.Equal(res.DestUIDs, []uint32{1, 2}) {
		t.Fatalf("move = %+v, %v", res, err)
	}
	s.UpdateFlags(ctx, a.ID, inbox.ID, []uint32{1}, FlagsAdd, FlagDeleted, nil)
	if gone, err := s.Expunge(ctx, a.ID, inbox.ID, nil); err != nil || !slices.Equal(gone, []uint32{1}) {
		t.Fatalf("expunge = %v %v", gone, err)
	}
	arch, _ := s.MailboxByName(ctx, a.ID, "Archive")
	msgs, _ := s.Messages(ctx, arch.ID, 1, 0)
	if len(msgs) != 2 || msgs[0].Flags&FlagSeen == 0 {
		t.Fatalf("archive = %+v", msgs)
	}
	body, err := s.Body(ctx, msgs[0].BodyID)
	if err != nil || string(body) != "Subject: x\r\n\r\nbody\r\n" {
		t.Fatalf("body = %q %v", body, err)
	}
	drainSpamTraining(t, s) // \Seen asked for ham training, which holds its body until trained (spam.go)
	var nb int
	s.rdb.QueryRow("SELECT count(*) FROM bodies").Scan(&nb)
	if nb != 2 {
		t.Errorf("bodies after expunge = %d, want 2", nb)
	}
}

func TestRenameMailboxTakesItsChildren(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	for _, n := range []string{"Family/Photos", "Family/Letters/2024"} {
		if err := s.CreateMailbox(ctx, a.ID, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RenameMailbox(ctx, a.ID, "Family", "Home/Kin"); err != nil {
		t.Fatal(err)
	}
	mbs, _ := s.Mailboxes(ctx, a.ID)
	var names []string
	for _, m := range mbs {
		names = append(names, m.Name)
	}
	for _, want := range []string{"Home", "Home/Kin", "Home/Kin/Photos", "Home/Kin/Letters", "Home/Kin/Letters/2024"} {
		if !slices.Contains(names, want) {
			t.Errorf("missing %s in %v", want, names)
		}
	}
	if err := s.DeleteMailbox(ctx, a.ID, "inbox"); !errors.Is(err, ErrInvalid) {
		t.Errorf("delete INBOX: %v", err)
	}
}

func TestReopeningKeepsUIDValidityAndUIDs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "me@example.test")
	s.Deliver(ctx, Delivery{Data: []byte("x"), Local: []LocalTarget{{AccountID: a.ID}}})
	mb1, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	s.Close()
	s, err = testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mb2, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	if mb1.UIDValidity != mb2.UIDValidity || mb2.UIDNext != 2 {
		t.Errorf("before %+v after %+v", mb1, mb2)
	}
}

func TestANewerSchemaIsRefused(t *testing.T) {
	skipOnPG(t, "sets PRAGMA user_version; the PostgreSQL refusal is TestPGRefusesANewerSchema")
	dir := t.TempDir()
	s, err := testOpen(context.Background(), dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion() + 2
	if _, err := s.wdb.Exec(fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = testOpen(context.Background(), dir, testOptions)
	want := fmt.Sprintf("this database was written by a newer boxmail (schema %d); this binary knows up to %d: install the newer binary", newer, SchemaVersion())
	var ne *NewerSchemaError
	if err == nil || !strings.Contains(err.Error(), want) || !errors.As(err, &ne) {
		t.Errorf("opening a newer database: %v\nwant: %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, BackupName(SchemaVersion()))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused database was backed up: %v", err)
	}
}

// TestMigratingTakesABackupFirst opens a database one schema version
// behind: Open keeps a copy of it at that version beside it, then
// migrates; a second Open takes no new copy.
func TestMigratingTakesABackupFirst(t *testing.T) {
	skipOnPG(t, "the backup before migrating is a copy of the SQLite file")
	ctx := context.Background()
	dir := t.TempDir()
	all := migrations
	migrations = all[:len(all)-1]
	s, err := testOpen(ctx, dir, testOptions)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	backup := filepath.Join(dir, BackupName(len(all)))
	if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("backup before any migration was needed: %v", err)
	}
	s, err = testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.wdb.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(all) {
		t.Errorf("migrated to version %d (%v), want %d", v, err, len(all))
	}
	s.Close()
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	db, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(all)-1 {
		t.Errorf("backup at version %d (%v), want %d", v, err, len(all)-1)
	}
	if err := db.QueryRow("SELECT count(*) FROM domains WHERE name = 'example.org'").Scan(&n); err != nil || n != 1 {
		t.Errorf("backup holds %d domains (%v), want the one added", n, err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	before, _ := os.ReadFile(backup)
	s, err = testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if after, _ := os.ReadFile(backup); !bytes.Equal(before, after) {
		t.Error("a current database was backed up again")
	}
}

func TestConcurrentOpensOfANewDatabaseMigrateOnce(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := testOpen(context.Background(), dir, testOptions)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// A commit must be fsynced before Write returns: WAL with synchronous=FULL.
func TestTheDatabaseIsOpenedDurably(t *testing.T) {
	skipOnPG(t, "reads SQLite PRAGMAs (synchronous, journal_mode)")
	s := openTemp(t)
	var sync int
	var mode string
	s.wdb.QueryRow("PRAGMA synchronous").Scan(&sync)
	s.wdb.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if sync != 2 || mode != "wal" {
		t.Errorf("synchronous=%d journal_mode=%s, want 2 (FULL) and wal", sync, mode)
	}
}

func TestDKIMKeysCustomRecordsAndTheGeneration(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	g0, err := s.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newAccount(t, s, "me@example.test")
	if err := s.AddDKIMKey(ctx, DKIMKey{Domain: "example.test", Selector: "mail", Algorithm: "rsa", Private: "PEM1", Active: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDKIMKey(ctx, DKIMKey{Domain: "example.test", Selector: "mail2", Algorithm: "rsa", Private: "PEM2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDKIMKey(ctx, DKIMKey{Domain: "nope.test", Selector: "mail", Algorithm: "rsa", Private: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("key for unknown domain: %v", err)
	}
	if err := s.ActivateDKIMKey(ctx, "example.test", "mail2"); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.DKIMKeys(ctx, "example.test")
	if len(keys) != 2 || keys[0].Active || !keys[1].Active {
		t.Errorf("after rotation: %+v", keys)
	}
	if err := s.AddDNSRecord(ctx, DNSRecord{Name: "www.example.test", Type: "a", Value: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.DNSRecords(ctx); len(recs) != 1 || recs[0].Type != "A" {
		t.Errorf("records = %+v", recs)
	}
	if n, err := s.RemoveDNSRecords(ctx, "www.example.test", "A", ""); n != 1 || err != nil {
		t.Errorf("remove = %d, %v", n, err)
	}
	if g1, _ := s.Generation(ctx); g1 < g0+5 {
		t.Errorf("generation went from %d to %d after 5+ changes", g0, g1)
	}
}
