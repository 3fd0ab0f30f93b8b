package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

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
	if err := restoreFiles(ctx, o, m, partial); err != nil {
		return res, err
	}
	for _, f := range m.Files {
		res.Files++
		res.Bytes += f.Size
	}
	if res.Info, err = checkRestored(ctx, partial); err != nil {
		return res, err
	}
	if err := syncAll(partial); err != nil {
		return res, err
	}
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

// restoreFiles writes every file of m under root, Workers at a time; the
// first error stops the rest.
func restoreFiles(ctx context.Context, o RestoreOptions, m Manifest, root string) error {
	n := o.Workers
	if n <= 0 {
		n = 8
	}
	var done atomic.Int64
	return parallel(ctx, len(m.Files), n, func() func(context.Context, int) error {
		return func(ctx context.Context, i int) error {
			err := restoreFile(ctx, o, m.ID, m.Files[i], root)
			if err == nil && o.Progress != nil {
				o.Progress(int(done.Add(1)), len(m.Files))
			}
			return err
		}
	})
}

func restoreFile(ctx context.Context, o RestoreOptions, id string, f File, root string) error {
	clean := filepath.Clean(filepath.FromSlash(f.Path))
	if filepath.IsAbs(clean) || clean == "." || strings.HasPrefix(clean, "..") {
		return fmt.Errorf("snapshot %s: refusing the path %q", id, f.Path)
	}
	p := filepath.Join(root, clean)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return writeFile(ctx, o.Target, o.Identities, id, f, p)
}

// checkRestored checks the database and that every body file it
// references is there with its size, then opens it as a store (which
// migrates an older schema).
func checkRestored(ctx context.Context, dir string) (store.SnapshotInfo, error) {
	// Every byte has been checked against the snapshot's hashes, and the
	// snapshot passed integrity_check when it was taken (and passes it
	// in verify --full): a quick_check of the pages is enough here.
	info, err := store.CheckSnapshot(ctx, filepath.Join(dir, DatabasePath), store.CheckQuick)
	if err != nil {
		return info, err
	}
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
