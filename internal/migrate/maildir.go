package migrate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"boxmail/internal/store"
)

// MaildirSource reads a Maildir: a Dovecot or Mail-in-a-Box backup
// (Maildir++: the root's cur/new is INBOX, ".Sent", ".Work.2024" are
// Sent and Work/2024, names in modified UTF-7) or a tree of Maildirs
// (Work/2024/cur). Flags come from the file names (":2,FRS"), keywords
// from Dovecot's dovecot-keywords, the internal date from the file's
// modification time, as Dovecot does.
//
// The directory is read under the rules of files.go: a symbolic link
// below it (a message, cur/ or new/, a folder) is never followed, only
// regular files are read, and what is left out is reported.
type MaildirSource struct {
	tree       *tree
	dirs       map[string]string // folder → directory, relative to the tree
	unreadable []Folder          // what could not be read (Folder.Err)
}

var _ IgnoringSource = (*MaildirSource)(nil)

// NewMaildirSource checks that dir is a Maildir. A folder below it that
// cannot be read is listed by Folders with its error.
func NewMaildirSource(dir string) (*MaildirSource, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	t, err := openTree(abs)
	if err != nil {
		return nil, fmt.Errorf("maildir %s: %w", dir, err)
	}
	s := &MaildirSource{tree: t, dirs: map[string]string{}}
	ok, _, err := s.isMaildir(".")
	if err == nil && ok {
		s.dirs["INBOX"] = "."
	}
	var ents []fs.DirEntry
	if err == nil {
		ents, err = t.entries(".")
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("maildir %s: %w", dir, err), t.Close())
	}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || n == "cur" || n == "new" || n == "tmp" {
			continue
		}
		if strings.HasPrefix(n, ".") && len(n) > 1 {
			s.addMaildirPP(n)
			continue
		}
		if err := s.walkFS(n, n, 0); err != nil {
			s.unreadable = append(s.unreadable, unreadableFolder(NormalizeOldName(n), n, err))
		}
	}
	if len(s.dirs) == 0 && len(s.unreadable) == 0 {
		return nil, errors.Join(fmt.Errorf("%s is not a Maildir (no cur/ and new/ in it or in its folders)", dir), t.Close())
	}
	return s, nil
}

// addMaildirPP adds the Maildir++ folder n (".Sent", ".Work.2024").
func (s *MaildirSource) addMaildirPP(n string) {
	var parts []string
	for _, l := range strings.Split(n[1:], ".") {
		parts = append(parts, strings.ReplaceAll(DecodeUTF7(l), "/", "_"))
	}
	name := NormalizeOldName(strings.Join(parts, "/"))
	ok, some, err := s.isMaildir(n)
	if err == nil && some {
		_, err = s.tree.entries(n) // reports links and special files in it
	}
	switch {
	case err != nil:
		s.unreadable = append(s.unreadable, unreadableFolder(name, n, err))
	case ok:
		s.dirs[name] = n
	}
}

// walkFS adds the folders of a tree of Maildirs at rel (Work/2024/cur).
// It returns the error of reading rel itself; a subdirectory that cannot
// be read is recorded as unreadable.
func (s *MaildirSource) walkFS(rel, name string, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	ok, _, err := s.isMaildir(rel)
	if err != nil {
		return err
	}
	if ok {
		s.dirs[NormalizeOldName(name)] = rel
	}
	ents, err := s.tree.entries(rel)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && e.Name() != "cur" && e.Name() != "new" && e.Name() != "tmp" && !strings.HasPrefix(e.Name(), ".") {
			sub, subName := path.Join(rel, e.Name()), name+"/"+e.Name()
			if err := s.walkFS(sub, subName, depth+1); err != nil {
				s.unreadable = append(s.unreadable, unreadableFolder(NormalizeOldName(subName), sub, err))
			}
		}
	}
	return nil
}

