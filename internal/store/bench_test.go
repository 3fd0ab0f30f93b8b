package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The two ways of keeping message bodies durable that the package doc
// compares, under the load of the SMTP ingest benchmark: 4 KiB messages
// from 8 concurrent writers, each a 250 that must not come before fsync.
//
//	go test -run '^$' -bench 'Deliver(Blob|File)$' -benchtime 4000x ./internal/store/
//
// BenchmarkDeliverBlob is the store as it is: body and metadata in one
// group-committed SQLite transaction. BenchmarkDeliverFile is the
// alternative, implemented only here: the body goes to its own file
// (write, fsync, rename, fsync of the directory), then the metadata row is
// committed through the same group-commit writer, with an empty BLOB.
// Both report commits/op (the store's group commits, one WAL fsync each)
// and file-fsyncs/op (DeliverFile's own fsyncs of body files and their
// directory); bench/store-bodies.sh counts every fsync system call of both
// with strace, checkpoints included.

const (
	benchWriters  = 8
	benchBodySize = 4096
)

func benchBody() []byte {
	line := []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n")
	var b bytes.Buffer
	b.WriteString("From: bench@sender.test\r\nTo: user@bench.test\r\nSubject: bench\r\n\r\n")
	for b.Len() < benchBodySize {
		b.Write(line)
	}
	return b.Bytes()[:benchBodySize]
}

// benchAccounts opens a temporary store with benchWriters accounts.
func benchAccounts(b *testing.B) (*Store, []int64) {
	b.Helper()
	s := openTemp(b)
	var ids []int64
	for i := range benchWriters {
		a := newAccount(b, s, fmt.Sprintf("user%d@bench.test", i+1))
		ids = append(ids, a.ID)
	}
	return s, ids
}

// runWriters calls op b.N times in total from benchWriters goroutines,
// writer w delivering to accounts[w].
// commits/op is the store's WAL commits (one fsync each) per message.
func runWriters(b *testing.B, s *Store, accounts []int64, op func(w int, account int64) error) {
	b.Helper()
	commits0 := s.Stats().Commits
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	b.ReportAllocs()
	b.SetBytes(benchBodySize)
	b.ResetTimer()
	start := time.Now()
	for w := range benchWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(w, accounts[w]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(s.Stats().Commits-commits0)/float64(b.N), "commits/op")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func BenchmarkDeliverBlob(b *testing.B) {
	s, accounts := benchAccounts(b)
	body := benchBody()
	ctx := context.Background()
	runWriters(b, s, accounts, func(_ int, account int64) error {
		return s.Deliver(ctx, Delivery{Data: body, Local: []LocalTarget{{AccountID: account}}})
	})
	b.ReportMetric(0, "file-fsyncs/op")
}

func BenchmarkDeliverFile(b *testing.B) {
	s, accounts := benchAccounts(b)
	body := benchBody()
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "bodies")
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	var seq, fsyncs atomic.Int64
	runWriters(b, s, accounts, func(_ int, account int64) error {
		name := fmt.Sprintf("%016x", seq.Add(1))
		if err := writeBodyFile(dir, name, body, &fsyncs); err != nil {
			return err
		}
		return s.write(ctx, func(ctx context.Context, tx *Tx) error {
			res, err := tx.exec(ctx, "INSERT INTO bodies(size, data) VALUES(?, x'')", len(body))
			if err != nil {
				return err
			}
			bid, err := res.LastInsertId()
			if err != nil {
				return err
			}
			var mid int64
			if err := tx.queryRow(ctx, "SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'", account).Scan(&mid); err != nil {
				return err
			}
			_, err = addMessage(ctx, tx, account, mid, bid, int64(len(body)), FlagRecent, nil, time.Now())
			return err
		})
	})
	b.ReportMetric(float64(fsyncs.Load())/float64(b.N), "file-fsyncs/op")
}

// writeBodyFile is the per-message durable file write of the alternative
// design: temp file, write, fsync, rename, fsync of the directory.
func writeBodyFile(dir, name string, data []byte, fsyncs *atomic.Int64) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	fsyncs.Add(1)
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return err
	}
	fsyncs.Add(1)
	return nil
}

// What delivery reads of a recipient with an active Sieve script: the one
// statement it uses (LookupRecipient) against the seven reads it made
// before (domain, alias, account, disabled flag, quota, active script,
// account by id). On either engine (BOXMAIL_TEST_PG=1: PostgreSQL):
//
//	go test -run '^$' -bench 'RecipientReads' -benchtime 5000x ./internal/store/
func BenchmarkRecipientReads(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	a := newAccount(b, s, "user@bench.test")
	if err := s.PutSieveScript(ctx, a.ID, "main", "keep;"); err != nil {
		b.Fatal(err)
	}
	if err := s.SetActiveSieveScript(ctx, a.ID, "main"); err != nil {
		b.Fatal(err)
	}
	b.Run("one statement", func(b *testing.B) {
		for b.Loop() {
			if l, err := s.LookupRecipient(ctx, "user@bench.test", "user@bench.test"); err != nil || l.Account == nil || l.Account.Script == nil {
				b.Fatal(l, err)
			}
		}
	})
	b.Run("seven reads", func(b *testing.B) {
		for b.Loop() {
			if ok, err := s.IsLocalDomain(ctx, "bench.test"); err != nil || !ok {
				b.Fatal(ok, err)
			}
			if _, err := s.AliasByAddress(ctx, "user@bench.test"); err != ErrNotFound {
				b.Fatal(err)
			}
			acc, err := s.AccountByEmail(ctx, "user@bench.test")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.AccountDisabled(ctx, acc.ID); err != nil {
				b.Fatal(err)
			}
			if _, _, err := s.QuotaFits(ctx, acc.ID, 4096); err != nil {
				b.Fatal(err)
			}
			if _, err := s.ActiveSieveScript(ctx, acc.ID); err != nil {
				b.Fatal(err)
			}
			if _, err := s.AccountByID(ctx, acc.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
