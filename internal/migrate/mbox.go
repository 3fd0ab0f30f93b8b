package migrate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/store"
)

// MboxSource reads an mbox file (one folder) or a directory of them, as
// Thunderbird keeps them (Inbox, Sent, Work.sbd/Projects). Messages start
// at "From " lines; ">From " lines are unescaped (mboxrd: one ">" less);
// line endings become CRLF. Flags come from Status/X-Status and
// X-Mozilla-Status, the internal date from the "From " line.
//
// The file or directory the admin names may be a symbolic link; a
// directory is read under the rules of files.go (no link below it is
// followed, only regular files are read, what is left out is reported).
type MboxSource struct {
	name       string            // as the admin named it, made absolute
	tree       *tree             // a directory; nil for one file
	files      map[string]string // folder → file (relative to tree, or name)
	unreadable []Folder          // what could not be read (Folder.Err)
}

var _ IgnoringSource = (*MboxSource)(nil)

// NewMboxSource opens a file (imported into folder, default INBOX) or a
// directory of mbox files. A file or directory below the directory that
// cannot be read is listed by Folders with its error.
func NewMboxSource(name, folder string) (*MboxSource, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("mbox %s: %w", name, err)
	}
	s := &MboxSource{name: abs, files: map[string]string{}}
	if !st.IsDir() {
		f, err := openRegular(abs)
		if err != nil {
			return nil, fmt.Errorf("mbox: %w", err)
		}
		head := make([]byte, 5)
		k, rerr := io.ReadFull(f, head)
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			rerr = nil // shorter than "From ": empty, or not an mbox
		}
		if err := errors.Join(rerr, f.Close()); err != nil {
			return nil, fmt.Errorf("mbox: %w", err)
		}
		if k > 0 && string(head[:k]) != "From " {
			return nil, fmt.Errorf("%s is not an mbox file (its first line does not start with \"From \"); nothing was imported: give an mbox file or a folder of them with --mbox, or a Maildir with --maildir", name)
		}
		if folder == "" {
			folder = "INBOX"
		}
		s.files[NormalizeOldName(folder)] = abs
		return s, nil
	}
	if s.tree, err = openTree(abs); err != nil {
		return nil, fmt.Errorf("mbox %s: %w", name, err)
	}
	if err := s.walk(".", "", 0); err != nil {
		return nil, errors.Join(fmt.Errorf("mbox %s: %w", name, err), s.tree.Close())
	}
	if len(s.files) == 0 && len(s.unreadable) == 0 {
		return nil, errors.Join(fmt.Errorf("no mbox files in %s", name), s.tree.Close())
	}
	return s, nil
}

// walk adds the mbox files of dir (a folder each) and of its .sbd
// subdirectories (their children). It returns the error of listing dir
// itself; a subdirectory or file that cannot be read is recorded as
// unreadable.
func (s *MboxSource) walk(dir, prefix string, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	ents, err := s.tree.entries(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		p := path.Join(dir, n)
		if e.IsDir() {
			if base, ok := strings.CutSuffix(n, ".sbd"); ok {
				if err := s.walk(p, prefix+base+"/", depth+1); err != nil {
					s.unreadable = append(s.unreadable, unreadableFolder(NormalizeOldName(prefix+base+"/*"), p, err))
				}
			}
			continue
		}
		if strings.HasPrefix(n, ".") || strings.Contains(n, ".") && !strings.HasSuffix(n, ".mbox") {
			continue // index files (.msf, .dat, .json)
		}
		folder := NormalizeOldName(prefix + strings.TrimSuffix(n, ".mbox"))
		isMbox, err := s.looksLikeMbox(p)
		switch {
		case isNotRegular(err):
			s.tree.ignore(p, err.Error())
		case err != nil:
			s.unreadable = append(s.unreadable, unreadableFolder(folder, p, err))
		case isMbox:
			s.files[folder] = p
		}
	}
	return nil
}

