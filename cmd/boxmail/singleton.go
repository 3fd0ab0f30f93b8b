package main

import (
	"context"
	"log/slog"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// Jobs that must run on exactly one node of a box on PostgreSQL (issue
// 23) run each tick under a lease row (store.RunSingleton): the status
// mail and usage report (statusmail.go), the scheduled backup
// (backup.go) and the sweep of shared body blobs (startBlobSweep); the
// queue runs its own (held submissions, TLS and DMARC reports) under the
// same owner. On SQLite every tick runs, as before.

// singleton runs one tick of the job name when this node holds its
// lease, and says whether it ran. The lease lasts the queue's lease
// (delivery.DefaultLease unless the test hook shortens it) and is renewed
// while the tick runs.
func singleton(ctx context.Context, st *store.Store, q *delivery.Queue, name string, log *slog.Logger, fn func(ctx context.Context)) bool {
	ran, err := st.RunSingleton(ctx, name, q.Owner(), q.Lease(), fn)
	if err != nil && ctx.Err() == nil {
		log.Error("singleton job", "job", name, "err", err)
	}
	if !ran && err == nil {
		log.Debug("singleton job runs on another node", "job", name)
	}
	return ran
}

// blobSweepEvery is how often the shared body blobs are swept (and once
// when serve starts).
const blobSweepEvery = 24 * time.Hour

// startBlobSweep sweeps the blobs of the shared body store that no row
// names (store.SweepBodyBlobsAlone) when serve starts and every
// blobSweepEvery after, on one node at a time; stop cancels a sweep in
// progress and waits. A store without shared blobs has nothing to sweep.
func startBlobSweep(st *store.Store, q *delivery.Queue, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ran, err := st.SweepBodyBlobsAlone(ctx, q.Owner(), q.Lease())
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("sweeping unreferenced body blobs", "err", err)
			case !ran:
				log.Debug("singleton job runs on another node", "job", "blob-sweep")
			}
			timer := time.NewTimer(blobSweepEvery)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// envQueueLease is a hook for the cluster tests
// (test/cluster_queue_test.go), never set in production: the length of
// queue claims and singleton leases (a Go duration, e.g. "2s"), so a
// killed node's claims end within the test.
const envQueueLease = "BOXMAIL_TEST_QUEUE_LEASE"

// leaseTestHook applies envQueueLease to the queue options.
func leaseTestHook(getenv func(string) string, qo *delivery.QueueOptions, log *slog.Logger) {
	v := getenv(envQueueLease)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 300*time.Millisecond {
		log.Error("ignored: want a duration of at least 300ms", "env", envQueueLease, "value", v)
		return
	}
	log.Warn("test mode: queue claims and singleton leases last "+d.String(), "env", envQueueLease)
	qo.Lease = d
}
