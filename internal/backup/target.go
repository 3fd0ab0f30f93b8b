package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Target is where the objects and manifests go. Names are slash-separated
// paths ("objects/ab/ab12...", "snapshots/ID.manifest").
type Target interface {
	// Put stores data under name: a failure or a crash leaves no partial
	// object under it. It is durable once Sync has returned. Put keeps
	// no reference to data once it returns (the caller reuses it).
	Put(ctx context.Context, name string, data []byte) error
	// Sync makes every Put so far durable.
	Sync(ctx context.Context) error
	// Get returns the bytes under name; a missing name is fs.ErrNotExist.
	Get(ctx context.Context, name string) ([]byte, error)
	Has(ctx context.Context, name string) (bool, error)
	// List returns the names under a prefix ("objects/"), sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, name string) error
	// String names the target for messages.
	String() string
}

// SizeLister is a Target that also lists its objects' sizes (both
// targets here are).
type SizeLister interface {
	// ListSizes returns the names under a prefix with their sizes.
	ListSizes(ctx context.Context, prefix string) (map[string]int64, error)
}

// getIntoer is a Target that reads an object into a caller's buffer
// (a restore reuses one per worker rather than allocating 1 MiB an
// object).
type getIntoer interface {
	// GetInto is Get into dst's storage when it is large enough.
	GetInto(ctx context.Context, name string, dst []byte) ([]byte, error)
}

var (
	_ getIntoer  = (*DirTarget)(nil)
	_ SizeLister = (*DirTarget)(nil)
	_ SizeLister = (*S3Target)(nil)
)

// listObjects returns the objects of a target by name (without the
// objects/XX/ prefix), with their sizes, or -1 when the target cannot
// tell.
func listObjects(ctx context.Context, t Target) (map[string]int64, error) {
	out := map[string]int64{}
	if sl, ok := t.(SizeLister); ok {
		sizes, err := sl.ListSizes(ctx, "objects/")
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", t, err)
		}
		for n, size := range sizes {
			out[n[strings.LastIndexByte(n, '/')+1:]] = size
		}
		return out, nil
	}
	names, err := t.List(ctx, "objects/")
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", t, err)
	}
	for _, n := range names {
		out[n[strings.LastIndexByte(n, '/')+1:]] = -1
	}
	return out, nil
}

// Open returns the target of a TARGET argument: a directory path, or
// s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX] (S3Target).
func Open(spec string) (Target, error) {
	switch {
	case spec == "":
		return nil, errors.New("no backup target")
	case strings.HasPrefix(spec, "s3://"):
		return openS3(spec)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("%s: unknown target kind: want a directory path", spec)
	}
	abs, err := filepath.Abs(spec)
	if err != nil {
		return nil, err
	}
	return NewDirTarget(abs), nil
}

// DirTarget is a Target in a local directory (another disk, a mounted
// share). Put writes a temp file, fsyncs it and renames it into place
// (safefile without its directory fsync); Sync fsyncs the directories
// written to since the last Sync, once each rather than once per object.
type DirTarget struct {
	Root string

	mu    sync.Mutex
	dirty map[string]bool
	made  map[string]bool // directories known to exist

	async asyncFlush // PutAsync's objects being made durable
}

var _ Target = (*DirTarget)(nil)

// NewDirTarget is the target in directory root.
func NewDirTarget(root string) *DirTarget { return &DirTarget{Root: root} }

func (d *DirTarget) String() string { return d.Root }

func (d *DirTarget) path(name string) (string, error) {
	clean := filepath.ToSlash(filepath.Clean(name))
	if name == "" || clean != name || strings.HasPrefix(clean, "../") || filepath.IsAbs(name) {
		return "", fmt.Errorf("bad object name %q", name)
	}
	return filepath.Join(d.Root, filepath.FromSlash(name)), nil
}

func (d *DirTarget) Put(ctx context.Context, name string, data []byte) error {
	p, f, err := d.writeTemp(ctx, name, data)
	if err != nil {
		return err
	}
	return d.finish(f, p)
}