// looksLikeMbox says whether the file p is empty or starts with "From ".
func (s *MboxSource) looksLikeMbox(p string) (bool, error) {
	f, err := s.tree.openFile(p)
	if err != nil {
		return false, err
	}
	head := make([]byte, 5)
	k, err := io.ReadFull(f, head)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil // shorter than "From ": empty, or not an mbox
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err == nil && (k == 0 || string(head[:k]) == "From "), err
}

// Name implements Source.
func (s *MboxSource) Name() string { return "mbox:" + s.name }

// Close implements Source.
func (s *MboxSource) Close() error {
	if s.tree == nil {
		return nil
	}
	return s.tree.Close()
}

// Ignored implements IgnoringSource.
func (s *MboxSource) Ignored() ([]Ignored, int) {
	if s.tree == nil {
		return nil, 0
	}
	return s.tree.Ignored()
}

// Folders implements Source.
func (s *MboxSource) Folders(ctx context.Context) ([]Folder, error) {
	return append(foldersOf(s.files), s.unreadable...), nil
}

// Open implements Source.
func (s *MboxSource) Open(ctx context.Context, f Folder) (FolderReader, error) {
	p, ok := s.files[f.Name]
	if !ok {
		return nil, fmt.Errorf("no folder %q in %s", f.Name, s.name)
	}
	var fh *os.File
	var err error
	full := p
	if s.tree == nil {
		fh, err = openRegular(p)
	} else {
		full = filepath.Join(s.name, p)
		fh, err = s.tree.openFile(p)
		if isNotRegular(err) {
			s.tree.ignore(p, err.Error())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mbox %s: %w", full, err)
	}
	return &mboxReader{path: full, f: fh, spans: map[string][2]int64{}}, nil
}

type mboxReader struct {
	path  string
	f     *os.File
	spans map[string][2]int64 // key → raw [start, end) after the From line
}

func (r *mboxReader) ID() string   { return "mbox:" + r.path }
func (r *mboxReader) Close() error { return r.f.Close() }

func (r *mboxReader) List(ctx context.Context) ([]MsgInfo, error) {
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var out []MsgInfo
	seen := map[string]int{}
	err := ScanMbox(r.f, func(m MboxMessage) error {
		sum := sha256.Sum256(m.Data)
		h := hex.EncodeToString(sum[:12])
		seen[h]++
		key := h + "#" + strconv.Itoa(seen[h])
		r.spans[key] = [2]int64{m.Start, m.End}
		out = append(out, MsgInfo{Key: key, Size: int64(len(m.Data)), Flags: m.Flags, Keywords: m.Keywords, InternalDate: m.Date, Deleted: m.Deleted})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mbox %s: %w", r.path, err)
	}
	return out, nil
}

func (r *mboxReader) Fetch(ctx context.Context, msgs []MsgInfo, fn func(key string, r io.Reader) error) error {
	for _, m := range msgs {
		sp, ok := r.spans[m.Key]
		if !ok {
			continue
		}
		if err := fn(m.Key, newLineFixer(io.NewSectionReader(r.f, sp[0], sp[1]-sp[0]), true)); err != nil {
			return fmt.Errorf("mbox %s: %w", r.path, err)
		}
	}
	return nil
}

// MboxMessage is one message of an mbox.
type MboxMessage struct {
	Start, End int64  // raw bytes after the "From " line, in the file
	Data       []byte // unescaped, CRLF line endings
	Date       time.Time
	Flags      store.Flags
	Keywords   []string
	Deleted    bool
}

// maxMboxLine bounds one line of an mbox (a base64 body without line
// breaks would otherwise be read whole as one line; it is read in pieces).
const maxMboxLine = 64 << 10

// ScanMbox calls fn for each message of an mbox, in order. The memory
// used is that of one message.
func ScanMbox(r io.Reader, fn func(MboxMessage) error) error {
	br := bufio.NewReaderSize(r, maxMboxLine)
	var off int64
	var cur *MboxMessage
	var raw bytes.Buffer
	atLineStart := true
	flush := func(end int64) error {
		if cur == nil {
			return nil
		}
		b := raw.Bytes()
		// The empty line before the next "From " belongs to the format.
		if bytes.HasSuffix(b, []byte("\n\n")) || bytes.HasSuffix(b, []byte("\r\n\r\n")) {
			if bytes.HasSuffix(b, []byte("\r\n")) {
				end -= 2
			} else {
				end--
			}
		}
		cur.End = end
		cur.Data = unescapeMbox(b[:end-cur.Start])
		cur.Flags, cur.Deleted = mboxFlags(cur.Data)
		cur.Keywords = mboxKeywords(cur.Data)
		err := fn(*cur)
		cur = nil
		raw.Reset()
		return err
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		if len(line) > 0 {
			startOfLine := atLineStart
			atLineStart = line[len(line)-1] == '\n'
			if startOfLine && bytes.HasPrefix(line, []byte("From ")) {
				if ferr := flush(off); ferr != nil {
					return ferr
				}
				cur = &MboxMessage{Start: off + int64(len(line)), Date: mboxDate(string(line))}
				if !atLineStart { // an overlong From line: skip the rest
					for !atLineStart {
						more, merr := br.ReadSlice('\n')
						off += int64(len(more))
						cur.Start += int64(len(more))
						if len(more) == 0 || merr != nil && !errors.Is(merr, bufio.ErrBufferFull) {
							break
						}
						atLineStart = more[len(more)-1] == '\n'
					}
					atLineStart = true
				}
			} else if cur != nil {
				raw.Write(line)
			} else if strings.TrimSpace(string(line)) != "" {
				return errors.New("not an mbox: the first line does not start with \"From \"")
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			return flush(off)
		}
		if err != nil {
			return err
		}
	}
}

// unescapeMbox removes one ">" from ">From " lines (any number of ">":
// mboxrd) and makes line endings CRLF (lineFixer).
func unescapeMbox(b []byte) []byte {
	out, _ := io.ReadAll(newLineFixer(bytes.NewReader(b), true))
	return out
}

// mboxDate parses the date of a "From sender date" line (asctime format).
func mboxDate(line string) time.Time {
	f := strings.Fields(strings.TrimSpace(line))
	if len(f) < 3 {
		return time.Time{}
	}
	rest := strings.Join(f[2:], " ")
	for _, layout := range []string{time.ANSIC, "Mon Jan _2 15:04:05 2006 -0700", "Mon Jan _2 15:04:05 MST 2006", "Mon Jan _2 15:04 2006"} {
		if t, err := time.Parse(layout, rest); err == nil {
			return t
		}
	}
	return time.Time{}
}

// mboxFlags reads Status, X-Status and X-Mozilla-Status.
func mboxFlags(msg []byte) (store.Flags, bool) {
	var f store.Flags
	deleted := false
	if strings.Contains(headerValue(msg, "Status"), "R") {
		f |= store.FlagSeen
	}
	xs := headerValue(msg, "X-Status")
	for _, c := range xs {
		switch c {
		case 'A':
			f |= store.FlagAnswered
		case 'F':
			f |= store.FlagFlagged
		case 'T':
			f |= store.FlagDraft
		case 'D':
			deleted = true
		}
	}
	if v := headerValue(msg, "X-Mozilla-Status"); v != "" {
		if n, err := strconv.ParseUint(v, 16, 16); err == nil {
			if n&0x1 != 0 {
				f |= store.FlagSeen
			}
			if n&0x2 != 0 {
				f |= store.FlagAnswered
			}
			if n&0x4 != 0 {
				f |= store.FlagFlagged
			}
			if n&0x8 != 0 {
				deleted = true
			}
		}
	}
	return f, deleted
}

// mboxKeywords reads the keywords of an mbox message from X-Keywords
// (Dovecot's and boxmail's export write it; space- or comma-separated).
// What is not an IMAP keyword (an atom, not a \system flag) is left out.
func mboxKeywords(msg []byte) []string {
	var out []string
	for _, k := range strings.FieldsFunc(headerValue(msg, "X-Keywords"), func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		if len(k) <= 64 && !strings.HasPrefix(k, "\\") && !strings.ContainsFunc(k, func(r rune) bool {
			return r <= ' ' || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r)
		}) && !slices.Contains(out, k) && len(out) < 100 {
			out = append(out, k)
		}
	}
	return out
}
