package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"boxmail/internal/store"
)

// RunOptions are what a backup run needs.
type RunOptions struct {
	Dir      string // the data directory
	Store    *store.Store
	Settings Settings
	Target   Target
	Version  string // the binary's, for the manifest
	Logger   *slog.Logger
	// Keep, when set, prunes after the run (Prune) under the run lock.
	Keep *Retention
	// Workers is how many files are read, encrypted and uploaded at once
	// (default 8: fsyncs overlap); each holds about 2*ChunkSize bytes.
	Workers int
	// Progress, when set, is told after each file how many of the
	// snapshot's files are stored (from the workers at once).
	Progress func(done, total int)
}

// RunResult tells what a run did.
type RunResult struct {
	ID            string
	Files         int
	Bytes         int64 // in the snapshot
	Objects       int   // the snapshot needs
	Uploaded      int   // objects this run wrote
	UploadedBytes int64 // their encrypted size
	Messages      int64
	Duration      time.Duration
	Pruned        int // snapshots removed by retention
	ObjectsPruned int
}

// job is one file to back up: its path in the snapshot and where to read it.
type job struct {
	rel, src  string
	cacheable bool
}

// Run takes a snapshot of a running box and stores what the target
// lacks. Only one run per data directory at a time (ErrBusy), and on a
// store several nodes share (PostgreSQL) one run per box: the run holds
// the lease "backup-run" (store.RunSingleton) while it lasts.
func Run(ctx context.Context, o RunOptions) (res RunResult, err error) {
	if !o.Store.Shared() {
		return run(ctx, o)
	}
	owner := store.NewOwnerID()
	ran, lerr := o.Store.RunSingleton(ctx, runLease, owner, runLeaseTTL, func(ctx context.Context) { res, err = run(ctx, o) })
	if rerr := o.Store.ReleaseLease(context.WithoutCancel(ctx), runLease, owner); rerr != nil && o.Logger != nil {
		o.Logger.Warn("releasing the backup's lease", "err", rerr)
	}
	switch {
	case lerr != nil:
		return res, errors.Join(err, lerr)
	case !ran:
		return res, fmt.Errorf("%w (on another node of the box)", ErrBusy)
	}
	return res, err
}

// runLease is the lease a run holds on a shared store, renewed every
// third of runLeaseTTL while it runs; a node that dies mid-run frees it
// when it ends.
const (
	runLease    = "backup-run"
	runLeaseTTL = time.Minute
)

func run(ctx context.Context, o RunOptions) (res RunResult, err error) {
	start := time.Now()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Settings.Recipient == "" {
		return res, ErrNotConfigured
	}
	seal, err := newSealer(o.Settings)
	if err != nil {
		return res, err
	}
	unlock, err := lockDir(o.Dir)
	if err != nil {
		return res, err
	}
	defer unlock()
	defer func() { // 'boxmail status' warns when the last run failed
		if rerr := RecordRun(context.WithoutCancel(ctx), o.Store, o.Dir, start, res.ID, err); rerr != nil {
			o.Logger.Warn("recording the backup run", "err", rerr)
		}
	}()
	if dt, ok := o.Target.(*DirTarget); ok {
		if err := dt.CleanTemp(); err != nil {
			return res, fmt.Errorf("target %s: %w", dt, err)
		}
	}
	id := newSnapshotID(start)
	// Announce the run in the target, so that another box's prune (a
	// restored copy writing to the same target) leaves its new objects.
	if err := o.Target.Put(ctx, runLockPath(id), []byte(start.UTC().Format(time.RFC3339))); err != nil {
		return res, fmt.Errorf("target %s: %w", o.Target, err)
	}
	defer func() {
		if derr := o.Target.Delete(context.WithoutCancel(ctx), runLockPath(id)); derr != nil {
			o.Logger.Warn("removing the run's lock from the target", "err", derr)
		}
	}()
	up, err := newUploader(ctx, o, seal)
	if err != nil {
		return res, err
	}
	stage, err := newStage(o.Dir, id)
	if stage != "" {
		defer func() {
			if rerr := os.RemoveAll(stage); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}()
	}
	if err != nil {
		return res, err
	}
	defer waitAsync(o.Target, &err) // on an early return too: nothing left writing
	q := newWorkQueue(ctx, o.Workers)
	defer up.close()
	defer func() { _ = q.wait() }() // on an early return; its error is the one returned
	info, check, err := up.snapshot(ctx, q, o, stage)
	if check != nil {
		defer check.stop() // before the staging area goes
	}
	if err != nil {
		return res, errors.Join(err, q.wait())
	}
	if err := q.wait(); err != nil {
		return res, err
	}
	files, err := up.assemble(ctx, stage, info)
	if err != nil {
		return res, err
	}
	if err := check.wait(); err != nil {
		return res, fmt.Errorf("the database copy failed its integrity check; nothing recorded: %w", err)
	}
	o.Logger.Debug("files stored", "took", time.Since(start))
	m := Manifest{Format: FormatVersion, ID: id, Time: start.UTC(), Version: o.Version, Schema: info.Schema,
		Messages: info.Messages, Files: files}
	if err := writeSnapshot(ctx, o.Target, seal, &m, up.have); err != nil {
		return res, err
	}
	o.Logger.Debug("manifest stored", "took", time.Since(start))
	if err := up.cache.save(o.Dir); err != nil {
		o.Logger.Warn("backup cache not saved; the next run reads every file again", "err", err)
	}
	if o.Keep != nil {
		pr, err := prune(ctx, o.Target, o.Settings.NameKey, *o.Keep, id)
		if err != nil {
			return res, fmt.Errorf("snapshot %s stored, but pruning failed: %w", id, err)
		}
		res.Pruned, res.ObjectsPruned = pr.Removed, pr.ObjectsRemoved
	}
	uploaded, uploadedBytes := up.uploadedOf(files)
	res = RunResult{ID: id, Files: len(files), Bytes: m.Bytes, Objects: m.Objects, Uploaded: uploaded,
		UploadedBytes: uploadedBytes, Messages: info.Messages, Duration: time.Since(start), Pruned: res.Pruned, ObjectsPruned: res.ObjectsPruned}
	o.Logger.Info("backup done", "snapshot", id, "files", res.Files, "objects", res.Objects, "uploaded", res.Uploaded, "took", res.Duration)
	return res, nil
}

