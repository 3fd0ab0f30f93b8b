package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil/pgtest"
)

func TestSnapshotWhileWritingIsConsistentAndNamesItsBodyFiles(t *testing.T) {
	skipOnPG(t, "Snapshot is SQLite's online backup (snapshot.go); PostgreSQL's: TestSnapshotOfAPostgreSQLStoreIsAWholeSQLiteBox")
	ctx := context.Background()
	dir := t.TempDir()
	s, err := testOpen(ctx, dir, Options{PasswordCost: testOptions.PasswordCost, FileBodyMin: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAccount(t, s, "me@example.test")
	deliver := func(size int) {
		t.Helper()
		data := append([]byte("Subject: x\r\n\r\n"), bytes.Repeat([]byte("a"), size)...)
		if err := s.Deliver(ctx, Delivery{Data: data, Received: time.Now(), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	deliver(10)
	deliver(5000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			deliver(100 + i*200)
		}
	}()
	snap := filepath.Join(t.TempDir(), "snap.db")
	if err := s.SnapshotDB(ctx, snap); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := s.SnapshotDB(ctx, snap); err == nil {
		t.Error("a second snapshot over an existing file succeeded")
	}
	info, err := CheckSnapshot(ctx, snap, CheckIntegrity)
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages < 2 || info.Accounts != 1 || info.Schema != SchemaVersion() {
		t.Errorf("info = %+v", info)
	}
	if len(info.BodyFiles) < 1 {
		t.Errorf("no body files named: %+v", info)
	}
	for name := range info.BodyFiles {
		if _, err := os.Stat(filepath.Join(dir, BodiesDir, name)); err != nil {
			t.Error(err)
		}
	}
	// A damaged file is reported, not opened as if fine.
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	for i := 4096; i < len(data) && i < 4096*3; i++ {
		data[i] ^= 0x5a
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, level := range []SnapshotCheck{CheckIntegrity, CheckQuick} {
		if _, err := CheckSnapshot(ctx, bad, level); err == nil {
			t.Errorf("CheckSnapshot (level %d) of a damaged file succeeded", level)
		}
	}
}

func TestCheckSnapshotFindsUIDsBehindUIDNEXT(t *testing.T) {
	skipOnPG(t, "Snapshot is SQLite's online backup (snapshot.go); PostgreSQL's: TestSnapshotOfAPostgreSQLStoreIsAWholeSQLiteBox")
	ctx := context.Background()
	s := openTemp(t)
	a := newAccount(t, s, "me@example.test")
	if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nx"), Received: time.Now(), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "snap.db")
	if err := s.SnapshotDB(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckSnapshot(ctx, snap, CheckIntegrity); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+snap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE mailboxes SET uidnext = 1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := CheckSnapshot(ctx, snap, CheckIntegrity); err == nil || !strings.Contains(err.Error(), "UIDNEXT") {
		t.Errorf("CheckSnapshot of a box with UIDNEXT behind: %v", err)
	}
}

// TestSnapshotOfAPostgreSQLStoreIsAWholeSQLiteBox: on PostgreSQL,
// SnapshotDB writes a SQLite database of the schema with every row as
// one transaction saw it, and the large bodies (database chunks, or S3
// objects; one blob named by two rows) as body files beside it: opened
// as a SQLite store, it serves the same messages, UIDs and flags.
func TestSnapshotOfAPostgreSQLStoreIsAWholeSQLiteBox(t *testing.T) {
	t.Run("db", func(t *testing.T) { snapshotOfPG(t, openShared(t, "db")) })
	t.Run("s3", func(t *testing.T) {
		if !pgtest.Enabled() {
			t.Skip("PostgreSQL only (BOXMAIL_TEST_PG=1)")
		}
		url, _ := versitygw(t) // bodystore_test.go
		snapshotOfPG(t, openShared(t, url))
	})
}

func snapshotOfPG(t *testing.T, s *Store) {
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	photo := bigMessage(DefaultFileBodyMin + 5000)
	for i, data := range [][]byte{[]byte("Subject: one\r\n\r\nsmall\r\n"), photo, bigMessage(2*bodyChunkSize + 17), photo, []byte("Subject: two\r\n\r\nsmall too\r\n")} {
		if err := s.Deliver(ctx, Delivery{Data: data, Received: time.Now(), Local: []LocalTarget{{AccountID: a.ID, Flags: FlagSeen * Flags(i%2)}}}); err != nil {
			t.Fatal(err)
		}
	}
	_, want := mailOf(t, s, "me@example.test") // copy_test.go
	// Mail goes on arriving during the snapshot.
	done := make(chan error, 1)
	go func() {
		for i := range 10 {
			if err := s.Deliver(ctx, Delivery{Data: fmt.Appendf(nil, "Subject: during %d\r\n\r\nx\r\n", i), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, BodiesDir), 0o700); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, FileName)
	if err := s.SnapshotDB(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	info, err := CheckSnapshot(ctx, snap, CheckIntegrity)
	if err != nil {
		t.Fatal(err)
	}
	if info.Schema != SchemaVersion() || info.Accounts != 1 || info.Messages < 5 || len(info.BodyFiles) != 3 {
		t.Fatalf("snapshot info %+v; want this schema, 1 account, at least 5 messages, 3 body files", info)
	}
	for name, size := range info.BodyFiles {
		if fi, err := os.Stat(filepath.Join(dir, BodiesDir, name)); err != nil || fi.Size() != size {
			t.Errorf("body file %s: %v (want %d bytes)", name, err, size)
		}
	}
	lite, err := Open(ctx, dir, Options{PasswordCost: testOptions.PasswordCost})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if lite.Shared() {
		t.Fatal("the snapshot opened as a shared store")
	}
	_, got := mailOf(t, lite, "me@example.test")
	if len(got) < len(want) {
		t.Fatalf("the snapshot has %d messages, the store had %d before it", len(got), len(want))
	}
	for i, w := range want {
		if g := got[i]; g.uid != w.uid || g.flags != w.flags || !bytes.Equal(g.data, w.data) {
			t.Errorf("message %d: UID %d flags %v (%d bytes) in the snapshot, UID %d flags %v (%d bytes) in the store", i, g.uid, g.flags, len(g.data), w.uid, w.flags, len(w.data))
		}
	}
}
