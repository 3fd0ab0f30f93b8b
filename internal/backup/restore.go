package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"boxmail/internal/store"
)

// RestoreOptions say what to restore where.
type RestoreOptions struct {
	Target     Target
	Identities []age.Identity
	Snapshot   string // "" for the newest
	Dir        string // absent or empty
	Logger     *slog.Logger
	// Workers is how many files are fetched and written at once (default
	// 8: one decrypts while another waits on the disk).
	Workers int
	// Progress, when set, is told after each file how many of the
	// snapshot's files are written (from the workers at once).
	Progress func(done, total int)
}

// RestoreResult tells what was restored.
type RestoreResult struct {
	Manifest Manifest
	Files    int
	Bytes    int64
	Info     store.SnapshotInfo
}

// Restore fills an empty data directory from a snapshot. Everything is
// written into DIR.partial and checked (every chunk's and file's hash,
// the database's integrity, every referenced body file, the store opens)
// before DIR.partial becomes DIR: a failure leaves no DIR that looks
// restored.
func Restore(ctx context.Context, o RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return res, err
	}
	if err := mustBeEmpty(dir); err != nil {
		return res, err
	}
	partial := dir + ".partial"
	if _, err := os.Lstat(partial); err == nil {
		return res, fmt.Errorf("%s exists (left by an earlier restore?): remove it first", partial)
	}
	m, err := ReadManifest(ctx, o.Target, o.Snapshot, o.Identities)
	if err != nil {
		return res, err
	}
	res.Manifest = m
	if err := os.MkdirAll(partial, 0o700); err != nil {
		return res, err
	}
	ok := false
	defer func() {
		if !ok {
			if rerr := os.RemoveAll(partial); rerr != nil {
				o.Logger.Warn("removing a failed restore", "dir", partial, "err", rerr)
			}
		}
	}()
	start := time.Now()
	db := newDBCheck(ctx)
	defer db.stop() // before the partial tree goes
	if err := restoreFiles(ctx, o, m, partial, db); err != nil {
		return res, err
	}
	o.Logger.Debug("files written", "took", time.Since(start))
	for _, f := range m.Files {
		res.Files++
		res.Bytes += f.Size
	}
	if res.Info, err = checkRestored(ctx, partial, db, o.Logger); err != nil {
		return res, err
	}
	o.Logger.Debug("restored box checked", "took", time.Since(start))
	if err := syncAll(partial); err != nil {
		return res, err
	}
	o.Logger.Debug("flushed to disk", "took", time.Since(start))
	if err := os.Rename(partial, dir); err != nil {
		return res, fmt.Errorf("moving the restored box into place: %w", err)
	}
	ok = true
	return res, syncDir(filepath.Dir(dir))
}

// mustBeEmpty refuses a directory with anything in it (a live box's).
func mustBeEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty: restore fills an empty directory only (never a live box)", dir)
	}
	return nil
}

// restoreFiles writes every file of m under root, Workers at a time;
// the first error stops the rest. The database goes first, a task per
// chunk so that every worker takes a part, and its check (dbCheck)
// starts as soon as it is whole, beside the body files still being
// written.
func restoreFiles(ctx context.Context, o RestoreOptions, m Manifest, root string, db *dbCheck) error {
	n := o.Workers
	if n <= 0 {
		n = 8
	}
	var done atomic.Int64
	fileDone := func() {
		if o.Progress != nil {
			o.Progress(int(done.Add(1)), len(m.Files))
		}
	}
	q := newWorkQueue(ctx, n)
	dirs := map[string]bool{}
	var split []*os.File // closed by their last chunk's task, or below after a failure
	defer func() {
		for _, f := range split {
			_ = f.Close() // os.ErrClosed when whole; else a failed restore's, removed anyway
		}
	}()
	var err error
	for _, f := range m.Files {
		var p string
		if p, err = restorePath(m.ID, f, root, dirs); err != nil {
			break
		}
		isDB := f.Path == DatabasePath
		if len(f.Chunks) > 1 {
			var out *os.File
			if out, err = addSplitRestore(q, o, m.ID, f, p, isDB, func() { fileDone(); db.startIf(isDB, p) }); err != nil {
				break
			}
			split = append(split, out)
			continue
		}
		q.add(isDB, func(ctx context.Context, b *bufs) error {
			if err := restoreFile(ctx, o, m.ID, f, p, b); err != nil {
				return err
			}
			fileDone()
			db.startIf(isDB, p)
			return nil
		})
	}
	return errors.Join(err, q.wait())
}

// restoreFile writes file f of snapshot id at p from its chunks (checking
// each and the whole) and starts its writeback (startWriteback).
func restoreFile(ctx context.Context, o RestoreOptions, id string, f File, p string, b *bufs) error {
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := copyChunks(ctx, o.Target, o.Identities, id, f, out, b); err != nil {
		return errors.Join(err, out.Close())
	}
	_ = startWriteback(out, 0, 0) // a hint: syncAll makes it durable
	if err := out.Chmod(fileMode(f)); err != nil {
		return errors.Join(err, out.Close())
	}
	return out.Close()
}