// waitAsync waits for the objects t stores beside the workers
// (asyncPutter) and sets *err to their failure if it is nil.
func waitAsync(t Target, err *error) {
	if ap, ok := t.(asyncPutter); ok {
		if werr := ap.WaitAsync(); *err == nil {
			*err = werr
		}
	}
}

// besideCheck is SQLite's integrity check of the database copy, table by
// table (store.CheckTables: the text index's own check of its postings
// cost more CPU than encrypting the whole box), run while the files are
// read, encrypted and stored; no manifest names a copy before it passed.
type besideCheck struct {
	cancel context.CancelFunc
	done   chan error
	err    error
	over   bool
}

func startCheck(ctx context.Context, db string) *besideCheck {
	ctx, cancel := context.WithCancel(ctx)
	c := &besideCheck{cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := store.CheckSnapshot(ctx, db, store.CheckTables)
		c.done <- err
	}()
	return c
}

// wait returns the check's result once it is over.
func (c *besideCheck) wait() error {
	if !c.over {
		c.err, c.over = <-c.done, true
	}
	return c.err
}

// stop cancels the check if it still runs and waits for it.
func (c *besideCheck) stop() {
	c.cancel()
	_ = c.wait() // the caller has returned already; its error says why
}

// idTime is the layout of the time that starts a snapshot ID: IDs sort
// by time.
const idTime = "20060102T150405.000Z"

func newSnapshotID(t time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return t.UTC().Format(idTime) + "-" + hex.EncodeToString(b)
}

// lockDir takes the run lock of a data directory (flock on
// backup/lock; the kernel drops it when the process dies).
func lockDir(dir string) (func(), error) {
	p := filepath.Join(dir, StateDir, "lock")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, errors.Join(ErrBusy, f.Close())
	}
	return func() { _ = f.Close() }, nil // closing drops the lock
}

// skipFile tells the files of the data directory a snapshot leaves out.
func skipFile(rel, base string) bool {
	if strings.HasPrefix(rel, store.FileName) { // the live database, -wal, -shm
		return true
	}
	return strings.HasPrefix(base, ".") && strings.Contains(base, ".tmp")
}

