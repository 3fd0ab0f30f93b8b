package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"

	"boxmail/internal/store"
)

// The order of a run (bench/results/backup-2026-12-06b.md): the body
// files are linked into the staging area and queued at once, so the
// workers read, encrypt and store them while the database is copied;
// then the copy's chunks are queued ahead of what is left, and the body
// files the copy references that were not there before are linked and
// queued. A body file never changes once its row commits, so the early
// reading is the file the copy references, unless it was still being
// written (a body file is written under its final name before its row
// commits): assemble reads again any whose size is not the copy's.
//
// A box on PostgreSQL (issue 23) keeps its large bodies in the database
// or S3, not in this node's data dir: the database copy
// (store.SnapshotDB) is then a SQLite box whose large bodies it writes
// itself into the staging area, and those are queued once it is done.

// newStage makes the staging directory of run id, removing those left by
// a killed run (the run lock says none runs).
func newStage(dir, id string) (string, error) {
	state := filepath.Join(dir, StateDir)
	old, err := filepath.Glob(filepath.Join(state, "staging-*"))
	if err != nil {
		return "", err
	}
	for _, p := range old {
		if err := os.RemoveAll(p); err != nil {
			return "", err
		}
	}
	stage := filepath.Join(state, "staging-"+id)
	return stage, os.MkdirAll(filepath.Join(stage, store.BodiesDir), 0o700)
}

// snapshot queues the body files and the other files, copies the
// database beside the workers, queues its chunks and the body files that
// appeared meanwhile, and starts the copy's integrity check. It returns
// the copy's contents; the caller waits for the queue.
func (u *uploader) snapshot(ctx context.Context, q *workQueue, o RunOptions, stage string) (store.SnapshotInfo, *besideCheck, error) {
	var info store.SnapshotInfo
	bodies := filepath.Join(o.Dir, store.BodiesDir)
	var entries []os.DirEntry
	var err error
	if !o.Store.Shared() { // on PostgreSQL the copy writes the body files (above)
		entries, err = os.ReadDir(bodies)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return info, nil, err
		}
	}
	linked := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := linkBody(bodies, stage, e.Name()); errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing
		} else if err != nil {
			return info, nil, err
		}
		linked[e.Name()] = true
		u.add(q, u.bodyJob(stage, e.Name()))
	}
	others, err := otherFiles(o)
	if err != nil {
		return info, nil, err
	}
	for _, j := range others {
		u.add(q, j)
	}
	db := filepath.Join(stage, DatabasePath)
	if err := o.Store.SnapshotDB(ctx, db); err != nil {
		return info, nil, err
	}
	o.Logger.Debug("database copied")
	// The pages are checked beside the uploads; the contents now, for
	// the list of body files.
	if info, err = store.CheckSnapshot(ctx, db, store.CheckContents); err != nil {
		return info, nil, err
	}
	check := startCheck(ctx, db)
	if err := u.addSplit(q, job{rel: DatabasePath, src: db}); err != nil {
		return info, check, err
	}
	for name := range info.BodyFiles {
		if linked[name] {
			continue
		}
		if o.Store.Shared() { // written by the copy
			u.add(q, u.bodyJob(stage, name))
			continue
		}
		if err := linkBody(bodies, stage, name); err != nil {
			return info, check, fmt.Errorf("body file %s of the database copy is gone (removed in the instant after the copy); run the backup again: %w", name, err)
		}
		u.add(q, u.bodyJob(stage, name))
	}
	return info, check, nil
}

func (u *uploader) bodyJob(stage, name string) job {
	return job{rel: store.BodiesDir + "/" + name, src: filepath.Join(stage, store.BodiesDir, name), cacheable: true}
}

// linkBody hard-links bodies/name into the staging area, or copies it
// when the two are on different file systems.
func linkBody(bodies, stage, name string) error {
	src, dst := filepath.Join(bodies, name), filepath.Join(stage, store.BodiesDir, name)
	err := os.Link(src, dst)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o600)
}

