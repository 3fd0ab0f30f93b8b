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
	"strconv"
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
	// Read downloads every object and manifest and checks each is an age
	// file of the right shape: the deepest check without the identity.
	Read bool
}

// VerifyResult counts what Verify checked.
type VerifyResult struct {
	Snapshots, Objects int
	Bytes              int64 // read back (Read) or decrypted (Full)
}

// Kind names how deep a verify with these options looks: "presence",
// "read" or "full".
func (o VerifyOptions) Kind() string {
	switch {
	case o.Full:
		return "full"
	case o.Read:
		return "read"
	}
	return "presence"
}

// Verify checks every snapshot of the target: that each object it names
// is present with the size it was stored with; with Read that each
// object and manifest reads back whole as an age file of the right
// shape; with Full that each decrypts to the bytes its manifest says.
// The error names every bad snapshot and object.
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
	have, err := listObjects(ctx, o.Target)
	if err != nil {
		return res, err
	}
	checked := map[string]bool{} // objects read or decrypted already
	var problems []error
	for _, s := range snaps {
		res.Snapshots++
		names, err := readNames(ctx, o.Target, s.ID, key)
		if err != nil {
			problems = append(problems, err)
		}
		for _, n := range sortedNames(names) {
			got, ok := have[n]
			switch {
			case !ok:
				problems = append(problems, &ObjectError{Snapshot: s.ID, Object: n, Err: errors.New("missing")})
			case got >= 0 && names[n] >= 0 && got != names[n]:
				problems = append(problems, &ObjectError{Snapshot: s.ID, Object: n,
					Err: fmt.Errorf("holds %d bytes, but was stored with %d (cut short or replaced)", got, names[n])})
			}
		}
		var n int
		var b int64
		var errs []error
		switch {
		case o.Full:
			n, b, errs = verifyFull(ctx, o, key, s.ID, names, checked)
		case o.Read:
			n, b, errs = verifyRead(ctx, o.Target, s.ID, names, checked)
		default:
			n = len(names)
		}
		res.Objects += n
		res.Bytes += b
		problems = append(problems, errs...)
	}
	return res, errors.Join(problems...)
}

func sortedNames(names map[string]int64) []string {
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// verifyRead reads back the manifest and the objects of one snapshot not
// yet read, and checks each is an age file of the right shape (what can
// be checked without the identity).
func verifyRead(ctx context.Context, t Target, id string, names map[string]int64, checked map[string]bool) (int, int64, []error) {
	var problems []error
	var objects int
	var bytes int64
	data, err := t.Get(ctx, manifestPath(id))
	if err == nil {
		err = checkAgeShape(data)
	}
	if err != nil {
		problems = append(problems, fmt.Errorf("snapshot %s: %s: %w", id, manifestPath(id), err))
	}
	for _, n := range sortedNames(names) {
		if checked[n] {
			continue
		}
		checked[n] = true
		objects++
		data, err := t.Get(ctx, objectPath(n))
		if err == nil {
			bytes += int64(len(data))
			err = checkAgeShape(data)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // missing: reported already
			problems = append(problems, &ObjectError{Snapshot: id, Object: n, Err: err})
		}
	}
	return objects, bytes, problems
}

// ageChunk is the size of a sealed piece of an age payload: 64 KiB of
// plaintext and a 16-byte tag.
const ageChunk = 64<<10 + 16

// checkAgeShape checks, without decrypting, that data is an age file
// whose payload length fits the format: the header and its MAC line,
// a 16-byte nonce, then sealed pieces of which only the last may be
// short, and an empty last one only when it is the only one. It catches
// a file cut short or padded anywhere but at a piece boundary (the
// recorded sizes catch that).
func checkAgeShape(data []byte) error {
	if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) {
		return errors.New("not an age file")
	}
	i := bytes.Index(data, []byte("\n--- "))
	if i < 0 {
		return errors.New("age header cut short")
	}
	j := bytes.IndexByte(data[i+1:], '\n')
	if j < 0 {
		return errors.New("age header cut short")
	}
	payload := len(data) - (i + 1 + j + 1) - 16 // after the nonce
	full, rest := payload/ageChunk, payload%ageChunk
	switch {
	case payload < 16:
		return errors.New("age payload cut short")
	case rest != 0 && rest < 16, rest == 16 && full > 0:
		return fmt.Errorf("age payload of %d bytes cannot be whole", payload)
	}
	return nil
}

