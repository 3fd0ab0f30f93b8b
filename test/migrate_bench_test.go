package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"boxmail/internal/migrate"
	"boxmail/internal/store"
)

// benchMailbox is 10,000 messages of mixed sizes (mostly 2-20 KB, one in
// fifty 100-300 KB) in INBOX and three folders.
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

const benchMessages = 10000

// BenchmarkMigrateFromDovecot imports 10,000 messages from a loopback
// Dovecot over IMAP into a fresh store (default options: 2 connections,
// batches of 100), reporting messages/s, MB/s and the peak Go heap.
func BenchmarkMigrateFromDovecot(b *testing.B) {
	old := newOldProvider(b, 1)
	msgs, total := benchMailbox(benchMessages)
	old.Put("user1", msgs)
	ctx := context.Background()
	b.ResetTimer()
	var elapsed time.Duration
	var peak atomic.Uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		st, err := store.Open(ctx, dir, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
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
		if err != nil {
			b.Fatal(err)
		}
		if tot := rep.Totals(); tot.Copied != benchMessages || !rep.Done() {
			b.Fatalf("copied %d of %d, done=%v", tot.Copied, benchMessages, rep.Done())
		}
		st.Close()
		b.StartTimer()
	}
	secs := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(benchMessages/secs, "msgs/s")
	b.ReportMetric(float64(total)/1e6/secs, "MB/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}

// BenchmarkMbsyncFromDovecot is the reference: mbsync (Debian's isync)
// syncing the same mailbox from the same Dovecot to a local Maildir.
func BenchmarkMbsyncFromDovecot(b *testing.B) {
	mbsync := needTool(b, "mbsync")
	old := newOldProvider(b, 1)
	msgs, total := benchMailbox(benchMessages)
	old.Put("user1", msgs)
	b.ResetTimer()
	var elapsed time.Duration
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
		start := time.Now()
		out, err := exec.Command(mbsync, "-c", rc, "-a", "-q").CombinedOutput()
		elapsed += time.Since(start)
		if err != nil {
			b.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	secs := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(benchMessages/secs, "msgs/s")
	b.ReportMetric(float64(total)/1e6/secs, "MB/s")
}
