//go:build !linux

package backup

import "os"

// syncAll makes every file written under root durable: without
// syncfs(2), an fsync of each file and directory.
func syncAll(root string) error { return syncTree(root) }

// startWriteback is a hint where there is no sync_file_range(2): none.
func startWriteback(f *os.File, off, n int64) error { return nil }
