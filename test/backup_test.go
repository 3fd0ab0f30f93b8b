package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/unix"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// backupMessage is test message i: small, or a 300 KiB "photo" that the
// store keeps in a body file.
func backupMessage(i int) string {
	body := fmt.Sprintf("message %d\r\n", i)
	if i%7 == 3 {
		line := strings.Repeat(fmt.Sprintf("%07d", i), 10) + "\r\n" // 72 bytes
		body = strings.Repeat(line, 300<<10/len(line))
	}
	return fmt.Sprintf("From: <friend@outside.example>\r\nTo: <me@example.test>\r\nSubject: backup %d\r\nX-Seq: %d\r\n\r\n%s", i, i, body)
}

var seqRe = regexp.MustCompile(`(?m)^X-Seq: (\d+)\r?$`)

// bySeq maps X-Seq to the stored message (raw bytes) and its flags.
type storedMsg struct {
	raw      []byte
	flags    store.Flags
	keywords string
	date     time.Time
}

func messagesBySeq(t *testing.T, dir string) map[string]storedMsg {
	t.Helper()
	out, _ := mailboxBySeq(t, dir, "INBOX")
	return out
}

// mailboxBySeq is messagesBySeq for any mailbox of me@example.test, with
// the number of messages (nil, 0 when the mailbox is not there).
func mailboxBySeq(t *testing.T, dir, mailbox string) (map[string]storedMsg, int) {
	t.Helper()
	ctx := context.Background()
	st, acc := openAccount(t, dir, "me@example.test")
	defer st.Close()
	mb, err := st.MailboxByName(ctx, acc.ID, mailbox)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0
	} else if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storedMsg{}
	for _, m := range msgs {
		raw, err := st.Body(ctx, m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		if s := seqRe.FindSubmatch(raw); s != nil {
			out[string(s[1])] = storedMsg{raw: raw, flags: m.Flags &^ store.FlagRecent, keywords: strings.Join(m.Keywords, " "), date: m.InternalDate}
		}
	}
	return out, len(msgs)
}

// startRestored serves a restored data dir on new free ports.
func startRestored(t *testing.T, dir string) *Box {
	t.Helper()
	rb := &Box{t: t, Dir: dir, Domain: "example.test", Admin: "me@example.test", Password: testPassword}
	p := testutil.FreePorts(t, 10)
	rb.SMTP, rb.Submission, rb.Submissions, rb.IMAP, rb.IMAPS, rb.DNS, rb.HTTP, rb.HTTPS, rb.POP3, rb.POP3S = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]
	rb.configure(nil)
	rb.Start()
	t.Cleanup(rb.Stop)
	return rb
}

