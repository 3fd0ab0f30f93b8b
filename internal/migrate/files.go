package migrate

// Reading a tree of files that someone else made: a Maildir or a
// directory of mbox files handed to the admin as "my old mail" may be
// crafted to point at the box's own secrets (cur/1:2,S -> the TLS key).
//
// The rules:
//   - the directory (or mbox file) the admin names may be a symbolic
//     link: the admin chose it;
//   - everything found below it is read through an os.Root opened at
//     it, so no name, link or rename made meanwhile reaches outside;
//   - within it no symbolic link is ever followed: each directory and
//     file is checked with Lstat before it is opened (O_NOFOLLOW) and
//     compared with what was opened (same device and inode) after;
//   - only directories and regular files are opened; a FIFO is never
//     opened (opening one waits for a writer), nor a device or socket,
//     and a file is opened O_NONBLOCK so that one swapped in meanwhile
//     cannot make the open wait either;
//   - every entry left out for these reasons is counted and named in
//     the report (Report.Ignored).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// Ignored is an entry of a file source that was not read.
type Ignored struct {
	Path   string `json:"path"`   // relative to the directory the admin named
	Reason string `json:"reason"` // "a symbolic link", "a FIFO", ...
}

// IgnoringSource is a Source that leaves entries out (links, FIFOs,
// devices); Import puts them into the report.
type IgnoringSource interface {
	// Ignored returns the first entries left out and how many in all.
	Ignored() (list []Ignored, total int)
}

// maxIgnoredListed bounds the entries a report names; all are counted.
const maxIgnoredListed = 100

// errNotRegular is an entry that is neither a directory nor a regular
// file where one was wanted, or that changed between look and open.
type errNotRegular struct{ reason string }

func (e errNotRegular) Error() string { return e.reason }

// kindOf says what a mode is, for a report.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link (never followed)"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDevice != 0 || m&fs.ModeCharDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "not a regular file"
}

// tree is a directory named by the admin, read under the rules above.
// Its methods may be called from several goroutines.
type tree struct {
	name string // as the admin named it, made absolute
	root *os.Root

	mu      sync.Mutex
	ignored []Ignored
	total   int
}

func openTree(name string) (*tree, error) {
	r, err := os.OpenRoot(name) // follows a link the admin named
	if err != nil {
		return nil, err
	}
	return &tree{name: name, root: r}, nil
}

func (t *tree) Close() error { return t.root.Close() }

// ignore records an entry left out.
func (t *tree) ignore(rel, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	if len(t.ignored) < maxIgnoredListed {
		t.ignored = append(t.ignored, Ignored{Path: rel, Reason: reason})
	}
}

// Ignored implements IgnoringSource.
func (t *tree) Ignored() ([]Ignored, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := slices.Clone(t.ignored)
	slices.SortFunc(l, func(a, b Ignored) int { return strings.Compare(a.Path, b.Path) })
	return l, t.total
}

// lstat describes rel without following a link in its last element.
func (t *tree) lstat(rel string) (fs.FileInfo, error) { return t.root.Lstat(rel) }

// open opens rel when it is what dir asks for (a directory or a regular
// file) and not a link, and is still the entry looked at when open.
func (t *tree) open(rel string, dir bool) (*os.File, error) {
	fi, err := t.root.Lstat(rel)
	if err != nil {
		return nil, err
	}
	flag := os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	if dir {
		flag |= syscall.O_DIRECTORY
		if !fi.IsDir() {
			return nil, errNotRegular{kindOf(fi.Mode())}
		}
	} else if !fi.Mode().IsRegular() {
		return nil, errNotRegular{kindOf(fi.Mode())}
	}
	f, err := t.root.OpenFile(rel, flag, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	if !os.SameFile(fi, st) || st.IsDir() != dir || (!dir && !st.Mode().IsRegular()) {
		return nil, errors.Join(errNotRegular{"changed while being read (replaced by a link?)"}, f.Close())
	}
	return f, nil
}

// openFile opens the regular file rel.
func (t *tree) openFile(rel string) (*os.File, error) { return t.open(rel, false) }

// readDir lists the directory rel; the entries' types are as Lstat
// sees them (a link is a link).
func (t *tree) readDir(rel string) ([]fs.DirEntry, error) {
	f, err := t.open(rel, true)
	if err != nil {
		return nil, err
	}
	ents, err := f.ReadDir(-1)
	return ents, errors.Join(err, f.Close())
}

// entries lists the directory rel and records each entry that is
// neither a directory nor a regular file as ignored; it returns the
// rest.
func (t *tree) entries(rel string) ([]fs.DirEntry, error) {
	ents, err := t.readDir(rel)
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		if !e.IsDir() && !e.Type().IsRegular() {
			t.ignore(path.Join(rel, e.Name()), kindOf(e.Type()))
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// openRegular opens a file the admin named (a link the admin made is
// followed): only a regular file, and a FIFO is refused without waiting
// for a writer.
func openRegular(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%s)", name, kindOf(st.Mode()))
	}
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return f, nil
}

// closeRead closes a file that was only read: closing it reports
// nothing that its reads did not.
func closeRead(f *os.File) { _ = f.Close() }

// maxDepth bounds how deep a file source looks for folders.
const maxDepth = 32

// errTooDeep is a directory below maxDepth levels: not read.
var errTooDeep = fmt.Errorf("more than %d levels deep: not read", maxDepth)

// unreadableFolder is the Folder a file source lists for what it could
// not read at rel (a directory it cannot list or look into, a file it
// cannot open), so that the import reports it and is not done instead of
// leaving its messages out in silence.
func unreadableFolder(name, rel string, err error) Folder {
	return Folder{Name: name, Err: fmt.Errorf("cannot read %s: %w", rel, err)}
}

// isNotRegular says err is an entry left out under the rules above.
func isNotRegular(err error) bool {
	var e errNotRegular
	return errors.As(err, &e)
}
