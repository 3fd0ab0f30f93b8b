//go:build !linux

package backup

// syncAll makes every file written under root durable: without
// syncfs(2), an fsync of each file and directory.
func syncAll(root string) error { return syncTree(root) }
