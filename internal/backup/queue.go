package backup

import (
	"context"
	"sync"
)

// task is one piece of a backup's or a restore's work: a file, or one
// chunk of a large one. b is its worker's buffers, free for the task's
// use until it returns.
type task func(ctx context.Context, b *bufs) error

// bufs are a worker's two buffers of bufSize bytes: a chunk's plaintext
// and its encrypted form, reused from chunk to chunk (a new 1 MiB buffer
// a chunk cost a sixth of the CPU in zeroing and collecting them).
type bufs struct {
	plain, sealed []byte
}

// bufSize is a worker's buffer: a chunk, or an encrypted chunk (age adds
// 16 bytes a 64 KiB and a header of a few hundred bytes), with room for
// bytes.Buffer.ReadFrom's look-ahead.
const bufSize = ChunkSize + 64<<10

func newBufs() *bufs {
	return &bufs{plain: make([]byte, bufSize), sealed: make([]byte, bufSize)}
}

// workQueue runs tasks on a fixed number of workers, urgent ones first,
// while more are added: a backup starts on the body files while the
// database is still being copied, and the database's chunks (urgent) go
// before the body files still waiting. The memory is the workers'
// buffers (workers x 2 x bufSize: 17 MiB for the default 8) and the
// tasks waiting (a closure each, ~100 bytes: one per file of the box).
type workQueue struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	cond   *sync.Cond
	urgent []task
	normal []task
	closed bool
	err    error // the first task's error
}

func newWorkQueue(parent context.Context, workers int) *workQueue {
	ctx, cancel := context.WithCancel(parent)
	q := &workQueue{parent: parent, ctx: ctx, cancel: cancel}
	q.cond = sync.NewCond(&q.mu)
	stop := context.AfterFunc(ctx, func() { // wake the idle workers
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	for range workers {
		q.wg.Add(1)
		go q.work()
	}
	go func() { q.wg.Wait(); stop() }()
	return q
}

// add queues t; urgent tasks run before every normal one not yet started.
func (q *workQueue) add(urgent bool, t task) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if urgent {
		q.urgent = append(q.urgent, t)
	} else {
		q.normal = append(q.normal, t)
	}
	q.cond.Signal()
}

// next waits for a task; nil once the queue is closed and empty, or
// when a task failed or the context ended.
func (q *workQueue) next() task {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.err != nil || q.ctx.Err() != nil {
			return nil
		}
		if len(q.urgent) > 0 {
			t := q.urgent[0]
			q.urgent[0] = nil
			q.urgent = q.urgent[1:]
			return t
		}
		if len(q.normal) > 0 {
			t := q.normal[0]
			q.normal[0] = nil
			q.normal = q.normal[1:]
			return t
		}
		if q.closed {
			return nil
		}
		q.cond.Wait()
	}
}

func (q *workQueue) work() {
	defer q.wg.Done()
	b := newBufs()
	for t := q.next(); t != nil; t = q.next() {
		if err := t(q.ctx, b); err != nil {
			q.mu.Lock()
			if q.err == nil {
				q.err = err
			}
			q.cond.Broadcast()
			q.mu.Unlock()
			q.cancel()
			return
		}
	}
}

// wait closes the queue, waits for the workers and returns the first
// task's error, else the context's if it ended. It may be called more
// than once.
func (q *workQueue) wait() error {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	q.wg.Wait()
	q.cancel()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	return q.parent.Err()
}
