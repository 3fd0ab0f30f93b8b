package backup

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"boxmail/internal/safefile"
)

// cache remembers, per body file, what it was cut into: body files never
// change once written, so a file of the same path, size and modification
// time whose chunks the target holds is not read again. It is local to
// the box (not backed up) and only ever an optimisation: a missing or
// bad cache means a run reads everything.
type cache struct {
	mu  sync.Mutex
	old map[string]cacheEntry
	new map[string]cacheEntry
}

type cacheEntry struct {
	Size    int64       `json:"size"`
	ModTime int64       `json:"mtime"`
	SHA256  string      `json:"sha256"`
	Chunks  []ChunkInfo `json:"chunks"`
}

const cacheFile = "cache.json"

func loadCache(dir string) *cache {
	c := &cache{old: map[string]cacheEntry{}, new: map[string]cacheEntry{}}
	data, err := os.ReadFile(filepath.Join(dir, StateDir, cacheFile))
	if err == nil && json.Unmarshal(data, &c.old) != nil {
		c.old = map[string]cacheEntry{}
	}
	return c
}

func (c *cache) get(rel string, fi fs.FileInfo) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.old[rel]
	return e, ok && e.Size == fi.Size() && e.ModTime == fi.ModTime().UnixNano()
}

func (c *cache) put(rel string, fi fs.FileInfo, f File) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.new[rel] = cacheEntry{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), SHA256: f.SHA256, Chunks: f.Chunks}
}

// save keeps the entries of this run's files only (removed bodies drop out).
func (c *cache) save(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := json.Marshal(c.new)
	if err != nil {
		return err
	}
	return safefile.Write(filepath.Join(dir, StateDir, cacheFile), data, 0o600)
}
