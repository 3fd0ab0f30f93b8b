package migrate

// Export: the way back out. An account's mail is written in the formats
// this package imports (MaildirSource, MboxSource), so that an export
// imported again finds every message already present, and so that other
// programs (Dovecot, mutt, Thunderbird, Python's mailbox) read it.
//
// Maildir (ExportMaildir): Maildir++ as Dovecot keeps it. The root's
// cur/new/tmp is INBOX; every other mailbox is a directory ".A.B" at the
// root for the box name "A/B", each level in modified UTF-7 (RFC 3501
// 5.1.3) with "." itself encoded ("&AC4-": the importer reads it back;
// Dovecot, for which "." is only the separator, lists such a folder but
// opens it only with its listescape plugin), holding an empty
// "maildirfolder" file. A message is cur/"IDATE.UuidVuidvalidity.boxmail:2,FLAGS"
// with the stored bytes unchanged (CRLF line endings, as IMAP serves
// them) and the internal date as its modification time. FLAGS are the
// Maildir info letters in ASCII order: D draft, F flagged, R answered, S
// seen, T deleted, then a letter a-z per keyword, named in the folder's
// dovecot-keywords file ("N name" lines, letter a+N); a folder with more
// than 26 keywords keeps the first 26 and the report names the rest.
//
// mbox (ExportMbox, ExportMboxZip): one mboxrd file per mailbox, the
// Thunderbird hierarchy the importer reads: "A/B" is A.sbd/B.mbox, A is
// A.mbox. A message starts with "From SENDER DATE" (the Return-Path
// address or MAILER-DAEMON; the internal date in UTC, asctime format),
// then the flags as fields before the message's own header: "Status: RO"
// (seen) or "Status: O", "X-Status:" with A answered, F flagged, T
// draft, D deleted (when any), "X-Keywords:" with the keywords
// space-separated (when any). They come first so that a reader taking
// the first Status field sees these and not a stale one inside the
// message. The message's lines follow with LF endings (a CR not before
// an LF stays), every line matching ">*From " gets one more ">" (mboxrd:
// reading removes one), and an empty line ends the message.
//
// Both read the box through the store's read API only (a running server
// keeps serving), a page of messages at a time, each body streamed:
// memory stays bounded whatever the account's size. A message expunged
// while the export runs is counted as vanished, not an error.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf16"

	"boxmail/internal/store"
)

// ExportOptions says what to export.
type ExportOptions struct {
	Store     *store.Store
	AccountID int64
	// MaxBytes ends the export with ErrExportTooLarge once the message
	// bytes read pass it (0: no limit).
	MaxBytes int64
	// Progress, when set, is told after each message how many message
	// bytes the export has read so far (the CLI's progress bar).
	Progress func(done int64)
}

// ErrExportTooLarge is the error of an export that passed MaxBytes.
var ErrExportTooLarge = errors.New("the mail is larger than the export limit")

// ExportFolder is what an export wrote of one mailbox.
type ExportFolder struct {
	Name     string `json:"name"` // the box's name
	Path     string `json:"path"` // relative to the export ("" for INBOX in a Maildir)
	Messages int    `json:"messages"`
	Bytes    int64  `json:"bytes"`
	// Vanished counts messages expunged while the export ran.
	Vanished int `json:"vanished,omitempty"`
	// KeywordsDropped are the keywords a Maildir folder had no letter
	// for (more than 26).
	KeywordsDropped []string `json:"keywords_dropped,omitempty"`
}

// ExportReport is what an export wrote.
type ExportReport struct {
	Folders []ExportFolder `json:"folders"`
}

// Totals sums the messages and bytes of every folder.
func (r *ExportReport) Totals() (messages int, bytes int64) {
	for _, f := range r.Folders {
		messages += f.Messages
		bytes += f.Bytes
	}
	return messages, bytes
}

// exportPage is how many UIDs one read of message rows spans.
const exportPage = 500

// exporter walks an account's mailboxes and messages.
type exporter struct {
	opts  ExportOptions
	total int64 // bytes read so far (MaxBytes)
}

