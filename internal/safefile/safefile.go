// Package safefile writes a file durably: a temporary file in the same
// directory, fsync, rename over the target, fsync of the directory. A
// crash leaves the old file or the new one, never half of either.
//
// It is for the few files boxmail keeps outside the store (the config,
// the TLS pair, the SRS key, the quickstart password); it is not a
// general file library, and it does not lock.
package safefile

import (
	"errors"
	"os"
	"path/filepath"
)

// Write writes data to path with mode perm durably, creating the
// directory (mode 0700) if needed.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			// The temp file is ours; after a failed write it is garbage.
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if err := writeSync(f, data, perm); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return errors.Join(err, d.Close())
	}
	return d.Close()
}

func writeSync(f *os.File, data []byte, perm os.FileMode) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	return f.Sync()
}