// readNames reads and checks a snapshot's .names file: one object a
// line, its name and (since 2026-12-06) its stored size; -1 for a size
// not recorded.
func readNames(ctx context.Context, t Target, id string, key []byte) (map[string]int64, error) {
	data, err := t.Get(ctx, namesPath(id))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %s: %w", id, namesPath(id), err)
	}
	i := bytes.LastIndex(data, []byte("mac "))
	if i < 0 || (len(key) > 0 && !hmac.Equal(data[i:], []byte(macNames(key, data[:i])))) {
		return nil, fmt.Errorf("snapshot %s: %s: the object list was altered or cut short (its MAC does not match)", id, namesPath(id))
	}
	names := map[string]int64{}
	for line := range strings.Lines(string(data[:i])) {
		f := strings.Fields(line)
		switch {
		case len(f) == 1:
			names[f[0]] = -1
		case len(f) == 2:
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("snapshot %s: %s: bad line %q", id, namesPath(id), line)
			}
			names[f[0]] = size
		case len(f) > 2:
			return nil, fmt.Errorf("snapshot %s: %s: bad line %q", id, namesPath(id), line)
		}
	}
	return names, nil
}

// verifyFull decrypts and re-hashes the objects of one snapshot not yet
// checked, and checks its database copy.
func verifyFull(ctx context.Context, o VerifyOptions, key []byte, id string, listed map[string]int64, checked map[string]bool) (int, int64, []error) {
	m, err := ReadManifest(ctx, o.Target, id, o.Identities)
	if err != nil {
		return 0, 0, []error{err}
	}
	var problems []error
	var objects int
	var bytes int64
	for _, f := range m.Files {
		if f.Path == DatabasePath {
			if err := checkDatabase(ctx, o.Target, o.Identities, id, f); err != nil {
				problems = append(problems, err)
			}
		}
		for _, c := range f.Chunks {
			if _, ok := listed[c.Object]; !ok {
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
	return fetchChunkInto(ctx, nil, t, ids, id, path, c)
}

// fetchChunkInto is fetchChunk reading the object into b.sealed when the
// target can (getInto) and decrypting into b.plain (openInto); b nil:
// new buffers.
func fetchChunkInto(ctx context.Context, b *bufs, t Target, ids []age.Identity, id, path string, c ChunkInfo) ([]byte, error) {
	var dst []byte
	var data []byte
	var err error
	if gi, ok := t.(getIntoer); ok && b != nil {
		dst = b.plain
		data, err = gi.GetInto(ctx, objectPath(c.Object), b.sealed)
	} else {
		data, err = t.Get(ctx, objectPath(c.Object))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &ObjectError{Snapshot: id, Path: path, Object: c.Object, Err: errors.New("missing")}
	}
	if err != nil {
		return nil, &ObjectError{Snapshot: id, Path: path, Object: c.Object, Err: err}
	}
	plain, err := openInto(dst, data, ids)
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
	if err := writeFile(ctx, t, ids, id, f, p, nil); err != nil {
		return err
	}
	if _, err := store.CheckSnapshot(ctx, p, store.CheckIntegrity); err != nil {
		return fmt.Errorf("snapshot %s: database: %w", id, err)
	}
	return nil
}

// writeFile rebuilds file f of snapshot id at path p from its chunks,
// checking each and the whole. It does not fsync: Restore makes the
// whole tree durable at once (syncAll), and the other callers' copies
// are temporary.
// b, when not nil, are the worker's buffers.
func writeFile(ctx context.Context, t Target, ids []age.Identity, id string, f File, p string, b *bufs) error {
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := copyChunks(ctx, t, ids, id, f, out, b); err != nil {
		return errors.Join(err, out.Close())
	}
	if err := out.Chmod(fileMode(f)); err != nil {
		return errors.Join(err, out.Close())
	}
	return out.Close()
}

// copyChunks writes file f of snapshot id to w from its chunks, checking
// each and, at the end, the whole: on an error w holds a partial file.
func copyChunks(ctx context.Context, t Target, ids []age.Identity, id string, f File, w io.Writer, b *bufs) error {
	h := sha256.New()
	var size int64
	if b == nil && len(f.Chunks) > 1 {
		b = newBufs() // one pair for every chunk of the file
	}
	for _, c := range f.Chunks {
		plain, err := fetchChunkInto(ctx, b, t, ids, id, f.Path, c)
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