// isMaildir says whether rel has cur/ and new/ (ok), and whether it
// has either (some). One of them that is a link (or anything but a
// directory) is not read (the folder's scan reports it); the folder is
// a Maildir when the other is a real directory. An error is one of
// looking into rel (not a missing cur/ or new/).
func (s *MaildirSource) isMaildir(rel string) (ok, some bool, err error) {
	real, found := 0, 0
	for _, sub := range []string{"cur", "new"} {
		fi, err := s.tree.lstat(path.Join(rel, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return false, false, err
		}
		found++
		if fi.IsDir() {
			real++
		}
	}
	return found == 2 && real > 0, found > 0, nil
}

// Name implements Source.
func (s *MaildirSource) Name() string { return "maildir:" + s.tree.name }

// Close implements Source.
func (s *MaildirSource) Close() error { return s.tree.Close() }

// Ignored implements IgnoringSource.
func (s *MaildirSource) Ignored() ([]Ignored, int) { return s.tree.Ignored() }

// Folders implements Source.
func (s *MaildirSource) Folders(ctx context.Context) ([]Folder, error) {
	return append(foldersOf(s.dirs), s.unreadable...), nil
}

// Open implements Source.
func (s *MaildirSource) Open(ctx context.Context, f Folder) (FolderReader, error) {
	d, ok := s.dirs[f.Name]
	if !ok {
		return nil, fmt.Errorf("no folder %q in %s", f.Name, s.tree.name)
	}
	return &maildirReader{tree: s.tree, dir: d, files: map[string]string{}}, nil
}

type maildirReader struct {
	tree  *tree
	dir   string            // relative to the tree
	files map[string]string // key → file, relative to the tree
}

func (r *maildirReader) ID() string   { return "maildir:" + filepath.Join(r.tree.name, r.dir) }
func (r *maildirReader) Close() error { return nil }

// maxKeywordsFile bounds the dovecot-keywords read (26 short lines).
const maxKeywordsFile = 64 << 10

// keywords reads Dovecot's dovecot-keywords: "N name" lines, letter a+N.
func (r *maildirReader) keywords() map[byte]string {
	out := map[byte]string{}
	f, err := r.tree.openFile(path.Join(r.dir, "dovecot-keywords"))
	if err != nil {
		return out // a link or FIFO was reported when the folder was found
	}
	defer closeRead(f)
	sc := bufio.NewScanner(io.LimitReader(f, maxKeywordsFile))
	for sc.Scan() {
		n, name, ok := strings.Cut(sc.Text(), " ")
		i, err := strconv.Atoi(n)
		if ok && err == nil && i >= 0 && i < 26 && name != "" {
			out[byte('a'+i)] = name
		}
	}
	return out
}

func (r *maildirReader) List(ctx context.Context) ([]MsgInfo, error) {
	kws := r.keywords()
	var out []MsgInfo
	for _, sub := range []string{"cur", "new"} {
		d := path.Join(r.dir, sub)
		fi, err := r.tree.lstat(d)
		if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
			continue // missing, or a link: reported when the folder was found
		}
		var ents []fs.DirEntry
		if err == nil {
			ents, err = r.tree.entries(d)
		}
		if err != nil {
			return nil, fmt.Errorf("maildir %s: %w", filepath.Join(r.tree.name, d), err)
		}
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := path.Join(d, e.Name())
			fi, err := r.tree.lstat(p)
			if err != nil {
				continue // removed meanwhile
			}
			if !fi.Mode().IsRegular() {
				r.tree.ignore(p, kindOf(fi.Mode()))
				continue
			}
			m := parseMaildirName(e.Name(), kws)
			m.Size, m.InternalDate = fi.Size(), fi.ModTime()
			r.files[m.Key] = p
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// parseMaildirName reads a Maildir file name: the key before ":", the
// flags and keywords (letters of dovecot-keywords) after ":2,".
func parseMaildirName(name string, kws map[byte]string) MsgInfo {
	key, info, _ := strings.Cut(name, ":")
	m := MsgInfo{Key: key}
	fl, ok := strings.CutPrefix(info, "2,")
	if !ok {
		return m
	}
	for i := 0; i < len(fl); i++ {
		switch c := fl[i]; {
		case c == 'S':
			m.Flags |= store.FlagSeen
		case c == 'R':
			m.Flags |= store.FlagAnswered
		case c == 'F':
			m.Flags |= store.FlagFlagged
		case c == 'D':
			m.Flags |= store.FlagDraft
		case c == 'T':
			m.Deleted = true
		case c >= 'a' && c <= 'z':
			if k, ok := kws[c]; ok {
				m.Keywords = append(m.Keywords, k)
			}
		}
	}
	return m
}

func (r *maildirReader) Fetch(ctx context.Context, msgs []MsgInfo, fn func(key string, r io.Reader) error) error {
	for _, m := range msgs {
		p, ok := r.files[m.Key]
		if !ok {
			continue
		}
		f, err := r.tree.openFile(p)
		if err != nil {
			if isNotRegular(err) {
				r.tree.ignore(p, err.Error())
			}
			continue // reported as not returned
		}
		// Dovecot and most Maildir writers store LF line endings.
		err = fn(m.Key, newLineFixer(f, false))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// A file that cannot be read is this message's failure, not
			// the folder's: Import reports it as not returned.
			continue
		}
	}
	return nil
}

// DecodeUTF7 decodes a modified UTF-7 mailbox name (RFC 3501 5.1.3);
// malformed input is returned as it is.
func DecodeUTF7(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"
	var out []rune
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			out = append(out, rune(s[i]))
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return s
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			out = append(out, '&')
			continue
		}
		var bits, nbits uint32
		var units []uint16
		for k := 0; k < len(enc); k++ {
			v := strings.IndexByte(b64, enc[k])
			if v < 0 {
				return s
			}
			bits = bits<<6 | uint32(v)
			nbits += 6
			if nbits >= 16 {
				nbits -= 16
				units = append(units, uint16(bits>>nbits))
				bits &= 1<<nbits - 1
			}
		}
		for k := 0; k < len(units); k++ {
			u := rune(units[k])
			if u >= 0xd800 && u < 0xdc00 && k+1 < len(units) {
				u = (u-0xd800)<<10 + (rune(units[k+1]) - 0xdc00) + 0x10000
				k++
			}
			out = append(out, u)
		}
	}
	return string(out)
}
