package store

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSnapshotWhileWritingIsConsistentAndNamesItsBodyFiles(t *testing.T) {
	skipOnPG(t, "Snapshot is SQLite's online backup (snapshot.go); no PostgreSQL snapshot yet")
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
	skipOnPG(t, "Snapshot is SQLite's online backup (snapshot.go); no PostgreSQL snapshot yet")
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