// eachMessage calls fn for every message of mb in UID order with a
// reader over its stored bytes. A message expunged meanwhile is counted
// in fr.Vanished.
func (x *exporter) eachMessage(ctx context.Context, mb store.Mailbox, fr *ExportFolder, fn func(store.Message, io.Reader) error) error {
	st := x.opts.Store
	for first := uint64(1); first < uint64(mb.UIDNext); first += exportPage {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, err := st.Messages(ctx, mb.ID, uint32(first), uint32(min(first+exportPage-1, 1<<32-1)))
		if err != nil {
			return fmt.Errorf("mailbox %s: %w", mb.Name, err)
		}
		for _, m := range msgs {
			if err := x.oneMessage(ctx, m, fr, fn); err != nil {
				return fmt.Errorf("mailbox %s uid %d: %w", mb.Name, m.UID, err)
			}
		}
	}
	return nil
}

func (x *exporter) oneMessage(ctx context.Context, m store.Message, fr *ExportFolder, fn func(store.Message, io.Reader) error) error {
	x.total += m.Size
	if x.opts.MaxBytes > 0 && x.total > x.opts.MaxBytes {
		return ErrExportTooLarge
	}
	if x.opts.Progress != nil {
		x.opts.Progress(x.total)
	}
	r, _, err := x.opts.Store.OpenBody(ctx, m.BodyID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		fr.Vanished++ // expunged since the page was read
		return nil
	} else if err != nil {
		return err
	}
	cr := &countReader{r: r}
	err = fn(m, cr)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fr.Messages++
	fr.Bytes += cr.n
	return nil
}

// countReader counts what is read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// mailboxes lists the account's mailboxes, INBOX first, then by name.
func (x *exporter) mailboxes(ctx context.Context) ([]store.Mailbox, error) {
	mbs, err := x.opts.Store.Mailboxes(ctx, x.opts.AccountID)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(mbs, func(i, j int) bool {
		if (mbs[i].Name == "INBOX") != (mbs[j].Name == "INBOX") {
			return mbs[i].Name == "INBOX"
		}
		return mbs[i].Name < mbs[j].Name
	})
	return mbs, nil
}

