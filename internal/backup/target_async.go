package backup

import (
	"context"
	"sync"
)

// Objects stored without the worker waiting for their fsync. A worker
// that fsyncs each object it writes waits for the disk once an object
// (5.8 ms median, 36 ms at the 90th percentile on the benchmark's
// machine, bench/results/backup-2026-12-07.md), and with 8 workers on 2
// cores the cores go idle whenever most of them wait. Once its bytes are
// copied into the page cache the worker's buffer is free, so the fsync
// and the rename are handed to a goroutine of their own and the worker
// reads and encrypts the next chunk meanwhile. What is durable is
// unchanged: an object gets its name only after its fsync, and Sync (and
// so the manifest) waits for every one.

// asyncPutter is a Target that stores an object without waiting for it
// to be durable.
type asyncPutter interface {
	// PutAsync is Put returning once data is copied (the caller may
	// reuse it): the object is durable and under its name once
	// WaitAsync or Sync has returned without an error.
	PutAsync(ctx context.Context, name string, data []byte) error
	// WaitAsync waits for every PutAsync so far and returns the first
	// failure.
	WaitAsync() error
}

var _ asyncPutter = (*DirTarget)(nil)

// maxFlushing bounds the objects written and not yet durable: an open
// file each, no buffer (their bytes are in the page cache).
const maxFlushing = 32

// asyncFlush is the state of a DirTarget's PutAsync.
type asyncFlush struct {
	once sync.Once
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error // the first failure
}

func (a *asyncFlush) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (d *DirTarget) PutAsync(ctx context.Context, name string, data []byte) error {
	a := &d.async
	if err := a.failed(); err != nil {
		return err
	}
	a.once.Do(func() { a.sem = make(chan struct{}, maxFlushing) })
	p, f, err := d.writeTemp(ctx, name, data)
	if err != nil {
		return err
	}
	a.sem <- struct{}{}
	a.wg.Add(1)
	go func() {
		defer func() { <-a.sem; a.wg.Done() }()
		if err := d.finish(f, p); err != nil {
			a.mu.Lock()
			if a.err == nil {
				a.err = err
			}
			a.mu.Unlock()
		}
	}()
	return nil
}

func (d *DirTarget) WaitAsync() error {
	d.async.wg.Wait()
	return d.async.failed()
}
