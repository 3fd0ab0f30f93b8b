package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"boxmail/internal/migrate"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// benchMailbox is n messages of mixed sizes (mostly 2-20 KB, one in
// fifty 100-300 KB) in INBOX and three folders: the same mix at every n.
func benchMailbox(n int) ([]OldMessage, int64) {
	r := rand.New(rand.NewPCG(42, 42))
	folders := []string{"INBOX", "INBOX", "INBOX", "Sent", "Archive", "Work/Projects"}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []OldMessage
	var total int64
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:76] + "\r\n"
	for i := range n {
		size := 2000 + r.IntN(18000)
		if i%50 == 0 {
			size = 100000 + r.IntN(200000)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Message-ID: <bench-%d@old.test>\r\nDate: %s\r\nFrom: a@old.test\r\nTo: b@old.test\r\nSubject: bench %d\r\n\r\n", i, base.Format(time.RFC1123Z), i)
		for b.Len() < size {
			b.WriteString(line)
		}
		total += int64(b.Len())
		out = append(out, OldMessage{Folder: folders[r.IntN(len(folders))], Data: []byte(b.String()), Flags: []string{"", "S", "RS"}[i%3],
			Date: base.Add(time.Duration(i) * time.Minute)})
	}
	return out, total
}

// benchSizes are the mailbox sizes the migration benchmarks run at, from
// BOXMAIL_MIGRATE_SIZES (comma-separated; default 10000), e.g.
// BOXMAIL_MIGRATE_SIZES=2000,10000,20000 to show how memory follows the
// size of the mailbox.
func benchSizes(b *testing.B) []int {
	v := os.Getenv("BOXMAIL_MIGRATE_SIZES")
	if v == "" {
		return []int{10000}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("BOXMAIL_MIGRATE_SIZES: %q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out
}

// benchRunTimeout bounds one import or mbsync run.
const benchRunTimeout = 10 * time.Minute

// BenchmarkMigrateFromDovecot imports a mailbox (benchSizes) from a
// loopback Dovecot over IMAP into a fresh store (default options: 2
// connections, batches of 100), reporting messages/s, MB/s and the peak
// Go heap of migrate.Import in this process; then, untimed, the same
// import by the real binary ('boxmail migrate import' into a fresh data
// dir), reporting its rate (process start to exit) and its peak RSS (the
// kernel's maximum resident set size of the process).
func BenchmarkMigrateFromDovecot(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("msgs=%d", n), func(b *testing.B) { benchMigrate(b, n) })
	}
}