// prepareTarget makes dir an empty directory to export into, refusing
// one that holds anything.
func prepareTarget(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory: export into a new or empty directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(1)
	if cerr := f.Close(); cerr != nil {
		return cerr
	}
	if len(names) > 0 {
		return fmt.Errorf("%s is not empty (it holds %s): export into a new or empty directory, so nothing there is overwritten or mixed in", dir, names[0])
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// ---- Maildir ----

// ExportMaildir writes the account's mail into dir (new or empty) as a
// Maildir++ tree.
func ExportMaildir(ctx context.Context, opts ExportOptions, dir string) (*ExportReport, error) {
	if err := prepareTarget(dir); err != nil {
		return nil, err
	}
	x := &exporter{opts: opts}
	mbs, err := x.mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	rep := &ExportReport{}
	for _, mb := range mbs {
		fr := ExportFolder{Name: mb.Name, Path: MaildirFolderDir(mb.Name)}
		err := x.maildirFolder(ctx, mb, filepath.Join(dir, filepath.FromSlash(fr.Path)), &fr)
		rep.Folders = append(rep.Folders, fr)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// MaildirFolderDir is the Maildir++ directory of a box mailbox, relative
// to the export's root: "" for INBOX, ".A.B" for "A/B".
func MaildirFolderDir(name string) string {
	if name == "INBOX" {
		return ""
	}
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = EncodeUTF7(l, ".")
	}
	return "." + strings.Join(levels, ".")
}

func (x *exporter) maildirFolder(ctx context.Context, mb store.Mailbox, dir string, fr *ExportFolder) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	if mb.Name != "INBOX" {
		if err := writeFile(filepath.Join(dir, "maildirfolder"), nil); err != nil {
			return err
		}
	}
	kws := &keywordLetters{letters: map[string]byte{}}
	err := x.eachMessage(ctx, mb, fr, func(m store.Message, r io.Reader) error {
		name := fmt.Sprintf("%d.U%dV%d.boxmail:2,%s", m.InternalDate.Unix(), m.UID, mb.UIDValidity, kws.info(m.Flags, m.Keywords))
		return writeMaildirMessage(dir, name, r, m.InternalDate)
	})
	if err != nil {
		return err
	}
	fr.KeywordsDropped = kws.dropped
	if len(kws.names) == 0 {
		return nil
	}
	var b strings.Builder
	for i, n := range kws.names {
		fmt.Fprintf(&b, "%d %s\n", i, n)
	}
	return writeFile(filepath.Join(dir, "dovecot-keywords"), []byte(b.String()))
}

// keywordLetters gives a folder's keywords their letters a-z, in the
// order they are first seen.
type keywordLetters struct {
	letters map[string]byte
	names   []string
	dropped []string
}

// info returns the Maildir info letters of flags and keywords, in ASCII
// order.
func (k *keywordLetters) info(f store.Flags, keywords []string) string {
	var out []byte
	for _, fl := range []struct {
		f store.Flags
		c byte
	}{{store.FlagDraft, 'D'}, {store.FlagFlagged, 'F'}, {store.FlagAnswered, 'R'}, {store.FlagSeen, 'S'}, {store.FlagDeleted, 'T'}} {
		if f&fl.f != 0 {
			out = append(out, fl.c)
		}
	}
	var letters []byte
	for _, kw := range keywords {
		c, ok := k.letters[kw]
		if !ok {
			if len(k.names) >= 26 {
				if !containsString(k.dropped, kw) {
					k.dropped = append(k.dropped, kw)
				}
				continue
			}
			c = byte('a' + len(k.names))
			k.letters[kw] = c
			k.names = append(k.names, kw)
		}
		letters = append(letters, c)
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
	return string(append(out, letters...))
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// writeMaildirMessage writes a message into tmp/ and moves it into cur/
// (so a reader never sees half a message), dated idate.
func writeMaildirMessage(dir, name string, r io.Reader, idate time.Time) error {
	key, _, _ := strings.Cut(name, ":")
	tmp := filepath.Join(dir, "tmp", key)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(tmp, idate, idate)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, "cur", name))
	}
	if err != nil {
		return errors.Join(err, removeIfThere(tmp))
	}
	return nil
}

func removeIfThere(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeFile creates a new file holding b.
func writeFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// EncodeUTF7 encodes a mailbox name level in modified UTF-7 (RFC 3501
// 5.1.3), DecodeUTF7's inverse; the characters of also are encoded too
// (a Maildir++ level encodes ".", its separator).
func EncodeUTF7(s, also string) string {
	enc := base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		units := utf16.Encode(run)
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteString("&" + enc.EncodeToString(raw) + "-")
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e && !strings.ContainsRune(also, r):
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// ---- mbox ----

// MboxFile is the mbox file of a box mailbox, relative to the export's
// root, "/"-separated: "A.sbd/B.mbox" for "A/B".
func MboxFile(name string) string {
	levels := strings.Split(name, "/")
	for i := range levels[:len(levels)-1] {
		levels[i] += ".sbd"
	}
	levels[len(levels)-1] += ".mbox"
	return path.Join(levels...)
}

// ExportMbox writes the account's mail into dir (new or empty) as a
// directory of mbox files.
func ExportMbox(ctx context.Context, opts ExportOptions, dir string) (*ExportReport, error) {
	if err := prepareTarget(dir); err != nil {
		return nil, err
	}
	return exportMbox(ctx, opts, func(rel string, _ store.Mailbox) (io.Writer, func() error, error) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, nil, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, nil, err
		}
		bw := bufio.NewWriterSize(f, 64<<10)
		return bw, func() error { return errors.Join(bw.Flush(), f.Close()) }, nil
	})
}

// ExportMboxZip writes the account's mail to w as a zip file of mbox
// files (the layout of ExportMbox), streaming: nothing is held but the
// message being written.
func ExportMboxZip(ctx context.Context, opts ExportOptions, w io.Writer) (*ExportReport, error) {
	zw := zip.NewWriter(w)
	now := time.Now()
	rep, err := exportMbox(ctx, opts, func(rel string, _ store.Mailbox) (io.Writer, func() error, error) {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: rel, Method: zip.Deflate, Modified: now})
		return fw, func() error { return nil }, err
	})
	if err != nil {
		return rep, err // no central directory: the partial zip does not open as complete
	}
	return rep, zw.Close()
}

// mboxOpener opens the file of one mailbox; done finishes it.
type mboxOpener func(rel string, mb store.Mailbox) (w io.Writer, done func() error, err error)

