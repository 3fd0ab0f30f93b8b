package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHistoryBuckets(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	t0 := time.Date(2026, 12, 6, 10, 2, 0, 0, time.UTC)
	s.Record(EventReceived)
	s.Record(EventReceived)
	s.Record(EventSpam)
	if err := s.FlushHistory(ctx, t0); err != nil {
		t.Fatal(err)
	}
	s.Record(EventReceived)
	s.Record(EventLogin)
	if err := s.FlushHistory(ctx, t0.Add(time.Minute)); err != nil { // same 5-minute bucket
		t.Fatal(err)
	}
	s.Record(EventSent)
	if err := s.FlushHistory(ctx, t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	pts, err := s.History(ctx, 0, t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 288 {
		t.Fatalf("%d points", len(pts))
	}
	last, prev := pts[287], pts[285]
	if last.Sent != 1 || last.Received != 0 || prev.Received != 3 || prev.Spam != 1 || prev.Logins != 1 {
		t.Errorf("last %+v, two before %+v", last, prev)
	}
	if !prev.Start.Equal(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("bucket start %v", prev.Start)
	}
	// A day later the slot comes round again: the old counts are replaced.
	s.Record(EventReceived)
	if err := s.FlushHistory(ctx, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	pts, _ = s.History(ctx, 0, t0.Add(24*time.Hour))
	if pts[287].Received != 1 {
		t.Errorf("reused slot: %+v", pts[287])
	}
	days, _ := s.History(ctx, 2, t0.Add(24*time.Hour))
	if days[88].Received != 3 || days[89].Received != 1 {
		t.Errorf("days: %+v %+v", days[88], days[89])
	}
	var n int
	if err := s.rdb.QueryRow("SELECT count(*) FROM history").Scan(&n); err != nil || n > 6 {
		t.Errorf("%d rows, %v", n, err)
	}
}

func TestCheckSpace(t *testing.T) {
	s := openTemp(t)
	if err := s.CheckSpace(); err != nil {
		t.Fatalf("a test disk is not that full: %v", err)
	}
	s.KeepFree(100.5) // nothing has that much free
	if err := s.CheckSpace(); !errors.Is(err, ErrDiskFull) {
		t.Errorf("CheckSpace = %v", err)
	}
	s.KeepFree(-1)
	if err := s.CheckSpace(); err != nil {
		t.Errorf("gate off: %v", err)
	}
	var nilStore *Store
	nilStore.Record(EventLogin)
	if err := nilStore.CheckSpace(); err != nil {
		t.Error(err)
	}
}

func TestHealthState(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if _, _, err := s.HealthState(ctx, "status-mail"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0)
	if err := s.NoteHealthState(ctx, "status-mail", "x", at); err != nil {
		t.Fatal(err)
	}
	v, got, err := s.HealthState(ctx, "status-mail")
	if err != nil || v != "x" || !got.Equal(at) {
		t.Errorf("%q %v %v", v, got, err)
	}
	if _, err := s.Activity(ctx, at); err != nil {
		t.Error(err)
	}
}

// BenchmarkHistoryMonth flushes the history once a minute for 31 days
// of simulated time (44,640 flushes, each with events) and reports the
// database's growth: issue 21 allows 1 MiB a month. The table's rows are
// bounded (546), so the growth stops once every slot was written.
func BenchmarkHistoryMonth(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		s := openTemp(b)
		size := func() int64 {
			if _, err := s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				b.Fatal(err)
			}
			var pages, pageSize int64
			if err := s.rdb.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
				b.Fatal(err)
			}
			if err := s.rdb.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
				b.Fatal(err)
			}
			return pages * pageSize
		}
		before := size()
		t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		for m := 0; m < 31*24*60; m++ {
			for i := 0; i < m%5; i++ {
				s.Record(EventReceived)
				s.Record(EventLogin)
			}
			s.Record(EventSent)
			if err := s.FlushHistory(ctx, t0.Add(time.Duration(m)*time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
		var rows int64
		if err := s.rdb.QueryRow("SELECT count(*) FROM history").Scan(&rows); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(size()-before), "bytes/month")
		b.ReportMetric(float64(rows), "rows")
	}
}

// BenchmarkCheckSpace is the free-space gate SMTP RCPT/DATA and IMAP
// APPEND pay (one statfs), and BenchmarkRecord a history hook.
func BenchmarkCheckSpace(b *testing.B) {
	s := openTemp(b)
	for b.Loop() {
		if err := s.CheckSpace(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	s := openTemp(b)
	for b.Loop() {
		s.Record(EventReceived)
	}
}
