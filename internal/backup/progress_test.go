package backup

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// progressLog records what a job's Progress was told.
type progressLog struct {
	mu          sync.Mutex
	calls       int
	last, total int
}

func (p *progressLog) report(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.last, p.total = max(p.last, done), total
}

func TestRunAndRestoreReportEachFile(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	s, tg, ids := b.setUp(t)
	var run progressLog
	res, err := Run(ctx, RunOptions{Dir: b.dir, Store: b.st, Settings: s, Target: tg, Version: "test", Progress: run.report})
	if err != nil {
		t.Fatal(err)
	}
	if run.calls != res.Files || run.last != res.Files || run.total != res.Files {
		t.Errorf("run progress: %d calls, last %d/%d, for %d files", run.calls, run.last, run.total, res.Files)
	}
	var rst progressLog
	rr, err := Restore(ctx, RestoreOptions{Target: tg, Identities: ids, Dir: filepath.Join(t.TempDir(), "restored"), Progress: rst.report})
	if err != nil {
		t.Fatal(err)
	}
	if rst.calls != rr.Files || rst.last != rr.Files || rst.total != rr.Files {
		t.Errorf("restore progress: %d calls, last %d/%d, for %d files", rst.calls, rst.last, rst.total, rr.Files)
	}
}
