package certs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"boxmail/internal/safefile"
)

// The files that decide which certificate a node serves, and so the
// TLSA records the box publishes, kept the same on every node of a box
// whose store several nodes share (issue 23): the pair in tls_cert and
// tls_key (the self-signed one init wrote, or one installed by hand)
// and a staged next pair with its state (NextDir: cert.pem, key.pem,
// next.json). The serving process of each node mirrors them through
// the store (names "boxmail-tls/..." of the cert_files table) every
// mirrorEvery:
//
//   - a name the store changed since this node last synced it is written
//     into the node's file (an empty value, a removal, removes it);
//   - else a file that differs from the store (installed, staged or
//     switched on this node, by its serving process or a command) is
//     stored; a file this node had synced and that is gone is stored as
//     removed.
//
// A node joining takes the store's pair: the first node to serve put its
// own there. The rest of the manager reads the files as before.

// mirrorEvery is how often a node's files and the store are compared.
const mirrorEvery = 5 * time.Second

// mirrorPrefix starts the store's names of the mirrored files.
const mirrorPrefix = "boxmail-tls/"

type mirror struct {
	st SharedStore

	mu   sync.Mutex
	at   time.Time            // the last sync
	seen map[string]time.Time // per name, the store's modified time as last synced
}

// mirrored are the files mirrored, by their name in the store, with
// their mode.
func (m *Manager) mirrored() map[string]struct {
	path string
	perm os.FileMode
} {
	type f = struct {
		path string
		perm os.FileMode
	}
	out := map[string]f{"pair/key.pem": {m.o.KeyFile, 0o600}, "pair/cert.pem": {m.o.CertFile, 0o644}}
	if m.o.NextDir != "" {
		out["next/key.pem"] = f{m.nextPath("key.pem"), 0o600}
		out["next/cert.pem"] = f{m.nextPath("cert.pem"), 0o644}
		out["next/next.json"] = f{m.nextPath("next.json"), 0o600}
	}
	return out
}

// syncShared mirrors the files when the store is shared and the last
// sync is mirrorEvery ago (force: now).
func (m *Manager) syncShared(force bool) {
	mr := m.mirror.Load()
	if mr == nil {
		return
	}
	mr.mu.Lock()
	defer mr.mu.Unlock()
	if !force && time.Since(mr.at) < mirrorEvery {
		return
	}
	mr.at = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	files := m.mirrored()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names) // next/ before pair/, next.json after its pair (a pair half-written loads not, and the last one is served meanwhile)
	for _, n := range names {
		if err := mr.sync(ctx, n, files[n].path, files[n].perm); err != nil && m.o.Logger != nil {
			m.o.Logger.Warn("keeping the TLS files the same on every node", "file", files[n].path, "err", err)
		}
	}
}

// sync mirrors one file.
func (mr *mirror) sync(ctx context.Context, name, path string, perm os.FileMode) error {
	key := mirrorPrefix + name
	sv, sm, sok, err := mr.st.CertFile(ctx, key)
	if err != nil {
		return err
	}
	lv, err := os.ReadFile(path)
	lok := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	storeChanged := sok && sm.After(mr.seen[name])
	removed := sok && len(sv) == 0
	switch {
	case lok && sok && bytes.Equal(lv, sv), !lok && (removed || !sok):
		// the same
	case storeChanged && removed:
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	case storeChanged:
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := safefile.Write(path, sv, perm); err != nil {
			return err
		}
	case lok:
		if err := mr.st.PutCertFile(ctx, key, lv); err != nil {
			return err
		}
	default: // synced before, gone here since: removed on this node
		if err := mr.st.PutCertFile(ctx, key, []byte{}); err != nil {
			return err
		}
	}
	if _, sm, _, err = mr.st.CertFile(ctx, key); err == nil {
		mr.seen[name] = sm
	}
	return err
}