// Backup while mail arrives over SMTP and IMAP changes flags; restore
// into a new directory, serve it, and find every message acknowledged
// before the backup started, byte for byte with its flags. The stock
// age CLI decrypts the manifest and an object with the printed identity.
func TestBackupWhileServingRestoresEveryAcknowledgedMessage(t *testing.T) {
	ageBin := needTool(t, "age")
	b := newBox(t)
	keyFile := filepath.Join(t.TempDir(), "backup-identity.txt")
	target := filepath.Join(t.TempDir(), "target")
	out := mustRun(t, "", "backup", "init", "--dir", b.Dir, "--to", target, "--identity-out", keyFile)
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := regexp.MustCompile(`AGE-SECRET-KEY-1[0-9A-Z]+`).FindString(string(key))
	if secret == "" || !strings.Contains(out, secret) {
		t.Fatalf("init printed %q; identity file %q", out, key)
	}
	if _, errs, code := b.Cmd("", "backup", "init", "--to", target); code == 0 || !strings.Contains(errs, "--force") {
		t.Errorf("a second init: exit %d, %s", code, errs)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	const before, total = 60, 2000
	for i := range before {
		if err := sendPlain(addr, "friend@outside.example", "me@example.test", backupMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	c := imapLogin(t, b)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1, 2, 3, 4, 5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	// The stream of 2,000 messages and the flag changes go on during the
	// backup. acked[i] is a time after message i's 250 (zero: not yet).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sendErr error
	var mu sync.Mutex
	acked := make([]time.Time, total)
	sent := 0
	for i := range before {
		acked[i] = time.Now()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := before; i < total; i++ {
			if sendErr = sendPlain(addr, "friend@outside.example", "me@example.test", backupMessage(i)); sendErr != nil {
				return
			}
			mu.Lock()
			acked[i], sent = time.Now(), i+1
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			seq := uint32(6 + n%50)
			if c.Store(imap.SeqSetNum(seq), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close() != nil {
				return
			}
		}
	}()
	progress := func() int { mu.Lock(); defer mu.Unlock(); return sent }
	testutil.WaitFor(t, "300 messages of the stream", time.Minute, func() bool { return progress() >= 300 })
	runOut := mustRun(t, "", "backup", "run", "--dir", b.Dir)
	if n := progress(); n >= total {
		t.Errorf("the stream was over (%d messages) before the backup ended: the backup did not run during it", n)
	} else {
		t.Logf("the backup ended with %d of %d messages sent", n, total)
	}
	close(stop)
	wg.Wait()
	c.Close()
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	id := regexp.MustCompile(`snapshot (\S+):`).FindStringSubmatch(runOut)
	if id == nil {
		t.Fatalf("backup run printed %q", runOut)
	}
	t.Logf("%s", runOut)
	if out := mustRun(t, "", "backup", "verify", "--dir", b.Dir, "--full", "--identity", keyFile); !strings.Contains(out, "ok: 1 snapshots") {
		t.Errorf("verify: %s", out)
	}
	// 'boxmail status' says the backup is fine, naming the snapshot.
	if st, errs, _ := b.Cmd("", "status", "--no-ports", "--timeout", "300ms"); !regexp.MustCompile(`(?m)^ok +mail\.example\.test +backup +snapshot ` + id[1]).MatchString(st) {
		t.Errorf("status after a verified backup:\n%s%s", st, errs)
	}
	// The stock age CLI reads the manifest (and below, an object): its
	// time is the snapshot's.
	plain, err := exec.Command(ageBin, "-d", "-i", keyFile, filepath.Join(target, "snapshots", id[1]+".manifest")).Output()
	if err != nil {
		t.Fatalf("age -d of the manifest: %v", err)
	}
	var m struct {
		ID    string
		Time  time.Time
		Files []struct {
			Path   string
			Chunks []struct{ Object string }
		}
	}
	if err := json.Unmarshal(plain, &m); err != nil || m.ID != id[1] || m.Time.IsZero() {
		t.Fatalf("manifest decrypted by age: %v, id %q, time %v", err, m.ID, m.Time)
	}

	live := messagesBySeq(t, b.Dir) // every message, as the box holds it now
	newDir := filepath.Join(t.TempDir(), "restored")
	out = mustRun(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", newDir, "--snapshot", id[1])
	t.Logf("%s", out)
	if _, errs, code := run(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", b.Dir); code == 0 || !strings.Contains(errs, "not empty") {
		t.Errorf("restore over the live box: exit %d, %s", code, errs)
	}
	rb := startRestored(t, newDir)
	got := messagesBySeq(t, rb.Dir)
	checked := 0
	for i := range total {
		if acked[i].IsZero() || !acked[i].Before(m.Time) {
			continue // acknowledged after the snapshot began: may or may not be in it
		}
		checked++
		seq := fmt.Sprint(i)
		g, ok := got[seq]
		w := live[seq]
		switch {
		case !ok:
			t.Errorf("message %s, acknowledged before the snapshot, is not in the restored box", seq)
		case !bytes.Equal(g.raw, w.raw):
			t.Errorf("message %s differs after restore", seq)
		case g.flags&^store.FlagFlagged != w.flags&^store.FlagFlagged: // \Flagged changed during the run
			t.Errorf("message %s has flags %v after restore, want %v", seq, g.flags.Names(), w.flags.Names())
		}
	}
	if checked < 300 {
		t.Errorf("only %d messages acknowledged before the snapshot", checked)
	}
	t.Logf("%d messages acknowledged before the snapshot, all restored; the snapshot holds %d", checked, len(got))
	for _, seq := range []string{"0", "1", "2", "3", "4"} {
		if got[seq].flags&store.FlagSeen == 0 {
			t.Errorf("message %s lost its \\Seen", seq)
		}
	}
	rc := imapLogin(t, rb)
	if sel, err := rc.Select("INBOX", nil).Wait(); err != nil || int(sel.NumMessages) != len(got) {
		t.Errorf("restored box serves INBOX with %v messages (%v), store has %d", sel, err, len(got))
	}
	rc.Close()
	searchRestored(t, rb, got)

	decrypted := false
	for _, f := range m.Files {
		if f.Path != "boxmail.conf" {
			continue
		}
		decrypted = true
		obj := f.Chunks[0].Object
		plain, err := exec.Command(ageBin, "-d", "-i", keyFile, filepath.Join(target, "objects", obj[:2], obj)).Output()
		wantConf, _ := os.ReadFile(filepath.Join(b.Dir, "boxmail.conf"))
		if err != nil || !bytes.Equal(plain, wantConf) {
			t.Errorf("age -d of boxmail.conf's object: %v, %d bytes, want %d", err, len(plain), len(wantConf))
		}
	}
	if !decrypted {
		t.Error("the manifest names no boxmail.conf")
	}
}

// searchRestored searches the restored box's bodies in the webmail (the
// body text index, which the snapshot carries: rebuilding it cost more
// CPU than the whole restore, bench/results/backup-2026-12-06b.md) and
// finds the messages whose body holds the text.
func searchRestored(t *testing.T, rb *Box, got map[string]storedMsg) {
	t.Helper()
	const text = "message 42"
	var want []string
	for seq, m := range got {
		if _, body, ok := bytes.Cut(m.raw, []byte("\r\n\r\n")); ok && bytes.Contains(body, []byte(text)) {
			want = append(want, "backup "+seq)
		}
	}
	slices.Sort(want)
	if len(want) == 0 {
		t.Fatalf("no restored message holds %q", text)
	}
	w := newWebClient(t, rb, "127.0.0.1")
	w.mustLogin(rb.Admin, rb.Password)
	_, page := w.get("/mail/")
	inbox := webmailFolders(page)["INBOX"]
	res, p := w.get("/mail/search?box=" + inbox + "&in=body&q=" + url.QueryEscape(text))
	if found := webmailSubjects(p); res.StatusCode != 200 || !slices.Equal(found, want) {
		t.Errorf("searching the restored bodies for %q: %s %q, want %q", text, res.Status, found, want)
	}
}

// kill -9 of 'backup run' at random points: the earlier snapshots still
// verify, and the next run completes; the last one restores everything.
func TestBackupKilledMidwayLeavesEarlierSnapshotsAndNextRunCompletes(t *testing.T) {
	b := newBox(t)
	keyFile := filepath.Join(t.TempDir(), "id.txt")
	target := filepath.Join(t.TempDir(), "target")
	mustRun(t, "", "backup", "init", "--dir", b.Dir, "--to", target, "--identity-out", keyFile)
	addr := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	send := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := sendPlain(addr, "friend@outside.example", "me@example.test", backupMessage(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 20)
	// How long a run takes on this machine now (a quiet machine runs one
	// in tens of milliseconds, a loaded one in seconds): each killed run
	// below has more to do than this one, and is killed within its time.
	start := time.Now()
	mustRun(t, "", "backup", "run", "--dir", b.Dir)
	took := time.Since(start)
	send(20, 150)
	killed := 0
	for round := range 5 {
		send(150+round*30, 180+round*30) // new work for each run
		cmd := exec.Command(binary, "backup", "run", "--dir", b.Dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(took/10 + time.Duration(rand.Int64N(int64(took*8/10)+1)))
		cmd.Process.Kill()
		if err := cmd.Wait(); err != nil {
			killed++ // killed midway, not already done
		}
		out, errs, code := b.Cmd("", "backup", "verify")
		if code != 0 {
			t.Fatalf("round %d: verify after kill -9: %s%s", round, out, errs)
		}
		t.Logf("round %d: %s", round, strings.TrimSpace(out))
	}
	if killed < 2 {
		t.Errorf("only %d of 5 runs were killed midway: the runs are too short for this test", killed)
	}
	out := mustRun(t, "", "backup", "run", "--dir", b.Dir)
	t.Logf("%s", out)
	if out := mustRun(t, "", "backup", "verify", "--dir", b.Dir, "--full", "--identity", keyFile); !strings.Contains(out, "ok:") {
		t.Errorf("verify --full: %s", out)
	}
	if entries, _ := filepath.Glob(filepath.Join(b.Dir, "backup", "staging-*")); len(entries) != 0 {
		t.Errorf("staging left behind: %v", entries)
	}
	newDir := filepath.Join(t.TempDir(), "restored")
	mustRun(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", newDir)
	got := messagesBySeq(t, newDir)
	for i := range 300 {
		if _, ok := got[fmt.Sprint(i)]; !ok {
			t.Errorf("message %d missing after restore", i)
		}
	}
}

// Bad input at the command line: wrong identity, missing object, no
// setup: clear errors, and no restored directory.
func TestRestoreRefusesBadInput(t *testing.T) {
	b := newBox(t)
	keyFile := filepath.Join(t.TempDir(), "id.txt")
	target := filepath.Join(t.TempDir(), "target")
	if _, errs, code := b.Cmd("", "backup", "run"); code == 0 || !strings.Contains(errs, "backup init") {
		t.Errorf("run before init: exit %d, %s", code, errs)
	}
	if _, errs, code := b.Cmd("", "backup", "init", "--to", target, "--identity-out", filepath.Join(b.Dir, "id.txt")); code == 0 || !strings.Contains(errs, "inside the data dir") {
		t.Errorf("identity inside the data dir: exit %d, %s", code, errs)
	}
	mustRun(t, "", "backup", "init", "--dir", b.Dir, "--to", target, "--identity-out", keyFile)
	mustRun(t, "", "backup", "run", "--dir", b.Dir)
	other := filepath.Join(t.TempDir(), "other.txt")
	mustRun(t, "", "backup", "init", "--dir", b.Dir, "--to", filepath.Join(t.TempDir(), "t2"), "--force", "--identity-out", other)
	newDir := filepath.Join(t.TempDir(), "restored")
	if _, errs, code := run(t, "", "restore", "--from", target, "--identity", other, "--dir", newDir); code == 0 || !strings.Contains(errs, "wrong identity") {
		t.Errorf("wrong identity: exit %d, %s", code, errs)
	}
	objs, _ := filepath.Glob(filepath.Join(target, "objects", "*", "*"))
	if len(objs) == 0 {
		t.Fatal("no objects")
	}
	manifests, _ := filepath.Glob(filepath.Join(target, "snapshots", "*.manifest"))
	if len(manifests) != 1 {
		t.Fatalf("manifests: %v", manifests)
	}
	for _, c := range []struct {
		name   string
		damage func() (undo func())
		from   string
		want   string
	}{
		{"missing object", func() func() { return moveAway(t, objs[0]) }, target, filepath.Base(objs[0])},
		{"truncated object", func() func() { return cutFile(t, objs[0], 100) }, target, filepath.Base(objs[0])},
		{"tampered manifest", func() func() {
			return changeFile(t, manifests[0], func(d []byte) { d[len(d)-20] ^= 1 })
		}, target, filepath.Base(manifests[0])},
		{"target unreachable", func() func() { return func() {} }, filepath.Join(t.TempDir(), "unplugged-disk"), "no snapshot"},
	} {
		undo := c.damage()
		out, errs, code := run(t, "", "restore", "--from", c.from, "--identity", keyFile, "--dir", newDir)
		undo()
		if code == 0 || !strings.Contains(errs, c.want) || !strings.Contains(errs, "nothing restored") {
			t.Errorf("%s: exit %d, want an error naming %s:\n%s%s", c.name, code, c.want, out, errs)
		}
		for _, p := range []string{newDir, newDir + ".partial"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s: a failed restore left %s", c.name, p)
			}
		}
	}
	// Undone, the same restore succeeds.
	mustRun(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", newDir)
}

func moveAway(t *testing.T, p string) func() {
	t.Helper()
	if err := os.Rename(p, p+".away"); err != nil {
		t.Fatal(err)
	}
	return func() { os.Rename(p+".away", p) }
}

// cutFile cuts n bytes off the end of a file.
func cutFile(t *testing.T, p string, n int) func() {
	return changeFileTo(t, p, func(d []byte) []byte { return d[:len(d)-n] })
}

func changeFile(t *testing.T, p string, change func([]byte)) func() {
	return changeFileTo(t, p, func(d []byte) []byte { change(d); return d })
}

func changeFileTo(t *testing.T, p string, change func([]byte) []byte) func() {
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

// BOXMAIL_BACKUP_BENCH=N measures a full backup of N messages (one in
// ten a 300 KiB photo, the rest 4 KiB), an incremental run after 100
// more, verify --full and restore, beside the disk's sequential write
// rate (bench/results/backup-*.md). BOXMAIL_BACKUP_BENCH_DIR keeps the
// data, target and restored directories there; BOXMAIL_BACKUP_BENCH_PROFILES
// names a directory for a CPU profile of each step (N-command.prof).
func TestBackupBenchmark(t *testing.T) {
	n := 0
	if _, err := fmt.Sscan(os.Getenv("BOXMAIL_BACKUP_BENCH"), &n); err != nil || n <= 0 {
		t.Skip("set BOXMAIL_BACKUP_BENCH=N to measure")
	}
	tmp := t.TempDir()
	if keep := os.Getenv("BOXMAIL_BACKUP_BENCH_DIR"); keep != "" { // kept, to run the steps again by hand
		tmp = keep
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	profiles := os.Getenv("BOXMAIL_BACKUP_BENCH_PROFILES") // a directory: one CPU profile per step
	step := 0
	data := filepath.Join(tmp, "data")
	pw := filepath.Join(tmp, "pw")
	os.WriteFile(pw, []byte(testPassword+"\n"), 0o600)
	mustRun(t, "", "init", "--dir", data, "--hostname", "mail.example.test", "--domain", "example.test", "--admin", "me@example.test", "--password-file", pw)
	maildir := filepath.Join(tmp, "Maildir", "cur")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	fill := func(from, to int) {
		st := testutil.StoreAt(t, data, store.Options{})
		acc, err := st.AccountByEmail(context.Background(), "me@example.test")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + w; i < to; i += 8 {
					size := 4 << 10
					if i%10 == 0 {
						size = 300 << 10
					}
					msg := []byte(fmt.Sprintf("Subject: bench %d\r\nX-Seq: %d\r\n\r\n", i, i))
					rnd := make([]byte, size)
					for j := range rnd {
						rnd[j] = 'A' + byte(rand.IntN(26))
					}
					msg = append(msg, rnd...)
					if err := st.Deliver(context.Background(), store.Delivery{Data: msg, Received: time.Now(), Local: []store.LocalTarget{{AccountID: acc.ID}}}); err != nil {
						t.Error(err)
						return
					}
					// The same message in a Maildir, for restic beside us.
					if err := os.WriteFile(filepath.Join(maildir, fmt.Sprintf("%d.bench:2,S", i)), msg, 0o600); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		st.Close()
	}
	fill(0, n)
	target := filepath.Join(tmp, "target")
	key := filepath.Join(tmp, "id.txt")
	rate := diskWriteRate(t, tmp, 512<<20)
	mustRun(t, "", "backup", "init", "--dir", data, "--to", target, "--identity-out", key)
	timed := func(args ...string) (string, time.Duration, int64) {
		t.Helper()
		cmd := exec.Command(binary, args...)
		if profiles != "" {
			step++
			cmd.Env = append(os.Environ(), fmt.Sprintf("BOXMAIL_CPUPROFILE=%s/%d-%s.prof", profiles, step, args[0]))
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		wall := time.Since(start)
		rss := int64(0)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = int64(ru.Maxrss) >> 10 // KiB -> MiB
		}
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return fmt.Sprintf("(CPU %v, %.1f cores busy) %s", cpu.Round(time.Millisecond), cpu.Seconds()/wall.Seconds(),
			strings.TrimSpace(out.String()+errb.String())), wall, rss
	}
	du := func(p string) int64 {
		var sum int64
		filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				sum += fi.Size()
			}
			return nil
		})
		return sum
	}
	size := du(data)
	out, full, rss := timed("backup", "run", "--dir", data, "--verbose")
	t.Logf("disk sequential write (fsync): %.0f MB/s", rate)
	t.Logf("full backup of %d messages, data dir %.0f MB: %v, %.0f MB/s (%.0f%% of the disk rate), max RSS %d MiB, target %.0f MB\n  %s",
		n, float64(size)/1e6, full.Round(time.Millisecond), float64(size)/1e6/full.Seconds(), 100*float64(size)/1e6/full.Seconds()/rate, rss, float64(du(target))/1e6, out)
	fill(n, n+100)
	out, inc, rss := timed("backup", "run", "--dir", data, "--verbose")
	t.Logf("incremental run after 100 new messages: %v, max RSS %d MiB\n  %s", inc.Round(time.Millisecond), rss, out)
	out, ver, rss := timed("backup", "verify", "--dir", data, "--full", "--identity", key)
	t.Logf("verify --full: %v, max RSS %d MiB\n  %s", ver.Round(time.Millisecond), rss, out)
	if restic, err := exec.LookPath("restic"); err == nil {
		benchRestic(t, restic, tmp, filepath.Dir(maildir), n, func() { fill(n+100, n+200) })
	}
	// The shared machine's load moves: the disk rate again, next to the restore.
	rate = diskWriteRate(t, tmp, 512<<20)
	t.Logf("disk sequential write (fsync), before the restore: %.0f MB/s", rate)
	restored := filepath.Join(tmp, "restored")
	out, res, rss := timed("restore", "--from", target, "--identity", key, "--dir", restored, "--verbose")
	t.Logf("restore: %v, %.0f MB/s (%.0f%% of the disk rate), max RSS %d MiB\n  %s", res.Round(time.Millisecond),
		float64(du(restored))/1e6/res.Seconds(), 100*float64(du(restored))/1e6/res.Seconds()/rate, rss, out)
	// Last: its buffers would count in the max RSS of every command
	// forked after it. The better of two runs (the first may read cold).
	floor, floorCPU := sealFloor(t, data, filepath.Join(tmp, "floor"))
	if again, cpu := sealFloor(t, data, filepath.Join(tmp, "floor")); again < floor {
		floor, floorCPU = again, cpu
	}
	t.Logf("floor (every file of the data dir read, SHA-256'd, sealed with ChaCha20-Poly1305 in 64 KiB chunks and written to a new file on every core, then one syncfs): %v, %.0f MB/s (%.0f%% of the disk rate), CPU %v",
		floor.Round(time.Millisecond), float64(size)/1e6/floor.Seconds(), 100*float64(size)/1e6/floor.Seconds()/rate, floorCPU.Round(time.Millisecond))
}

// sealFloor is the least an encrypted backup of dir must do, with
// nothing of boxmail in it: every regular file under dir read, hashed
// with SHA-256, sealed with ChaCha20-Poly1305 in 64 KiB chunks (age's
// payload) and written to a new file under out by one worker per core,
// then one syncfs. No database snapshot, no key agreement, no names, no
// manifest: the full backup's wall time cannot go below it on this
// machine, so it says which share of the disk rate is reachable at all.
func sealFloor(t *testing.T, dir, out string) (time.Duration, time.Duration) {
	t.Helper()
	var files []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(out)
	aead, err := chacha20poly1305.New(make([]byte, chacha20poly1305.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nonce := make([]byte, chacha20poly1305.NonceSize)
			var sealed []byte
			for i := range work {
				plain, err := os.ReadFile(files[i])
				if err != nil {
					t.Error(err)
					continue
				}
				sum := sha256.Sum256(plain)
				if need := len(plain) + (len(plain)/(64<<10)+1)*aead.Overhead(); cap(sealed) < need {
					sealed = make([]byte, 0, need) // Seal's append does not grow by doubling
				}
				sealed = sealed[:0]
				for off := 0; ; off += 64 << 10 {
					end := min(off+64<<10, len(plain))
					nonce[0]++
					sealed = aead.Seal(sealed, nonce, plain[off:end], sum[:])
					if end == len(plain) {
						break
					}
				}
				f, err := os.Create(filepath.Join(out, fmt.Sprint(i)))
				if err == nil {
					_, err = f.Write(sealed)
					err = errors.Join(err, f.Close())
				}
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	// One syncfs for all the files: the least a durable copy costs.
	if d, err := os.Open(out); err != nil {
		t.Fatal(err)
	} else if err := errors.Join(unix.Syncfs(int(d.Fd())), d.Close()); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	return wall, cpu
}

// diskWriteRate is the median of three diskWriteOnce: this VM's disk
// swings by a factor of four from one probe to the next.
func diskWriteRate(t *testing.T, dir string, size int) float64 {
	t.Helper()
	rates := []float64{diskWriteOnce(t, dir, size), diskWriteOnce(t, dir, size), diskWriteOnce(t, dir, size)}
	t.Logf("disk probes: %.0f, %.0f, %.0f MB/s", rates[0], rates[1], rates[2])
	slices.Sort(rates)
	return rates[1]
}

// diskWriteOnce writes size bytes to a file under dir, fsyncs it and
// returns MB/s.
func diskWriteOnce(t *testing.T, dir string, size int) float64 {
	t.Helper()
	p := filepath.Join(dir, "ddtest")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(rand.IntN(256))
	}
	start := time.Now()
	for written := 0; written < size; written += len(buf) {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return float64(size) / 1e6 / time.Since(start).Seconds()
}

// versitygw returns a versitygw binary (github.com/versity/versitygw, a
// real S3 server): $BOXMAIL_VERSITYGW, one on PATH, or, with CI=true,
// one built with go install (several minutes on a cold cache; .ci/run
// may install it beforehand instead).
func versitygw(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BOXMAIL_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if os.Getenv("CI") != "true" {
		t.Skip("versitygw not installed (set BOXMAIL_VERSITYGW, or CI=true to build it)")
	}
	gobin := filepath.Join(os.TempDir(), "boxmail-versitygw")
	bin := filepath.Join(gobin, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	// Bounded, so a slow build fails this test rather than the suite's
	// timeout; with a warm module and build cache it takes seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod")
	cmd.Dir = os.TempDir() // outside this module
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building versitygw: %v\n%s", err, out)
	}
	return bin
}

// s3Server is a real S3 server (versitygw) on a free loopback port, with
// its buckets under Root.
type s3Server struct {
	Port int
	Root string
	Log  *syncBuffer
	Stop func() // kills it, once; also at the test's end
}

// startS3 starts versitygw with one empty bucket and the keys given.
func startS3(t *testing.T, bucket, access, secret string) *s3Server {
	t.Helper()
	vgw := versitygw(t)
	s := &s3Server{Root: t.TempDir(), Port: testutil.FreePort(t), Log: &syncBuffer{}}
	if err := os.Mkdir(filepath.Join(s.Root, bucket), 0o700); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(vgw, "--access", access, "--secret", secret, "--port", fmt.Sprintf("127.0.0.1:%d", s.Port), "posix", s.Root)
	srv.Stdout, srv.Stderr = s.Log, s.Log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	s.Stop = func() {
		once.Do(func() {
			srv.Process.Kill()
			srv.Wait()
		})
	}
	t.Cleanup(s.Stop)
	return s
}

// An S3 target against a real S3 server on loopback: backup, verify
// --full, restore; with the server gone, run and verify fail clearly.
func TestBackupToS3(t *testing.T) {
	s3 := startS3(t, "boxmail", "boxmailkey", "boxmailsecret1234")
	port, root, srvLog, stop := s3.Port, s3.Root, s3.Log, s3.Stop
	b := newBox(t)
	b.awaitPortOf(t, port)
	target := fmt.Sprintf("s3://boxmailkey:boxmailsecret1234@127.0.0.1:%d/boxmail/family?tls=false", port)
	keyFile := filepath.Join(t.TempDir(), "id.txt")
	out := mustRun(t, "", "backup", "init", "--dir", b.Dir, "--to", target, "--identity-out", keyFile)
	if strings.Contains(out, "boxmailsecret1234") {
		t.Errorf("init printed the S3 secret: %s", out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	for i := range 12 {
		if err := sendPlain(addr, "friend@outside.example", "me@example.test", backupMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s", mustRun(t, "", "backup", "run", "--dir", b.Dir))
	if out := mustRun(t, "", "backup", "verify", "--dir", b.Dir, "--full", "--identity", keyFile); !strings.Contains(out, "ok: 1 snapshots") {
		t.Errorf("verify: %s", out)
	}
	if objs, _ := filepath.Glob(filepath.Join(root, "boxmail", "family", "objects", "*", "*")); len(objs) == 0 {
		t.Errorf("no objects in the S3 server's storage\n%s", srvLog.String())
	}
	want := messagesBySeq(t, b.Dir)
	newDir := filepath.Join(t.TempDir(), "restored")
	mustRun(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", newDir)
	got := messagesBySeq(t, newDir)
	for seq, w := range want {
		if !bytes.Equal(got[seq].raw, w.raw) {
			t.Errorf("message %s differs or is missing after restore from S3", seq)
		}
	}
	stop()
	_, errs, code := b.Cmd("", "backup", "run")
	if code == 0 || !strings.Contains(errs, "127.0.0.1") || strings.Contains(errs, "boxmailsecret1234") {
		t.Errorf("run with the S3 server down: exit %d, %s", code, errs)
	}
	t.Logf("with the server down: %s", errs)
	if _, errs, code := b.Cmd("", "backup", "verify"); code == 0 {
		t.Errorf("verify with the S3 server down: exit %d, %s", code, errs)
	}
	if _, _, code := run(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", filepath.Join(t.TempDir(), "r2")); code == 0 {
		t.Error("restore with the S3 server down succeeded")
	}
}

// awaitPortOf waits for a helper server's port.
func (b *Box) awaitPortOf(t *testing.T, port int) {
	t.Helper()
	testutil.WaitFor(t, fmt.Sprintf("port %d", port), 20*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// benchRestic backs the Maildir copy up with restic (Debian's), full then
// after 100 more messages, for the same figures.
func benchRestic(t *testing.T, restic, tmp, maildir string, n int, more func()) {
	repo := filepath.Join(tmp, "restic-repo")
	env := append(os.Environ(), "RESTIC_PASSWORD=bench", "RESTIC_REPOSITORY="+repo, "RESTIC_CACHE_DIR="+filepath.Join(tmp, "restic-cache"))
	runR := func(args ...string) (time.Duration, int64) {
		cmd := exec.Command(restic, args...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restic %v: %v\n%s", args, err, out)
		}
		rss := int64(0)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = int64(ru.Maxrss) >> 10
		}
		return time.Since(start), rss
	}
	runR("init")
	full, rss := runR("backup", "--quiet", maildir)
	var size int64
	filepath.Walk(repo, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
		return nil
	})
	t.Logf("restic 0.14 full backup of the same %d messages as a Maildir: %v, max RSS %d MiB, repository %.0f MB", n, full.Round(time.Millisecond), rss, float64(size)/1e6)
	more()
	inc, rss := runR("backup", "--quiet", maildir)
	t.Logf("restic incremental after 100 new messages: %v, max RSS %d MiB", inc.Round(time.Millisecond), rss)
}

// Restore of one account, then of one mailbox, into the running box:
// after a mailbox is deleted and messages of another expunged over
// IMAP, 'restore --user' puts back what is missing (byte for byte, with
// the flags, keywords and dates of the snapshot), duplicates nothing,
// and an IDLE session on the live box sees the messages come back.
func TestRestoreOneAccountIntoTheRunningBox(t *testing.T) {
	b := newBox(t)
	keyFile := filepath.Join(t.TempDir(), "id.txt")
	target := filepath.Join(t.TempDir(), "target")
	mustRun(t, "", "backup", "init", "--dir", b.Dir, "--to", target, "--identity-out", keyFile)
	addr := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	const n = 12 // messages 3 and 10 are 300 KiB photos (body files)
	for i := range n {
		if err := sendPlain(addr, "friend@outside.example", "me@example.test", backupMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, acc := b.OpenAccount("me@example.test")
	if err := st.CreateMailbox(ctx, acc.ID, "Work/2026", ""); err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 105; i++ { // 103 is a photo
		if _, _, err := st.Append(ctx, acc.ID, "Work/2026", []byte(backupMessage(i)), store.FlagFlagged, []string{"$Project"}, time.Unix(1700000000+int64(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	c := imapLogin(t, b)
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1, 2, 4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagAnswered, "$Later"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	wantInbox, _ := mailboxBySeq(t, b.Dir, "INBOX")
	wantWork, _ := mailboxBySeq(t, b.Dir, "Work/2026")
	if len(wantInbox) != n || len(wantWork) != 5 {
		t.Fatalf("before the backup: %d in INBOX, %d in Work/2026", len(wantInbox), len(wantWork))
	}
	mustRun(t, "", "backup", "run", "--dir", b.Dir)

	// After the backup: one more message, a mailbox deleted, four
	// messages of INBOX (two flagged ones, a photo) expunged.
	if err := sendPlain(addr, "friend@outside.example", "me@example.test", backupMessage(50)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("Work/2026").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1, 2, 4, 5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "user", "add", "kid@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "kid-password-77"))

	// A phone idles on INBOX while the restore runs beside the server.
	phone, r := idleOn(t, b, "INBOX")
	defer phone.Close()

	// Bad input first: nothing is written.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "nobody@example.test"}, "no account nobody@example.test"},
		{[]string{"--user", "kid@example.test"}, "holds no account kid@example.test"},
		{[]string{"--user", "me@example.test", "--mailbox", "Nope"}, `holds no mailbox "Nope"`},
		{[]string{"--mailbox", "INBOX"}, "--mailbox needs --user"},
		{nil, "not empty"}, // a whole restore over the live box
	} {
		args := append([]string{"restore", "--from", target, "--identity", keyFile, "--dir", b.Dir}, bad.args...)
		if out, errs, code := run(t, "", args...); code == 0 || !strings.Contains(errs, bad.want) {
			t.Errorf("restore %v: exit %d, want an error with %q:\n%s%s", bad.args, code, bad.want, out, errs)
		}
	}
	if got, count := mailboxBySeq(t, b.Dir, "INBOX"); count != n-4+1 || len(got) != count {
		t.Fatalf("the refused restores changed INBOX: %d messages", count)
	}
	if matches, _ := filepath.Glob(filepath.Join(b.Dir, "backup", "restore-*")); len(matches) > 0 {
		t.Errorf("temporary copies left: %v", matches)
	}

	// One mailbox: INBOX gets its four messages back, Work stays deleted.
	out := mustRun(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", b.Dir, "--user", "me@example.test", "--mailbox", "inbox")
	t.Logf("%s", out)
	if !regexp.MustCompile(`(?m)^INBOX +12 +8 +4 *$`).MatchString(out) || strings.Contains(out, "Work") {
		t.Errorf("restore --mailbox INBOX printed:\n%s", out)
	}
	awaitExists(t, phone, r, n+1)
	got, count := mailboxBySeq(t, b.Dir, "INBOX")
	if count != n+1 {
		t.Errorf("INBOX holds %d messages after the restore, want %d (no duplicates)", count, n+1)
	}
	checkRestoredMessages(t, "INBOX", wantInbox, got)
	if _, count := mailboxBySeq(t, b.Dir, "Work/2026"); count != 0 {
		t.Errorf("--mailbox INBOX restored Work/2026 too")
	}

	// The whole account: Work/2026 is made again; INBOX gets nothing twice.
	out = mustRun(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", b.Dir, "--user", "me@example.test")
	t.Logf("%s", out)
	if !regexp.MustCompile(`(?m)^INBOX +12 +12 +0 *$`).MatchString(out) || !regexp.MustCompile(`(?m)^Work/2026 +5 +0 +5 +\(was deleted`).MatchString(out) {
		t.Errorf("restore --user printed:\n%s", out)
	}
	if _, count := mailboxBySeq(t, b.Dir, "INBOX"); count != n+1 {
		t.Errorf("INBOX holds %d messages after the second restore, want %d", count, n+1)
	}
	gotWork, count := mailboxBySeq(t, b.Dir, "Work/2026")
	if count != 5 {
		t.Errorf("Work/2026 holds %d messages after the restore, want 5", count)
	}
	checkRestoredMessages(t, "Work/2026", wantWork, gotWork)
	if l, err := c.List("", "Work*", nil).Collect(); err != nil || len(l) != 2 {
		t.Errorf("LIST Work* over IMAP after the restore: %v, %v", l, err)
	}
	sel, err := c.Select("Work/2026", nil).Wait()
	if err != nil || sel.NumMessages != 5 {
		t.Errorf("SELECT Work/2026 after the restore: %v, %v", sel, err)
	}
}

// checkRestoredMessages compares a mailbox after a restore with the
// snapshot's: every message byte for byte, with its flags, keywords and
// internal date.
func checkRestoredMessages(t *testing.T, name string, want, got map[string]storedMsg) {
	t.Helper()
	for seq, w := range want {
		g, ok := got[seq]
		switch {
		case !ok:
			t.Errorf("%s: message %s is not back", name, seq)
		case !bytes.Equal(g.raw, w.raw):
			t.Errorf("%s: message %s differs after the restore", name, seq)
		case g.flags != w.flags || g.keywords != w.keywords || !g.date.Equal(w.date):
			t.Errorf("%s: message %s is back with %v %q %v, want %v %q %v", name, seq, g.flags.Names(), g.keywords, g.date, w.flags.Names(), w.keywords, w.date)
		}
	}
}

// idleOn logs in over IMAPS as the box's admin, selects mailbox and
// starts IDLE.
func idleOn(t *testing.T, b *Box, mailbox string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAPS), insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	readUntil(t, r, "* OK")
	fmt.Fprintf(c, "a1 LOGIN %s %s\r\n", b.Admin, b.Password)
	if l := readUntil(t, r, "a1 "); !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("LOGIN: %q", l)
	}
	fmt.Fprintf(c, "a2 SELECT %s\r\n", mailbox)
	if l := readUntil(t, r, "a2 "); !strings.HasPrefix(l, "a2 OK") {
		t.Fatalf("SELECT: %q", l)
	}
	fmt.Fprintf(c, "a3 IDLE\r\n")
	readUntil(t, r, "+ ")
	return c, r
}

var existsRe = regexp.MustCompile(`^\* (\d+) EXISTS`)

// awaitExists reads an IDLE session until it announces want messages,
// within 5 s.
func awaitExists(t *testing.T, c *tls.Conn, r *bufio.Reader, want int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the IDLE session saw no * %d EXISTS: %v", want, err)
		}
		if m := existsRe.FindStringSubmatch(l); m != nil && m[1] == fmt.Sprint(want) {
			return
		}
	}
}

// A box on PostgreSQL is backed up like a SQLite one (issue 23): the
// snapshot is a SQLite box holding every table as one read-only
// transaction saw it, with the large bodies (kept in database chunks)
// as body files. Restored, it runs on SQLite (its config no longer
// names the live database), and imaplib reads every message byte for
// byte with its flags, as the PostgreSQL box serves them.
func TestBackupOfAPostgreSQLBoxRestoresAsASQLiteBox(t *testing.T) {
	needTool(t, "python3")
	b := newPGBox(t, nil)
	if bs := b.OpenStore().BodyStore(); bs != "db" {
		t.Fatalf("the PostgreSQL box keeps its large bodies in %q, want db (chunks in the database)", bs)
	}
	keyFile := filepath.Join(t.TempDir(), "backup-identity.txt")
	target := filepath.Join(t.TempDir(), "target")
	mustRun(t, "", "backup", "init", "--dir", b.Dir, "--to", target, "--identity-out", keyFile)
	addr := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	const n = 300 // every 7th a 300 KiB photo: a blob in database chunks
	for i := range n {
		if err := sendPlain(addr, "friend@outside.example", "me@example.test", backupMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	c := imapLogin(t, b)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		seqs  []uint32
		flags []imap.Flag
	}{{[]uint32{1, 2, 3, 4}, []imap.Flag{imap.FlagSeen, imap.FlagAnswered}}, {[]uint32{4, 11, 200}, []imap.Flag{imap.FlagFlagged, "$Photo"}}} {
		if err := c.Store(imap.SeqSetNum(f.seqs...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: f.flags}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	out := mustRun(t, "", "backup", "run", "--dir", b.Dir)
	t.Logf("%s", out)
	dump := func(box *Box) []string {
		t.Helper()
		out, err := box.Python("imap_dump.py", "127.0.0.1", fmt.Sprint(box.IMAPS), box.Admin, box.Password)
		if err != nil {
			t.Fatalf("imap_dump.py: %v\n%s", err, out)
		}
		return strings.Split(strings.TrimSpace(out), "\n")
	}
	want := dump(b)
	if len(want) != n {
		t.Fatalf("the PostgreSQL box serves %d messages, want %d", len(want), n)
	}

	newDir := filepath.Join(t.TempDir(), "restored")
	out = mustRun(t, "", "restore", "--from", target, "--identity", keyFile, "--dir", newDir)
	t.Logf("%s", out)
	if !strings.Contains(out, "runs on SQLite") {
		t.Errorf("restore does not say the box now runs on SQLite:\n%s", out)
	}
	conf, err := os.ReadFile(filepath.Join(newDir, "boxmail.conf"))
	if err != nil || regexp.MustCompile(`(?m)^(store_url|body_store) *= *\S`).Match(conf) {
		t.Fatalf("the restored config still names the PostgreSQL store (%v):\n%s", err, conf)
	}
	rb := startRestored(t, newDir)
	got := dump(rb)
	if !slices.Equal(got, want) {
		t.Errorf("the restored SQLite box serves %d messages, the PostgreSQL box %d; they differ:", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference: restored %q, PostgreSQL %q", got[i], want[i])
				break
			}
		}
	}
	if out := mustRun(t, "", "backup", "verify", "--dir", b.Dir, "--full", "--identity", keyFile); !strings.Contains(out, "ok: 1 snapshots") {
		t.Errorf("verify: %s", out)
	}
}