func exportMbox(ctx context.Context, opts ExportOptions, open mboxOpener) (*ExportReport, error) {
	x := &exporter{opts: opts}
	mbs, err := x.mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	rep := &ExportReport{}
	for _, mb := range mbs {
		fr := ExportFolder{Name: mb.Name, Path: MboxFile(mb.Name)}
		w, done, err := open(fr.Path, mb)
		if err == nil {
			err = x.eachMessage(ctx, mb, &fr, func(m store.Message, r io.Reader) error {
				return WriteMboxMessage(w, m.Flags, m.Keywords, m.InternalDate, r)
			})
			err = errors.Join(err, done())
		}
		rep.Folders = append(rep.Folders, fr)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// mboxLine bounds the piece of a line the mbox writer handles at once.
const mboxLine = 64 << 10

// WriteMboxMessage writes one message to an mboxrd file: the From line,
// the flag fields, the message (LF endings, ">From " quoted) and the
// empty line that ends it.
func WriteMboxMessage(w io.Writer, flags store.Flags, keywords []string, idate time.Time, msg io.Reader) error {
	br := bufio.NewReaderSize(msg, mboxLine)
	head, err := br.Peek(mboxLine)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return err
	}
	var pre bytes.Buffer
	fmt.Fprintf(&pre, "From %s %s\n", mboxSender(head), idate.UTC().Format(time.ANSIC))
	pre.WriteString(MboxFlagFields(flags, keywords))
	if _, err := w.Write(pre.Bytes()); err != nil {
		return err
	}
	if err := copyMboxQuoted(w, br); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// mboxSender is the address of the Return-Path field of a message's
// head, or MAILER-DAEMON.
func mboxSender(head []byte) string {
	v := headerValue(head, "Return-Path")
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	if v == "" || strings.ContainsAny(v, " \t\r\n<>") {
		return "MAILER-DAEMON"
	}
	return v
}

// MboxFlagFields are the Status, X-Status and X-Keywords fields of
// flags and keywords, LF-terminated.
func MboxFlagFields(f store.Flags, keywords []string) string {
	var b strings.Builder
	if f&store.FlagSeen != 0 {
		b.WriteString("Status: RO\n")
	} else {
		b.WriteString("Status: O\n")
	}
	var xs []byte
	for _, fl := range []struct {
		f store.Flags
		c byte
	}{{store.FlagAnswered, 'A'}, {store.FlagFlagged, 'F'}, {store.FlagDraft, 'T'}, {store.FlagDeleted, 'D'}} {
		if f&fl.f != 0 {
			xs = append(xs, fl.c)
		}
	}
	if len(xs) > 0 {
		b.WriteString("X-Status: " + string(xs) + "\n")
	}
	if len(keywords) > 0 {
		b.WriteString("X-Keywords: " + strings.Join(keywords, " ") + "\n")
	}
	return b.String()
}

// copyMboxQuoted copies a message into an mbox: CRLF becomes LF, a line
// matching ">*From " gets one more ">", and the last line ends in LF.
// It reads a piece of a line at a time.
func copyMboxQuoted(w io.Writer, br *bufio.Reader) error {
	atStart, endsNL, pendingCR := true, true, false
	for {
		piece, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		if len(piece) > 0 {
			if pendingCR && piece[0] != '\n' {
				if _, werr := w.Write([]byte{'\r'}); werr != nil {
					return werr
				}
			}
			pendingCR = false
			out := piece
			nl := out[len(out)-1] == '\n'
			if nl {
				out = bytes.TrimSuffix(out[:len(out)-1], []byte("\r"))
			} else if out[len(out)-1] == '\r' {
				out, pendingCR = out[:len(out)-1], true
			}
			if atStart && bytes.HasPrefix(bytes.TrimLeft(out, ">"), []byte("From ")) {
				if _, werr := w.Write([]byte{'>'}); werr != nil {
					return werr
				}
			}
			if _, werr := w.Write(out); werr != nil {
				return werr
			}
			if nl {
				if _, werr := w.Write([]byte{'\n'}); werr != nil {
					return werr
				}
			}
			atStart, endsNL = nl, nl
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if pendingCR {
		endsNL = false // a CR at the very end: dropped, as the importer does
	}
	if !endsNL {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}
