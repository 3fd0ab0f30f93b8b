package backup

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// syncAll makes every file written under root durable with one
// syncfs(2) of its file system: a restore writes thousands of files, and
// one flush of them all costs a fraction of an fsync each (the restore
// benchmark, bench/results/backup-2026-12-06.md).
func syncAll(root string) error {
	f, err := os.Open(root)
	if err != nil {
		return err
	}
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}
