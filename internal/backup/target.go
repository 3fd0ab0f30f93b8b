package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"boxmail/internal/safefile"
)

// Target is where the objects and manifests go. Names are slash-separated
// paths ("objects/ab/ab12...", "snapshots/ID.manifest").
type Target interface {
	// Put stores data under name durably: once it returns, the name is
	// there whole; a failure or a crash leaves no partial object under it.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the bytes under name; a missing name is fs.ErrNotExist.
	Get(ctx context.Context, name string) ([]byte, error)
	Has(ctx context.Context, name string) (bool, error)
	// List returns the names under a prefix ("objects/"), sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, name string) error
	// String names the target for messages.
	String() string
}

// Open returns the target of a TARGET argument: a directory path. S3
// (s3://) is not built yet.
func Open(spec string) (Target, error) {
	switch {
	case spec == "":
		return nil, errors.New("no backup target")
	case strings.HasPrefix(spec, "s3://"):
		return nil, fmt.Errorf("%s: S3 targets are not supported yet; use a directory (another disk, a mounted share)", spec)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("%s: unknown target kind: want a directory path", spec)
	}
	abs, err := filepath.Abs(spec)
	if err != nil {
		return nil, err
	}
	return &DirTarget{Root: abs}, nil
}

// DirTarget is a Target in a local directory (another disk, a mounted
// share). Writes go through safefile: temp file, fsync, rename, fsync of
// the directory.
type DirTarget struct{ Root string }

var _ Target = (*DirTarget)(nil)

func (d *DirTarget) String() string { return d.Root }

func (d *DirTarget) path(name string) (string, error) {
	clean := filepath.ToSlash(filepath.Clean(name))
	if name == "" || clean != name || strings.HasPrefix(clean, "../") || filepath.IsAbs(name) {
		return "", fmt.Errorf("bad object name %q", name)
	}
	return filepath.Join(d.Root, filepath.FromSlash(name)), nil
}

func (d *DirTarget) Put(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return safefile.Write(p, data, 0o600)
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
	root := filepath.Join(d.Root, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	var names []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
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
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	return names, err
}

func (d *DirTarget) Delete(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	return os.Remove(p)
}

// CleanTemp removes the temporary files an interrupted run left in the
// target (safefile's ".NAME.tmp*").
func (d *DirTarget) CleanTemp() error {
	return filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp") {
			return os.Remove(p)
		}
		return nil
	})
}
