package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/bcrypt"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// box is a data directory with a store, some mail (small bodies in the
// database, large ones in files) and the files beside the database.
type box struct {
	dir string
	st  *store.Store
	acc store.Account
}

func newTestBox(t *testing.T) *box {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	// On PostgreSQL (BOXMAIL_TEST_PG=1) the large bodies are in database
	// chunks, and the snapshot a SQLite box (store.SnapshotDB).
	st := testutil.StoreAt(t, dir, store.Options{PasswordCost: bcrypt.MinCost, FileBodyMin: 2048})
	if err := st.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	acc, err := st.AddAccount(ctx, "me@example.test", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"boxmail.conf": "hostname = mail.example.test\n", "srs.key": "0123\n", "tls/cert.pem": "CERT\n",
		"stray-identity.txt": "# key\nAGE-SECRET-KEY-1QQQ\n"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := &box{dir: dir, st: st, acc: acc}
	b.deliver(t, 100)
	b.deliver(t, 5000)
	b.deliver(t, 3*ChunkSize+17) // three full chunks and a piece
	return b
}

func (b *box) deliver(t *testing.T, size int) {
	t.Helper()
	data := append([]byte("Subject: test\r\n\r\n"), bytes.Repeat([]byte{byte('a' + size%26)}, size)...)
	if err := b.st.Deliver(context.Background(), store.Delivery{Data: data, Received: time.Now(), Local: []store.LocalTarget{{AccountID: b.acc.ID}}}); err != nil {
		t.Fatal(err)
	}
}

// setUp inits backups of the box to a new directory target.
func (b *box) setUp(t *testing.T) (Settings, Target, []age.Identity) {
	t.Helper()
	id, s, err := Init(context.Background(), b.st, b.dir, filepath.Join(t.TempDir(), "target"), false)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := Open(s.Target)
	if err != nil {
		t.Fatal(err)
	}
	return s, tg, []age.Identity{id}
}

func (b *box) run(t *testing.T, s Settings, tg Target) RunResult {
	t.Helper()
	res, err := Run(context.Background(), RunOptions{Dir: b.dir, Store: b.st, Settings: s, Target: tg, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBackupVerifyRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	s, tg, ids := b.setUp(t)
	if _, _, err := Init(ctx, b.st, b.dir, s.Target, false); err == nil {
		t.Error("a second init without force succeeded")
	}
	first := b.run(t, s, tg)
	if first.Messages != 3 || first.Uploaded == 0 || first.Uploaded != first.Objects {
		t.Errorf("first run = %+v", first)
	}
	// Unchanged box: nothing but the database's changed chunks goes up:
	// the one holding the record of the last run (ReadStatus: in the
	// store, so that every node of a box sees it).
	again := b.run(t, s, tg)
	if again.Uploaded > 1 {
		t.Errorf("a run over an unchanged box uploaded %d objects", again.Uploaded)
	}
	b.deliver(t, 4000)
	third := b.run(t, s, tg)
	if third.Uploaded == 0 || third.Uploaded > 3 {
		t.Errorf("after one new message the run uploaded %d objects, want the new body and the changed database chunk(s)", third.Uploaded)
	}
	if _, err := Verify(ctx, VerifyOptions{Target: tg, NameKey: s.NameKey}); err != nil {
		t.Fatal(err)
	}
	vr, err := Verify(ctx, VerifyOptions{Target: tg, NameKey: s.NameKey, Full: true, Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	if vr.Snapshots != 3 || vr.Objects == 0 {
		t.Errorf("verify = %+v", vr)
	}
	m, err := ReadManifest(ctx, tg, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if strings.Contains(f.Path, "identity") || strings.HasPrefix(f.Path, "backup/cache") || strings.HasPrefix(f.Path, "backup/staging") {
			t.Errorf("snapshot holds %s", f.Path)
		}
	}
	if m.ID != third.ID || m.Schema != store.SchemaVersion() || m.DatabaseSHA256 == "" || m.Messages != 4 {
		t.Errorf("manifest = %+v", m)
	}
	newDir := filepath.Join(t.TempDir(), "restored")
	res, err := Restore(ctx, RestoreOptions{Target: tg, Identities: ids, Dir: newDir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Messages != 4 {
		t.Errorf("restored %+v", res.Info)
	}
	for _, name := range []string{"boxmail.conf", "srs.key", "tls/cert.pem"} {
		want, _ := os.ReadFile(filepath.Join(b.dir, name))
		got, err := os.ReadFile(filepath.Join(newDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s restored as %q, %v", name, got, err)
		}
	}
	// The backup settings are in the database: the restored box backs up
	// to the same target with the same name key (it goes on
	// deduplicating), on either engine.
	restored, err := store.Open(ctx, newDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := LoadSettings(ctx, restored, newDir)
	if cerr := restored.Close(); err == nil {
		err = cerr
	}
	if err != nil || rs.Target != s.Target || rs.NameKey != s.NameKey || rs.Recipient != s.Recipient {
		t.Errorf("the restored box's backup settings: %+v, %v; want %+v", rs, err, s)
	}
	if _, err := os.Stat(filepath.Join(newDir, "backup", "settings.json")); err == nil {
		t.Error("the settings went into the snapshot as a file too")
	}
	if _, err := os.Stat(filepath.Join(newDir, "stray-identity.txt")); err == nil {
		t.Error("a file holding an age secret key was backed up")
	}
	if _, err := Restore(ctx, RestoreOptions{Target: tg, Identities: ids, Dir: newDir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a full directory: %v", err)
	}
	// The first snapshot still restores as it was.
	old := filepath.Join(t.TempDir(), "old")
	res, err = Restore(ctx, RestoreOptions{Target: tg, Identities: ids, Dir: old, Snapshot: first.ID})
	if err != nil || res.Info.Messages != 3 {
		t.Errorf("restore of the first snapshot: %+v, %v", res.Info, err)
	}
}

func TestRunRefusesWithoutSetup(t *testing.T) {
	b := newTestBox(t)
	tg, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), RunOptions{Dir: b.dir, Store: b.st, Target: tg}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("run without a recipient: %v", err)
	}
	if _, err := LoadSettings(context.Background(), b.st, b.dir); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("settings of a box never set up: %v", err)
	}
	if _, err := Open("s3://bucket/x"); err == nil {
		t.Error("s3 target accepted but not built")
	}
}

// TestDamageIsNamed damages one thing in the target at a time: verify
// and restore name it, and restore leaves no directory behind.
func TestDamageIsNamed(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	s, tg, ids := b.setUp(t)
	run := b.run(t, s, tg)
	root := tg.(*DirTarget).Root
	m, err := ReadManifest(ctx, tg, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	var body ChunkInfo // a chunk of a body file
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "bodies/") {
			body = f.Chunks[0]
		}
	}
	obj := filepath.Join(root, objectPath(body.Object))
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		damage   func(t *testing.T) (undo func())
		ids      []age.Identity
		want     string // in verify --full's and restore's error
		quickToo bool   // verify without --full sees it too (presence, sizes)
		readToo  bool   // verify --read (without the identity) sees it
	}{
		{"missing object", func(t *testing.T) func() { return move(t, obj) }, ids, body.Object, true, true},
		{"truncated object", func(t *testing.T) func() { return rewrite(t, obj, func(d []byte) []byte { return d[:len(d)/2] }) }, ids, body.Object, true, true},
		{"object padded", func(t *testing.T) func() { return rewrite(t, obj, func(d []byte) []byte { return append(d, 'x') }) }, ids, body.Object, true, true},
		{"tampered object", func(t *testing.T) func() {
			return rewrite(t, obj, func(d []byte) []byte { d[len(d)-5] ^= 1; return d })
		}, ids, body.Object, false, false},
		{"tampered manifest", func(t *testing.T) func() {
			return rewrite(t, filepath.Join(root, manifestPath(run.ID)), func(d []byte) []byte { d[len(d)-5] ^= 1; return d })
		}, ids, manifestPath(run.ID), false, false},
		{"manifest cut in its payload", func(t *testing.T) func() { // no size recorded: --full sees it
			return rewrite(t, filepath.Join(root, manifestPath(run.ID)), func(d []byte) []byte { return d[:len(d)-7] })
		}, ids, manifestPath(run.ID), false, false},
		{"manifest cut in its header", func(t *testing.T) func() {
			return rewrite(t, filepath.Join(root, manifestPath(run.ID)), func(d []byte) []byte { return d[:60] })
		}, ids, manifestPath(run.ID), false, true},
		{"tampered names", func(t *testing.T) func() {
			return rewrite(t, filepath.Join(root, namesPath(run.ID)), func(d []byte) []byte { return d[65:] })
		}, ids, namesPath(run.ID), true, true},
		{"wrong identity", func(t *testing.T) func() { return func() {} }, []age.Identity{other}, "wrong identity", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			undo := c.damage(t)
			defer undo()
			_, qerr := Verify(ctx, VerifyOptions{Target: tg, NameKey: s.NameKey})
			if c.quickToo && (qerr == nil || !strings.Contains(qerr.Error(), c.want)) {
				t.Errorf("verify: %v, want an error naming %s", qerr, c.want)
			}
			if !c.quickToo && qerr != nil {
				t.Errorf("verify without --full: %v", qerr)
			}
			_, rerr := Verify(ctx, VerifyOptions{Target: tg, NameKey: s.NameKey, Read: true})
			if c.readToo != (rerr != nil) || (rerr != nil && !strings.Contains(rerr.Error(), c.want)) {
				t.Errorf("verify --read: %v (want an error naming %s: %v)", rerr, c.want, c.readToo)
			}
			_, err := Verify(ctx, VerifyOptions{Target: tg, NameKey: s.NameKey, Full: true, Identities: c.ids})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("verify --full: %v, want an error naming %s", err, c.want)
			}
			dir := filepath.Join(t.TempDir(), "restored")
			_, err = Restore(ctx, RestoreOptions{Target: tg, Identities: c.ids, Dir: dir})
			if c.name != "tampered names" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("restore: %v, want an error naming %s", err, c.want)
			}
			if err != nil {
				for _, p := range []string{dir, dir + ".partial"} {
					if _, serr := os.Stat(p); serr == nil {
						t.Errorf("a failed restore left %s", p)
					}
				}
			}
		})
	}
}

func move(t *testing.T, p string) func() {
	t.Helper()
	if err := os.Rename(p, p+".away"); err != nil {
		t.Fatal(err)
	}
	return func() { os.Rename(p+".away", p) }
}

func rewrite(t *testing.T, p string, change func([]byte) []byte) func() {
	t.Helper()
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, change(bytes.Clone(orig)), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() { os.WriteFile(p, orig, 0o600) }
}

func TestTargetNamesStayInside(t *testing.T) {
	d := &DirTarget{Root: t.TempDir()}
	for _, n := range []string{"", "../x", "/etc/passwd", "a/../../x", "a//b"} {
		if err := d.Put(context.Background(), n, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded", n)
		}
	}
}

// On a store several nodes share, one backup of the box runs at a time:
// a run finds the lease another node's run holds and says the box is
// busy; once it is free, the run goes.
func TestOneBackupAtATimeOnASharedStore(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	if !b.st.Shared() {
		t.Skip("PostgreSQL only (BOXMAIL_TEST_PG=1): on SQLite one process serves the box, and the data dir's lock does it")
	}
	s, tg, _ := b.setUp(t)
	if ok, err := b.st.TryLease(ctx, runLease, "another-node", time.Minute); !ok || err != nil {
		t.Fatalf("another node's lease: %v %v", ok, err)
	}
	if _, err := Run(ctx, RunOptions{Dir: b.dir, Store: b.st, Settings: s, Target: tg}); !errors.Is(err, ErrBusy) {
		t.Fatalf("a run while another node's runs: %v, want ErrBusy", err)
	}
	if err := b.st.ReleaseLease(ctx, runLease, "another-node"); err != nil {
		t.Fatal(err)
	}
	b.run(t, s, tg)
}

// The backup settings live in the box's store, so every node backs up to
// the same target with the same keys; a box set up by an earlier version
// (backup/settings.json) imports its file once.
func TestSettingsMoveFromTheirFileIntoTheStore(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	old := Settings{Target: filepath.Join(t.TempDir(), "target"), Recipient: id.Recipient().String(),
		NameKey: strings.Repeat("ab", 32), Created: time.Now().UTC().Truncate(time.Second)}
	writeSettingsFile(t, b.dir, old)
	s, err := LoadSettings(ctx, b.st, b.dir)
	if err != nil || s != old {
		t.Fatalf("settings of an older box: %+v, %v; want %+v", s, err, old)
	}
	if err := os.Remove(settingsPath(b.dir)); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadSettings(ctx, b.st, b.dir); err != nil || s != old {
		t.Errorf("after the file went: %+v, %v", s, err)
	}
	// Another node's data dir, with no settings file or a stale one.
	other := t.TempDir()
	if s, err := LoadSettings(ctx, b.st, other); err != nil || s != old {
		t.Errorf("another node: %+v, %v", s, err)
	}
	stale := old
	stale.Target = filepath.Join(t.TempDir(), "elsewhere")
	writeSettingsFile(t, other, stale)
	if s, err := LoadSettings(ctx, b.st, other); err != nil || s != old {
		t.Errorf("another node with a stale file: %+v, %v", s, err)
	}
	if _, _, err := Init(ctx, b.st, other, t.TempDir(), false); err == nil || !strings.Contains(err.Error(), "already set up") {
		t.Errorf("init on another node without --force: %v", err)
	}
	// The record of the last run and verify, too: a node's status.json
	// of an earlier version is imported; then every node sees each run.
	if err := os.WriteFile(filepath.Join(b.dir, StateDir, statusFile), []byte(`{"last_run":"2026-12-01T03:30:00Z","last_snapshot":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadStatus(ctx, b.st, b.dir); err != nil || st.LastSnapshot != "x" {
		t.Errorf("an older box's status: %+v, %v", st, err)
	}
	if err := RecordVerify(ctx, b.st, other, time.Now(), "presence", nil); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadStatus(ctx, b.st, b.dir); err != nil || st.LastSnapshot != "x" || st.VerifyKind != "presence" {
		t.Errorf("a verify recorded by another node: %+v, %v", st, err)
	}
	_, forced, err := Init(ctx, b.st, other, t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := LoadSettings(ctx, b.st, b.dir); err != nil || s.Target != forced.Target || s.NameKey != forced.NameKey {
		t.Errorf("after init --force on another node: %+v, %v; want %+v", s, err, forced)
	}
}

// Two inits at once on a box never set up: one wins, the other is told
// backups are set up already (its identity would read nothing).
func TestTwoInitsAtOnceKeepOneSetup(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = Init(ctx, b.st, t.TempDir(), t.TempDir(), false)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !strings.Contains(err.Error(), "already set up") {
			t.Error(err)
		}
	}
	if ok != 1 {
		t.Errorf("%d inits succeeded, want 1: %v", ok, errs)
	}
}

func writeSettingsFile(t *testing.T, dir string, s Settings) {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, StateDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(settingsPath(dir), data, 0o600); err != nil {
		t.Fatal(err)
	}
}
