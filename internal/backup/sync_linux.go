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

// startWriteback asks the kernel to start writing f's dirty pages from
// off (n bytes; 0: to the end) to the disk now, without waiting for
// them: a restore calls it after each file, so the disk writes beside
// the decryption rather than all in the final syncAll (770 MB left
// dirty under the kernel's background threshold, written after the last
// file: bench/results/backup-2026-12-07.md). Only a hint: syncAll makes
// the files durable either way.
func startWriteback(f *os.File, off, n int64) error {
	c, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}); err != nil {
		return err
	}
	return serr
}