func benchMigrate(b *testing.B, n int) {
	old := newOldProvider(b, 1)
	msgs, total := benchMailbox(n)
	old.Put("user1", msgs)
	pw := filepath.Join(b.TempDir(), "pw")
	must(b, os.WriteFile(pw, []byte(OldPassword+"\n"), 0o600))
	b.ResetTimer()
	var elapsed, cliElapsed time.Duration
	var peak atomic.Uint64
	var maxRSS int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		st := testutil.StoreAt(b, dir, store.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
		must(b, st.AddDomain(ctx, "example.test"))
		acc, err := st.AddAccount(ctx, "me@example.test", "pw-long-enough", false)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		stop := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		src, err := migrate.NewIMAPSource(ctx, migrate.IMAPOptions{URL: old.URL(), User: "user1@old.test", Password: OldPassword, Insecure: true})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := migrate.Import(ctx, migrate.Options{Store: st, AccountID: acc.ID}, src)
		src.Close()
		elapsed += time.Since(start)
		b.StopTimer()
		close(stop)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if tot := rep.Totals(); tot.Copied != n || !rep.Done() {
			b.Fatalf("copied %d of %d, done=%v", tot.Copied, n, rep.Done())
		}
		st.Close()

		d, rss := cliImport(b, old, pw, n)
		cliElapsed += d
		maxRSS = max(maxRSS, rss)
		b.StartTimer()
	}
	secs := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(float64(n)/secs, "msgs/s")
	b.ReportMetric(float64(total)/1e6/secs, "MB/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n)/(cliElapsed.Seconds()/float64(b.N)), "cli-msgs/s")
	b.ReportMetric(float64(maxRSS)/1024, "cli-peak-RSS-MiB")
}

// runPeakRSS runs a command under GNU time, bounded by benchRunTimeout,
// and returns its stdout (stderr too if it fails), run time and peak RSS
// in KiB. Not the rusage of Go's Wait: Go starts children with
// CLONE_VM|CLONE_VFORK, so the kernel counts this test process's own peak
// (the generated mailbox) as the child's.
func runPeakRSS(b *testing.B, name string, args ...string) ([]byte, time.Duration, int64, error) {
	gnuTime := needTool(b, "time")
	f := filepath.Join(b.TempDir(), "maxrss")
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gnuTime, append([]string{"-f", "%M", "-o", f, name}, args...)...)
	// On timeout, kill time and the command it runs (their own group).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	d := time.Since(start)
	if err != nil {
		return append(out, stderr.Bytes()...), d, 0, err
	}
	v, err := os.ReadFile(f)
	if err != nil {
		return out, d, 0, err
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
	return out, d, kib, err
}

// cliImport runs 'boxmail migrate import' of user1's mailbox into a fresh
// data dir and returns its run time and peak RSS in KiB.
func cliImport(b *testing.B, old *OldProvider, pw string, n int) (time.Duration, int64) {
	dir := filepath.Join(b.TempDir(), "data")
	if out, err := exec.Command(binary, "init", "--dir", dir, "--hostname", "mail.example.test", "--domain", "example.test",
		"--admin", "me@example.test", "--password-file", pw).CombinedOutput(); err != nil {
		b.Fatalf("boxmail init: %v\n%s", err, out)
	}
	out, d, rss, err := runPeakRSS(b, binary, "migrate", "import", "me@example.test", "--from", old.URL(), "--user", "user1@old.test",
		"--password-file", pw, "--insecure", "--json", "--dir", dir)
	if err != nil {
		b.Fatalf("boxmail migrate import: %v\n%s", err, out)
	}
	var reps []struct {
		Done   bool
		Totals migrate.FolderReport
	}
	if err := json.Unmarshal(out, &reps); err != nil || len(reps) != 1 || !reps[0].Done || reps[0].Totals.Copied != n {
		b.Fatalf("boxmail migrate import did not copy %d messages: %v\n%s", n, err, out)
	}
	return d, rss
}

// BenchmarkMbsyncFromDovecot is the reference: mbsync (Debian's isync)
// syncing the same mailbox from the same Dovecot to a local Maildir, at
// the same sizes; its peak RSS is the kernel's, as for boxmail's binary.
func BenchmarkMbsyncFromDovecot(b *testing.B) {
	mbsync := needTool(b, "mbsync")
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("msgs=%d", n), func(b *testing.B) { benchMbsync(b, mbsync, n) })
	}
}

func benchMbsync(b *testing.B, mbsync string, n int) {
	old := newOldProvider(b, 1)
	msgs, total := benchMailbox(n)
	old.Put("user1", msgs)
	b.ResetTimer()
	var elapsed time.Duration
	var maxRSS int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		rc := filepath.Join(dir, "mbsyncrc")
		must(b, os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount old
Host 127.0.0.1
Port %d
User user1@old.test
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore old-remote
Account old

MaildirStore local
Path %[3]s/mail/
Inbox %[3]s/mail/INBOX
SubFolders Verbatim

Channel c
Far :old-remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
`, old.IMAP, OldPassword, dir)), 0o600))
		must(b, os.MkdirAll(filepath.Join(dir, "mail"), 0o700))
		b.StartTimer()
		out, d, rss, err := runPeakRSS(b, mbsync, "-c", rc, "-a", "-q")
		elapsed += d
		if err != nil {
			b.Fatalf("mbsync: %v\n%s", err, out)
		}
		maxRSS = max(maxRSS, rss)
	}
	secs := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(float64(n)/secs, "msgs/s")
	b.ReportMetric(float64(total)/1e6/secs, "MB/s")
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MiB")
}