// restorePath is where file f of snapshot id goes under root; it makes
// the directory (once: dirs remembers).
func restorePath(id string, f File, root string, dirs map[string]bool) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(f.Path))
	if filepath.IsAbs(clean) || clean == "." || strings.HasPrefix(clean, "..") {
		return "", fmt.Errorf("snapshot %s: refusing the path %q", id, f.Path)
	}
	p := filepath.Join(root, clean)
	if d := filepath.Dir(p); !dirs[d] {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
		dirs[d] = true
	}
	return p, nil
}

// addSplitRestore queues a file of several chunks as one task per chunk,
// each written at its offset; the task that writes the last one reads
// the file back to check its whole hash (from the page cache) and calls
// whole.
func addSplitRestore(q *workQueue, o RestoreOptions, id string, f File, p string, urgent bool, whole func()) (*os.File, error) {
	var total int64
	offsets := make([]int64, len(f.Chunks))
	for i, c := range f.Chunks {
		offsets[i] = total
		total += c.Size
	}
	if total != f.Size {
		return nil, fmt.Errorf("snapshot %s: %s: its chunks do not add up to the file the manifest names", id, f.Path)
	}
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	var left atomic.Int64
	left.Store(int64(len(f.Chunks)))
	var failed atomic.Bool
	finish := func(err error) error {
		if err != nil {
			failed.Store(true)
		}
		if left.Add(-1) != 0 {
			return err
		}
		if err == nil && !failed.Load() {
			err = finishSplit(id, f, out)
		}
		if err == nil {
			whole()
		}
		return errors.Join(err, out.Close())
	}
	for i, c := range f.Chunks {
		q.add(urgent, func(ctx context.Context, b *bufs) error {
			plain, err := fetchChunkInto(ctx, b, o.Target, o.Identities, id, f.Path, c)
			if err == nil {
				_, err = out.WriteAt(plain, offsets[i])
			}
			if err == nil {
				_ = startWriteback(out, offsets[i], int64(len(plain))) // a hint: syncAll makes it durable
			}
			return finish(err)
		})
	}
	return out, nil
}

// finishSplit checks a file written chunk by chunk against its whole
// hash and sets its mode.
func finishSplit(id string, f File, out *os.File) error {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(out, 0, f.Size), buf); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return fmt.Errorf("snapshot %s: %s: its chunks do not add up to the file the manifest names", id, f.Path)
	}
	return out.Chmod(fileMode(f))
}

// fileMode is the mode a restored file gets.
func fileMode(f File) fs.FileMode {
	if mode := fs.FileMode(f.Mode) & 0o777; mode != 0 {
		return mode
	}
	return 0o600
}

// dbCheck is the check of the restored database (pages and contents),
// started by the worker that wrote its last chunk, beside the body
// files still being written.
type dbCheck struct {
	ctx     context.Context
	cancel  context.CancelFunc
	once    sync.Once
	started bool
	done    chan struct{}
	info    store.SnapshotInfo
	err     error
}

func newDBCheck(ctx context.Context) *dbCheck {
	ctx, cancel := context.WithCancel(ctx)
	return &dbCheck{ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// startIf starts the check of the database at p when isDB.
func (c *dbCheck) startIf(isDB bool, p string) {
	if !isDB {
		return
	}
	c.once.Do(func() {
		c.started = true
		go func() {
			defer close(c.done)
			// Every byte has been checked against the snapshot's hashes,
			// and the copy passed the same check when it was taken
			// (verify --full runs the whole integrity_check): the tables
			// and their indexes, not the text index's postings (derived
			// data; nine tenths of the whole check's CPU).
			c.info, c.err = store.CheckSnapshot(c.ctx, p, store.CheckTables)
		}()
	})
}

// wait returns the check's result, or an error when it never started
// (no database in the snapshot, or the restore failed first).
func (c *dbCheck) wait() (store.SnapshotInfo, error) {
	c.once.Do(func() { close(c.done) }) // not started: nothing to wait for
	<-c.done
	if !c.started {
		return c.info, errors.New("the snapshot holds no database")
	}
	return c.info, c.err
}

// stop cancels the check if it runs and waits for it to end.
func (c *dbCheck) stop() {
	c.cancel()
	_, _ = c.wait() // the caller has an error of its own already
}

// checkRestored waits for the database's check, checks that every body
// file it references is there with its size, then opens it as a store (which
// migrates an older schema).
func checkRestored(ctx context.Context, dir string, db *dbCheck, log *slog.Logger) (store.SnapshotInfo, error) {
	info, err := db.wait()
	if err != nil {
		return info, err
	}
	log.Debug("database checked")
	var missing []string
	for name, size := range info.BodyFiles {
		fi, err := os.Stat(filepath.Join(dir, store.BodiesDir, name))
		if err != nil || fi.Size() != size {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return info, fmt.Errorf("%d message body file(s) missing or of the wrong size after restore: %s", len(missing), strings.Join(missing, ", "))
	}
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		return info, fmt.Errorf("opening the restored store: %w", err)
	}
	return info, st.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// syncTree fsyncs every file and directory under root, so the
// restored files and their names are durable before the tree is moved
// into place (syncAll where there is no syncfs).
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return syncDir(p)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		return errors.Join(f.Sync(), f.Close())
	})
}