// writeSnapshot finishes the manifest and stores the .names file (each
// object's name and, when known, its stored size), then the manifest:
// the snapshot exists from that last write on.
func writeSnapshot(ctx context.Context, t Target, seal *sealer, m *Manifest, sizes map[string]int64) error {
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	names := map[string]bool{}
	for _, f := range m.Files {
		m.Bytes += f.Size
		if f.Path == DatabasePath {
			m.DatabaseSHA256 = f.SHA256
		}
		for _, c := range f.Chunks {
			names[c.Object] = true
		}
	}
	m.Objects = len(names)
	list := make([]string, 0, len(names))
	for n := range names {
		if size, ok := sizes[n]; ok && size >= 0 {
			n += " " + strconv.FormatInt(size, 10)
		}
		list = append(list, n)
	}
	sort.Strings(list)
	body := []byte(strings.Join(list, "\n") + "\n")
	if err := t.Put(ctx, namesPath(m.ID), append(body, macNames(seal.nameKey, body)...)); err != nil {
		return fmt.Errorf("writing %s: %w", namesPath(m.ID), err)
	}
	if err := t.Sync(ctx); err != nil { // the objects and the list before the manifest
		return err
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sealed, err := seal.seal(data)
	if err != nil {
		return err
	}
	if err := t.Put(ctx, manifestPath(m.ID), sealed); err != nil {
		return fmt.Errorf("writing %s: %w", manifestPath(m.ID), err)
	}
	return t.Sync(ctx)
}

// uploader reads files chunk by chunk and stores the chunks the target
// lacks.
type uploader struct {
	t     Target
	seal  *sealer
	cache *cache

	mu      sync.Mutex
	have    map[string]int64 // objects in the target: their sizes (-1: unknown)
	written map[string]int64 // objects this run stored: their sizes

	progress func(done, total int) // RunOptions.Progress
	done     atomic.Int64
	total    atomic.Int64

	results map[string]stored // by path in the snapshot, under mu
	closers []io.Closer       // of split files, closed once the queue is done
}

// stored is a file backed up and what it was when read.
type stored struct {
	f  File
	fi fs.FileInfo
}

func newUploader(ctx context.Context, o RunOptions, seal *sealer) (*uploader, error) {
	have, err := listObjects(ctx, o.Target)
	if err != nil {
		return nil, err
	}
	return &uploader{t: o.Target, seal: seal, have: have, cache: loadCache(o.Dir), progress: o.Progress,
		results: map[string]stored{}, written: map[string]int64{}}, nil
}

// file backs up one file: from the cache when its chunks are all in the
// target, else read, named, and the missing chunks encrypted and stored.
func (u *uploader) file(ctx context.Context, j job, b *bufs) (File, fs.FileInfo, error) {
	f, fi, err := u.readFile(ctx, j, b.plain[:ChunkSize], b.sealed)
	if err != nil {
		return f, fi, fmt.Errorf("%s: %w", j.rel, err)
	}
	return f, fi, nil
}

func (u *uploader) readFile(ctx context.Context, j job, buf, sealed []byte) (File, fs.FileInfo, error) {
	fh, err := os.Open(j.src)
	if err != nil {
		return File{}, nil, err
	}
	defer func() { _ = fh.Close() }() // read only: nothing to lose
	fi, err := fh.Stat()
	if err != nil {
		return File{}, nil, err
	}
	f := File{Path: j.rel, Size: fi.Size(), Mode: uint32(fi.Mode().Perm())}
	if j.cacheable {
		if c, ok := u.cache.get(j.rel, fi); ok && u.hasAll(c.Chunks) {
			f.SHA256, f.Chunks = c.SHA256, c.Chunks
			return f, fi, nil
		}
	}
	// The whole file's SHA-256 is hashed beside the chunks' only when
	// the first chunk is full (there may be more): a file of one short
	// chunk (every small file, most body files) takes its chunk's, so
	// its bytes are hashed once.
	var h hash.Hash
	var size int64
	for {
		n, err := io.ReadFull(fh, buf)
		if n > 0 {
			if h == nil && n == len(buf) {
				h = sha256.New()
			}
			if h != nil {
				h.Write(buf[:n])
			}
			size += int64(n)
			c, perr := u.chunk(ctx, buf[:n], sealed)
			if perr != nil {
				return File{}, nil, perr
			}
			f.Chunks = append(f.Chunks, c)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return File{}, nil, err
		}
	}
	f.Size = size
	switch {
	case h != nil:
		f.SHA256 = hex.EncodeToString(h.Sum(nil))
	case len(f.Chunks) == 1:
		f.SHA256 = f.Chunks[0].SHA256
	default: // empty
		sum := sha256.Sum256(nil)
		f.SHA256 = hex.EncodeToString(sum[:])
	}
	return f, fi, nil
}

// uploadedOf counts the objects of files this run stored, and their
// bytes. A body file read beside the database copy that the copy does
// not reference (a delivery not yet committed) was stored too, but is no
// object of the snapshot: the next prune removes it.
func (u *uploader) uploadedOf(files []File) (int, int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	seen := map[string]bool{}
	var n int
	var bytes int64
	for _, f := range files {
		for _, c := range f.Chunks {
			if size, ok := u.written[c.Object]; ok && !seen[c.Object] {
				seen[c.Object] = true
				n++
				bytes += size
			}
		}
	}
	return n, bytes
}

func (u *uploader) hasAll(chunks []ChunkInfo) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range chunks {
		if _, ok := u.have[c.Object]; !ok {
			return false
		}
	}
	return true
}

// chunk stores one piece unless the target has it, encrypting it into
// the storage of buf (the worker's).
func (u *uploader) chunk(ctx context.Context, plain, buf []byte) (ChunkInfo, error) {
	sum := sha256.Sum256(plain)
	c := ChunkInfo{Object: u.seal.name(sum), Size: int64(len(plain)), SHA256: hex.EncodeToString(sum[:])}
	u.mu.Lock()
	_, have := u.have[c.Object]
	u.mu.Unlock()
	if have {
		return c, nil
	}
	sealed, err := u.seal.sealInto(buf, plain) // Put keeps no reference once it returns
	if err != nil {
		return c, err
	}
	put := u.t.Put
	if ap, ok := u.t.(asyncPutter); ok {
		put = ap.PutAsync // its fsync beside the next chunk; Sync waits for it
	}
	if err := put(ctx, objectPath(c.Object), sealed); err != nil {
		return c, &ObjectError{Snapshot: "(new)", Object: c.Object, Err: err}
	}
	u.mu.Lock()
	u.have[c.Object] = int64(len(sealed))
	u.written[c.Object] = int64(len(sealed))
	u.mu.Unlock()
	return c, nil
}
