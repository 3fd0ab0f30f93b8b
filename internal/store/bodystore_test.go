package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil/pgtest"
)

// openShared opens a PostgreSQL store whose large bodies go to
// bodyStore; it skips on SQLite runs.
func openShared(t *testing.T, bodyStore string) *Store {
	t.Helper()
	if !pgtest.Enabled() {
		t.Skip("PostgreSQL only (BOXMAIL_TEST_PG=1)")
	}
	opts := testOptions
	opts.BodyStore = bodyStore
	s, err := testOpen(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestASQLiteStoreRefusesASharedBodyStore(t *testing.T) {
	if pgtest.Enabled() {
		t.Skip("SQLite only")
	}
	for _, v := range []string{"db", "s3://k:secret@127.0.0.1:9/b"} {
		_, err := Open(context.Background(), t.TempDir(), Options{BodyStore: v})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("body store %q on SQLite: %v", RedactBodyStore(v), err)
		}
	}
}

func TestCheckBodyStore(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "db": true, "file": true, "s3://k:s@h:9000/b/p?tls=false": true,
		"s3://h/b": false, "s3://k:s@h": false, "nfs://x": false} {
		if err := CheckBodyStore(v); (err == nil) != ok {
			t.Errorf("CheckBodyStore(%q) = %v, want ok=%v", v, err, ok)
		}
	}
	if r := RedactBodyStore("s3://key:s3cret@h/b"); strings.Contains(r, "s3cret") {
		t.Errorf("RedactBodyStore = %q", r)
	}
}

// sharedBodyStory delivers a large message twice (same bytes) and a
// third time to two mailboxes, reads it every way, then expunges the
// copies one by one: the blob stays while a row names it and goes with
// the last. blobs counts the stored blobs.
func sharedBodyStory(t *testing.T, s *Store, prefix string, blobs func() int) {
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	big := bigMessage(3*bodyChunkSize + 12345)
	for range 2 {
		if err := s.Deliver(ctx, Delivery{Data: big, Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	if files := bodyFiles(t, s); len(files) != 0 {
		t.Errorf("local body files on a shared body store: %v", files)
	}
	sum := sha256.Sum256(big)
	want := prefix + hex.EncodeToString(sum[:])
	var name string
	if err := s.rdb.QueryRow("SELECT file FROM bodies ORDER BY id LIMIT 1").Scan(&name); err != nil || name != want {
		t.Fatalf("bodies.file = %q (%v), want %q", name, err, want)
	}
	if n := blobs(); n != 1 {
		t.Errorf("%d blobs for two deliveries of the same bytes, want 1", n)
	}
	mb, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	msgs, err := s.Messages(ctx, mb.ID, 1, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages: %v %v", msgs, err)
	}
	r, size, err := s.OpenBody(ctx, msgs[0].BodyID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || size != int64(len(big)) || !bytes.Equal(got, big) {
		t.Errorf("OpenBody: %d of %d bytes, %v", len(got), size, err)
	}
	if b, err := s.Body(ctx, msgs[1].BodyID); err != nil || !bytes.Equal(b, big) {
		t.Errorf("Body: %d bytes, %v", len(b), err)
	}
	lm, err := s.LoadMessages(ctx, mb.ID, []uint32{msgs[0].UID}, BodyFull)
	if err != nil || len(lm) != 1 || !bytes.Equal(lm[0].Data, big) {
		t.Errorf("LoadMessages: %v", err)
	}
	for i, m := range msgs {
		if _, err := s.UpdateFlags(ctx, a.ID, mb.ID, []uint32{m.UID}, FlagsAdd, FlagDeleted, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Expunge(ctx, a.ID, mb.ID, nil); err != nil {
			t.Fatal(err)
		}
		newAccount(t, s, fmt.Sprintf("next%d@example.test", i)) // a write: the writer's GC has run
		if n, want := blobs(), 1-i; n != want {
			t.Errorf("after expunging %d of 2 copies: %d blobs, want %d", i+1, n, want)
		}
	}
}

func TestALargeBodyOnPostgreSQLIsChunkedInTheDatabase(t *testing.T) {
	s := openShared(t, "")
	if s.BodyStore() != BodyStoreDB {
		t.Errorf("default body store on PostgreSQL: %s", s.BodyStore())
	}
	chunks := func() int {
		var n int
		if err := s.rdb.QueryRow("SELECT count(DISTINCT name) FROM body_chunks").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var biggest int64
	sharedBodyStory(t, s, "db:", func() int {
		s.rdb.QueryRow("SELECT coalesce(max(length(data)), 0) FROM body_chunks").Scan(&biggest)
		if biggest > bodyChunkSize {
			t.Errorf("a chunk of %d bytes", biggest)
		}
		return chunks()
	})
}

// A pin keeps a blob no row names yet (a delivery between its upload
// and its commit); once the pin is stale, the sweep at Open removes the
// orphan, and never a blob a row names.
func TestGCKeepsPinnedAndNamedBlobsAndSweepsOrphans(t *testing.T) {
	s := openShared(t, "db")
	ctx := context.Background()
	path := s.bodyPath("spool-test")
	data := bigMessage(2 * bodyChunkSize)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	name, _, err := s.storeBlob(ctx, path, int64(len(data)), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if gone, err := s.gcBlob(ctx, name); err != nil || gone {
		t.Fatalf("GC of a freshly pinned blob: gone=%v %v", gone, err)
	}
	// Stale pin: an orphan from a crash. GC takes it.
	if _, err := s.bdb.ExecContext(ctx, "UPDATE blob_pins SET at = ?", time.Now().Add(-2*orphanAge).Unix()); err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "me@example.test")
	if err := s.Deliver(ctx, Delivery{Data: bigMessage(DefaultFileBodyMin), Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.bdb.ExecContext(ctx, "UPDATE blob_pins SET at = ?", time.Now().Add(-2*orphanAge).Unix()); err != nil {
		t.Fatal(err)
	}
	if err := s.SweepBodyBlobs(ctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	rows, _ := s.rdb.Query("SELECT DISTINCT name FROM body_chunks")
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if len(names) != 1 || names[0] == name {
		t.Errorf("after the sweep: %v; want only the delivered body's blob, not the orphan %s", names, name)
	}
}

// versitygw starts a real S3 server on loopback (as the e2e backup test
// does) and returns the body_store URL of a bucket on it and the
// directory it keeps objects in.
func versitygw(t *testing.T) (string, string) {
	t.Helper()
	bin := os.Getenv("BOXMAIL_VERSITYGW")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("versitygw"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("versitygw not installed")
			}
			t.Skip("versitygw not installed")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	root := t.TempDir()
	if err := os.Mkdir(root+"/box", 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--access", "boxkey", "--secret", "boxsecret12345", "--port", addr, "posix", root)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			t.Fatal("versitygw did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "s3://boxkey:boxsecret12345@" + addr + "/box/mail?tls=false", root + "/box/mail/bodies"
}

func TestALargeBodyOnPostgreSQLGoesToS3(t *testing.T) {
	if !pgtest.Enabled() {
		t.Skip("PostgreSQL only (BOXMAIL_TEST_PG=1)")
	}
	url, objects := versitygw(t)
	s := openShared(t, url)
	if strings.Contains(s.BodyStore(), "boxsecret") {
		t.Errorf("BodyStore shows the secret: %s", s.BodyStore())
	}
	sharedBodyStory(t, s, "s3:", func() int {
		entries, err := os.ReadDir(objects)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return len(entries)
	})
}