// writeTemp writes data to a new temporary file beside name's path p.
func (d *DirTarget) writeTemp(ctx context.Context, name string, data []byte) (string, *os.File, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	p, err := d.path(name)
	if err != nil {
		return "", nil, err
	}
	if err := d.mkdir(filepath.Dir(p)); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return "", nil, err
	}
	if _, err := f.Write(data); err != nil {
		return "", nil, errors.Join(err, f.Close(), os.Remove(f.Name()))
	}
	return p, f, nil
}

// finish fsyncs the temporary file f and renames it to p: only a
// durable object ever has its name.
func (d *DirTarget) finish(f *os.File, p string) error {
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return errors.Join(fmt.Errorf("fsync %s: %w", p, err), os.Remove(f.Name()))
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return errors.Join(err, os.Remove(f.Name()))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dirty == nil {
		d.dirty = map[string]bool{}
	}
	for rel := filepath.Dir(p); ; rel = filepath.Dir(rel) { // new parents too
		d.dirty[rel] = true
		if rel == d.Root || len(rel) <= len(d.Root) {
			break
		}
	}
	return nil
}

// mkdir makes dir (and its parents) once per target: a Put per object
// asked the file system each time.
func (d *DirTarget) mkdir(dir string) error {
	d.mu.Lock()
	made := d.made[dir]
	d.mu.Unlock()
	if made {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.made == nil {
		d.made = map[string]bool{}
	}
	d.made[dir] = true
	return nil
}

// syncWorkers is how many directories Sync fsyncs at once: a full
// backup leaves ~260 (objects/00 ... objects/ff) to flush before its
// manifest, one after the other a serial step at the end of every run.
const syncWorkers = 8

func (d *DirTarget) Sync(ctx context.Context) error {
	if err := d.WaitAsync(); err != nil {
		return err
	}
	d.mu.Lock()
	dirs := make(chan string, len(d.dirty))
	for dir := range d.dirty {
		dirs <- dir
	}
	close(dirs)
	d.dirty = nil
	d.mu.Unlock()
	errs := make([]error, syncWorkers)
	var wg sync.WaitGroup
	for w := range syncWorkers {
		wg.Go(func() {
			for dir := range dirs {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				if err := syncDir(dir); err != nil {
					errs[w] = fmt.Errorf("fsync %s: %w", dir, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *DirTarget) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func (d *DirTarget) GetInto(ctx context.Context, name string, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if int64(cap(dst)) < fi.Size()+1 {
		dst = make([]byte, fi.Size()+1)
	}
	// One byte more than the size, to see a file that grew meanwhile.
	n, err := io.ReadFull(f, dst[:fi.Size()+1])
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return dst[:n], nil
	}
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p) // it grew: read it whole
}

func (d *DirTarget) Has(ctx context.Context, name string) (bool, error) {
	p, err := d.path(name)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (d *DirTarget) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := d.walk(ctx, prefix, func(name string, _ fs.DirEntry) error {
		names = append(names, name)
		return nil
	})
	return names, err
}

func (d *DirTarget) ListSizes(ctx context.Context, prefix string) (map[string]int64, error) {
	sizes := map[string]int64{}
	err := d.walk(ctx, prefix, func(name string, e fs.DirEntry) error {
		fi, err := e.Info()
		if err != nil {
			return err
		}
		sizes[name] = fi.Size()
		return nil
	})
	return sizes, err
}

// walk calls fn for every object under prefix, in name order.
func (d *DirTarget) walk(ctx context.Context, prefix string, fn func(name string, e fs.DirEntry) error) error {
	root := filepath.Join(d.Root, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipAll
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			rel, err := filepath.Rel(d.Root, p)
			if err != nil {
				return err
			}
			return fn(filepath.ToSlash(rel), e)
		}
		return nil
	})
}

func (d *DirTarget) Delete(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dirty == nil {
		d.dirty = map[string]bool{}
	}
	d.dirty[filepath.Dir(p)] = true
	return nil
}

// CleanTemp removes the temporary files (".NAME.tmp*") an interrupted
// run left in the target, once they are an hour old.
func (d *DirTarget) CleanTemp() error {
	return filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), ".tmp") {
			return nil
		}
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < time.Hour {
			return nil // another box's write in flight, perhaps
		}
		return os.Remove(p)
	})
}