// otherFiles lists the files of the data directory beside the database
// and the body files: configuration, TLS files, keys. Not this package's
// directory: the settings are in the database (LoadSettings), the rest
// is this node's bookkeeping.
func otherFiles(o RunOptions) ([]job, error) {
	var jobs []job
	err := filepath.WalkDir(o.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(o.Dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			if rel == store.BodiesDir || rel == StateDir {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || skipFile(rel, e.Name()) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if holdsSecretKey(data) {
			o.Logger.Warn("not backing up a file that holds an age secret key", "file", rel)
			return nil
		}
		jobs = append(jobs, job{rel: rel, src: p})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// add queues a whole file: one worker reads it chunk by chunk.
func (u *uploader) add(q *workQueue, j job) {
	u.total.Add(1)
	q.add(false, func(ctx context.Context, b *bufs) error {
		f, fi, err := u.file(ctx, j, b)
		if err != nil {
			return err
		}
		u.record(j.rel, f, fi)
		return nil
	})
}

// record keeps a file's result and reports the progress.
func (u *uploader) record(rel string, f File, fi fs.FileInfo) {
	u.mu.Lock()
	u.results[rel] = stored{f: f, fi: fi}
	u.mu.Unlock()
	if u.progress != nil {
		u.progress(int(u.done.Add(1)), int(u.total.Load()))
	}
}

// addSplit queues a file (the database copy) as one urgent task per
// chunk, read at its offset, and one that hashes the whole file, so
// that every worker takes a part of it.
func (u *uploader) addSplit(q *workQueue, j job) error {
	fh, err := os.Open(j.src)
	if err != nil {
		return err
	}
	u.closers = append(u.closers, fh)
	fi, err := fh.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	n := int((size + ChunkSize - 1) / ChunkSize)
	f := &File{Path: j.rel, Size: size, Mode: uint32(fi.Mode().Perm()), Chunks: make([]ChunkInfo, n)}
	var left atomic.Int64
	left.Store(int64(n) + 1)
	done := func() {
		if left.Add(-1) == 0 {
			u.record(j.rel, *f, fi)
		}
	}
	u.total.Add(1)
	for i := range n {
		q.add(true, func(ctx context.Context, b *bufs) error {
			off := int64(i) * ChunkSize
			piece := b.plain[:min(ChunkSize, size-off)]
			if _, err := fh.ReadAt(piece, off); err != nil {
				return fmt.Errorf("%s: %w", j.rel, err)
			}
			c, err := u.chunk(ctx, piece, b.sealed)
			if err != nil {
				return err
			}
			f.Chunks[i] = c
			done()
			return nil
		})
	}
	q.add(true, func(ctx context.Context, b *bufs) error {
		h := sha256.New()
		if _, err := io.CopyBuffer(h, io.NewSectionReader(fh, 0, size), b.plain); err != nil {
			return fmt.Errorf("%s: %w", j.rel, err)
		}
		f.SHA256 = hex.EncodeToString(h.Sum(nil))
		done()
		return nil
	})
	return nil
}

// close closes the split files once the queue is done.
func (u *uploader) close() {
	for _, c := range u.closers {
		_ = c.Close() // read only: nothing to lose
	}
}

// assemble lists the snapshot's files once the queue is done: the
// database copy, the body files it references (read again when read
// while still being written), the other files; and keeps the body files'
// chunks in the cache.
func (u *uploader) assemble(ctx context.Context, stage string, info store.SnapshotInfo) ([]File, error) {
	u.mu.Lock()
	results := u.results
	u.mu.Unlock()
	files := make([]File, 0, len(results))
	for rel, r := range results {
		if strings.HasPrefix(rel, store.BodiesDir+"/") { // only those the copy references, below
			continue
		}
		files = append(files, r.f)
	}
	names := make([]string, 0, len(info.BodyFiles))
	for name := range info.BodyFiles {
		names = append(names, name)
	}
	sort.Strings(names)
	var b *bufs
	for _, name := range names {
		want := info.BodyFiles[name]
		j := u.bodyJob(stage, name)
		r, ok := results[j.rel]
		if !ok || r.f.Size != want {
			if b == nil {
				b = newBufs()
			}
			f, fi, err := u.file(ctx, j, b)
			if err != nil {
				return nil, err
			}
			if f.Size != want {
				return nil, fmt.Errorf("body file %s holds %d bytes, the database copy says %d: not backing up a damaged box", name, f.Size, want)
			}
			r = stored{f: f, fi: fi}
		}
		u.cache.put(j.rel, r.fi, r.f)
		files = append(files, r.f)
	}
	return files, nil
}
