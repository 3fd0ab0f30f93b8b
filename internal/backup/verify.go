package backup

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"boxmail/internal/store"
)

// Snapshot is one snapshot as the target lists it.
type Snapshot struct {
	ID   string
	Time time.Time // from the ID
}

// List returns the snapshots of a target, oldest first.
func List(ctx context.Context, t Target) ([]Snapshot, error) {
	names, err := t.List(ctx, "snapshots/")
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", t, err)
	}
	var out []Snapshot
	for _, n := range names {
		id, ok := strings.CutSuffix(strings.TrimPrefix(n, "snapshots/"), ".manifest")
		if !ok {
			continue
		}
		s := Snapshot{ID: id}
		if t, _, ok := strings.Cut(id, "-"); ok {
			s.Time, _ = time.Parse(idTime, t) // zero when not ours
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ReadManifest fetches and decrypts the manifest of snapshot id ("" for
// the newest).
func ReadManifest(ctx context.Context, t Target, id string, ids []age.Identity) (Manifest, error) {
	var m Manifest
	if id == "" {
		snaps, err := List(ctx, t)
		if err != nil {
			return m, err
		}
		if len(snaps) == 0 {
			return m, fmt.Errorf("%s: %w", t, ErrNoSnapshot)
		}
		id = snaps[len(snaps)-1].ID
	}
	data, err := t.Get(ctx, manifestPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("%s: snapshot %s: %w", t, id, ErrNoSnapshot)
	}
	if err != nil {
		return m, fmt.Errorf("%s: %s: %w", t, manifestPath(id), err)
	}
	plain, err := open(data, ids)
	if err != nil {
		return m, fmt.Errorf("%s: %s: cannot decrypt (wrong identity, or the file was damaged): %w", t, manifestPath(id), err)
	}
	if err := json.Unmarshal(plain, &m); err != nil {
		return m, fmt.Errorf("%s: %s: %w", t, manifestPath(id), err)
	}
	if m.ID != id || m.Format != FormatVersion {
		return m, fmt.Errorf("%s: %s: holds snapshot %q of format %d, not %q of format %d", t, manifestPath(id), m.ID, m.Format, id, FormatVersion)
	}
	return m, nil
}

// VerifyOptions say how deep Verify looks.
type VerifyOptions struct {
	Target Target
	// NameKey (Settings.NameKey, hex) checks the .names files' MACs and,
	// with Full, that each object is named after its plaintext.
	NameKey string
	// Full downloads, decrypts and re-hashes every object with
	// Identities and checks each snapshot's database.
	Full       bool
	Identities []age.Identity
}

// VerifyResult counts what Verify checked.
type VerifyResult struct {
	Snapshots, Objects int
	Bytes              int64 // decrypted (Full)
}

// Verify checks every snapshot of the target: that each object it names
// is present, and with Full that each decrypts to the bytes its manifest
// says. The error names every bad snapshot and object.
func Verify(ctx context.Context, o VerifyOptions) (VerifyResult, error) {
	var res VerifyResult
	key, err := hex.DecodeString(o.NameKey)
	if err != nil {
		return res, fmt.Errorf("name key: %w", err)
	}
	snaps, err := List(ctx, o.Target)
	if err != nil {
		return res, err
	}
	if len(snaps) == 0 {
		return res, fmt.Errorf("%s: %w", o.Target, ErrNoSnapshot)
	}
	objs, err := o.Target.List(ctx, "objects/")
	if err != nil {
		return res, fmt.Errorf("listing %s: %w", o.Target, err)
	}
	have := map[string]bool{}
	for _, n := range objs {
		have[n[strings.LastIndexByte(n, '/')+1:]] = true
	}
	checked := map[string]bool{} // objects fully checked already
	var problems []error
	for _, s := range snaps {
		res.Snapshots++
		names, err := readNames(ctx, o.Target, s.ID, key)
		if err != nil {
			problems = append(problems, err)
		}
		for _, n := range names {
			if !have[n] {
				problems = append(problems, &ObjectError{Snapshot: s.ID, Object: n, Err: errors.New("missing")})
			}
		}
		if !o.Full {
			res.Objects += len(names)
			continue
		}
		n, b, errs := verifyFull(ctx, o, key, s.ID, names, checked)
		res.Objects += n
		res.Bytes += b
		problems = append(problems, errs...)
	}
	return res, errors.Join(problems...)
}

// readNames reads and checks a snapshot's .names file.
func readNames(ctx context.Context, t Target, id string, key []byte) ([]string, error) {
	data, err := t.Get(ctx, namesPath(id))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %s: %w", id, namesPath(id), err)
	}
	i := bytes.LastIndex(data, []byte("mac "))
	if i < 0 || (len(key) > 0 && !hmac.Equal(data[i:], []byte(macNames(key, data[:i])))) {
		return nil, fmt.Errorf("snapshot %s: %s: the object list was altered or cut short (its MAC does not match)", id, namesPath(id))
	}
	return strings.Fields(string(data[:i])), nil
}

// verifyFull decrypts and re-hashes the objects of one snapshot not yet
// checked, and checks its database copy.
func verifyFull(ctx context.Context, o VerifyOptions, key []byte, id string, names []string, checked map[string]bool) (int, int64, []error) {
	m, err := ReadManifest(ctx, o.Target, id, o.Identities)
	if err != nil {
		return 0, 0, []error{err}
	}
	var problems []error
	listed := map[string]bool{}
	for _, n := range names {
		listed[n] = true
	}
	var objects int
	var bytes int64
	for _, f := range m.Files {
		if f.Path == DatabasePath {
			if err := checkDatabase(ctx, o.Target, o.Identities, id, f); err != nil {
				problems = append(problems, err)
			}
		}
		for _, c := range f.Chunks {
			if !listed[c.Object] {
				problems = append(problems, &ObjectError{Snapshot: id, Path: f.Path, Object: c.Object, Err: errors.New("in the manifest but not in the .names list")})
			}
			if checked[c.Object] {
				continue
			}
			checked[c.Object] = true
			objects++
			bytes += c.Size
			plain, err := fetchChunk(ctx, o.Target, o.Identities, id, f.Path, c)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			if len(key) > 0 && (&sealer{nameKey: key}).name(sha256.Sum256(plain)) != c.Object {
				problems = append(problems, &ObjectError{Snapshot: id, Path: f.Path, Object: c.Object, Err: errors.New("content does not match its name")})
			}
		}
	}
	return objects, bytes, problems
}

// fetchChunk downloads, decrypts and checks one chunk.
func fetchChunk(ctx context.Context, t Target, ids []age.Identity, id, path string, c ChunkInfo) ([]byte, error) {
	data, err := t.Get(ctx, objectPath(c.Object))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &ObjectError{Snapshot: id, Path: path, Object: c.Object, Err: errors.New("missing")}
	}
	if err != nil {
		return nil, &ObjectError{Snapshot: id, Path: path, Object: c.Object, Err: err}
	}
	plain, err := open(data, ids)
	if err != nil {
		return nil, &ObjectError{Snapshot: id, Path: path, Object: c.Object, Err: fmt.Errorf("cannot decrypt (wrong identity, truncated or altered): %w", err)}
	}
	sum := sha256.Sum256(plain)
	if int64(len(plain)) != c.Size || hex.EncodeToString(sum[:]) != c.SHA256 {
		return nil, &ObjectError{Snapshot: id, Path: path, Object: c.Object, Err: fmt.Errorf("decrypts to %d bytes that are not the %d bytes the manifest names", len(plain), c.Size)}
	}
	return plain, nil
}

// checkDatabase rebuilds a snapshot's database in a temporary file and
// runs the store's integrity check on it.
func checkDatabase(ctx context.Context, t Target, ids []age.Identity, id string, f File) error {
	dir, err := os.MkdirTemp("", "boxmail-verify-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary copy; the OS cleans the temp dir
	p := filepath.Join(dir, DatabasePath)
	if err := writeFile(ctx, t, ids, id, f, p); err != nil {
		return err
	}
	if _, err := store.CheckSnapshot(ctx, p); err != nil {
		return fmt.Errorf("snapshot %s: database: %w", id, err)
	}
	return nil
}

// writeFile rebuilds file f of snapshot id at path p from its chunks,
// checking each and the whole. It does not fsync: Restore makes the
// whole tree durable at once (syncAll), and the other callers' copies
// are temporary.
func writeFile(ctx context.Context, t Target, ids []age.Identity, id string, f File, p string) error {
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := copyChunks(ctx, t, ids, id, f, out); err != nil {
		return errors.Join(err, out.Close())
	}
	mode := fs.FileMode(f.Mode) & 0o777
	if mode == 0 {
		mode = 0o600
	}
	if err := out.Chmod(mode); err != nil {
		return errors.Join(err, out.Close())
	}
	return out.Close()
}

// copyChunks writes file f of snapshot id to w from its chunks, checking
// each and, at the end, the whole: on an error w holds a partial file.
func copyChunks(ctx context.Context, t Target, ids []age.Identity, id string, f File, w io.Writer) error {
	h := sha256.New()
	var size int64
	for _, c := range f.Chunks {
		plain, err := fetchChunk(ctx, t, ids, id, f.Path, c)
		if err != nil {
			return err
		}
		if len(f.Chunks) > 1 {
			h.Write(plain)
		}
		size += int64(len(plain))
		if _, err := w.Write(plain); err != nil {
			return err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if len(f.Chunks) == 1 {
		sum = f.Chunks[0].SHA256 // checked by fetchChunk
	}
	if size != f.Size || sum != f.SHA256 {
		return fmt.Errorf("snapshot %s: %s: its chunks do not add up to the file the manifest names", id, f.Path)
	}
	return nil
}
