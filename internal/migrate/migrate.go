// Package migrate moves a user's mail from an old provider into the box
// without losing or doubling a message: the migration assistant of the
// seed document ("how to migrate your email to Mail-in-a-Box") as software.
//
// A Source (IMAP, POP3, an mbox file or directory, a Maildir) lists its
// folders; each folder lists its messages (key, size, flags, internal
// date) and fetches their bytes in batches. Import maps each old folder to
// a box mailbox (special-use first, then common names, then the old
// hierarchy), copies the messages byte for byte with their flags and
// internal date (imports bypass Sieve and never set \Recent), and checks
// the result before it reports a folder done.
//
// # Idempotence and resumption
//
// Every imported message is recorded in the store, in the same transaction
// as the message itself, under its source (the old folder, with its
// UIDVALIDITY for IMAP) and key (UID, file name, UIDL). A re-run skips
// recorded keys, so an import killed at any moment and run again copies
// each message exactly once. A message whose source key is new but whose
// content identity (Identity: Message-ID, key headers and body, not the
// trace headers a forward adds) the account already holds is recorded as
// "already present" and not copied: that covers the seed's
// forward-and-keep period, when the box holds a copy of each message that
// the old account also received, and a reset UIDVALIDITY on the old side.
// The box's copy gets the old side's flags and keywords added; if it is
// still in INBOX while the old side has it in a folder, it is moved there
// (boxids.go says which copies may move). A box copy that lacks a
// Message-ID or a Date still finds its forwarded copy, to which the old
// provider's MX added one (identity.go).
//
// # Verification
//
// After a folder is copied, its records are compared with the old side:
// every message not deleted there has a record, and every copied message
// is still in the box with the recorded size and SHA-256. Only then does
// the report call the folder verified.
package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"boxmail/internal/store"
)

// Folder is a folder on the old side.
type Folder struct {
	Name       string // decoded, "/" as hierarchy separator
	SpecialUse string // RFC 6154 attribute from the old server, `\Sent` ..., or ""
	NoSelect   bool   // holds no messages (only children)
	// Err is why a file source could not read this folder or the folders
	// below it (a directory it cannot list): Import reports it as the
	// folder's error, creates nothing for it and does not call the import
	// done.
	Err error
}

// MsgInfo is what a source knows of a message before fetching it.
type MsgInfo struct {
	Key          string // unique and stable within the folder's ID
	Size         int64  // as announced by the old side (0: unknown)
	Flags        store.Flags
	Keywords     []string
	InternalDate time.Time
	Deleted      bool // marked \Deleted on the old side: not copied
}

// Source is an old mailbox store. Open may be called from several
// goroutines at once (one per parallel connection).
type Source interface {
	// Name describes the source for reports; it never holds a password.
	Name() string
	Folders(ctx context.Context) ([]Folder, error)
	Open(ctx context.Context, f Folder) (FolderReader, error)
	Close() error
}

// FolderReader reads one folder.
type FolderReader interface {
	// ID names the folder's message keys in the store's records, e.g.
	// "imap://host/login/INBOX;UIDVALIDITY=7".
	ID() string
	List(ctx context.Context) ([]MsgInfo, error)
	// Fetch calls fn for each message of msgs that the old side returns,
	// in any order, with a reader over its bytes (CRLF line endings),
	// valid until fn returns. An error from fn is an error of that reader
	// (the old side failed mid-message). A message it does not return is
	// reported failed by Import; an error ends the batch.
	Fetch(ctx context.Context, msgs []MsgInfo, fn func(key string, r io.Reader) error) error
	Close() error
}

// Options of an import.
type Options struct {
	Store     *store.Store
	AccountID int64
	Logger    *slog.Logger
	// Folders limits the import to these old folder names (nil: all).
	Folders []string
	// Since skips messages whose internal date is before it (zero: all).
	Since time.Time
	// Map overrides the target of old folder names (old name → box name).
	Map map[string]string
	// Parallel is the number of folders imported at once, each over its
	// own connection (default 2).
	Parallel int
	// BatchCount and BatchBytes bound one FETCH and one store commit
	// (defaults 100 messages, 8 MiB).
	BatchCount int
	BatchBytes int64
	// Progress, when set, is called after each batch (serialised).
	Progress func(Progress)
	// NoTrain: the spam filter learns nothing from the import (spamseed.go).
	NoTrain bool
}

// Progress is a snapshot of a running import.
type Progress struct {
	Folder                    string
	FoldersDone, FoldersTotal int
	Messages, MessagesTotal   int // handled so far / known so far
	Bytes                     int64
	Elapsed                   time.Duration
}

// Failure is one message that could not be copied.
type Failure struct {
	Key    string
	Reason string
}

// FolderReport is the outcome of one old folder.
type FolderReport struct {
	Old        string    `json:"old"`
	New        string    `json:"new"`
	OnOldSide  int       `json:"on_old_side"`
	Copied     int       `json:"copied"`
	Present    int       `json:"already_present"` // imported before, or already in the box
	Moved      int       `json:"moved,omitempty"` // of Present: the box's copy was moved here from INBOX
	Skipped    int       `json:"skipped"`         // deleted on the old side, or before --since
	Failed     int       `json:"failed"`
	Bytes      int64     `json:"bytes"`
	Failures   []Failure `json:"failures,omitempty"`
	Error      string    `json:"error,omitempty"` // the folder could not be finished
	Verified   bool      `json:"verified"`
	SkipReason string    `json:"skip_reason,omitempty"` // the whole folder was not imported
}

// Report is the outcome of an import.
type Report struct {
	Source  string         `json:"source"`
	Folders []FolderReport `json:"folders"`
	Elapsed time.Duration  `json:"elapsed_ns"`
	// Ignored are entries of a file source that were not read (links,
	// FIFOs, devices: files.go), the first maxIgnoredListed of
	// IgnoredTotal.
	Ignored      []Ignored `json:"ignored,omitempty"`
	IgnoredTotal int       `json:"ignored_total,omitempty"`
}

// Totals sums the folder reports.
func (r *Report) Totals() FolderReport {
	var t FolderReport
	t.Verified = true
	for _, f := range r.Folders {
		t.OnOldSide += f.OnOldSide
		t.Copied += f.Copied
		t.Present += f.Present
		t.Moved += f.Moved
		t.Skipped += f.Skipped
		t.Failed += f.Failed
		t.Bytes += f.Bytes
		if f.Error != "" {
			t.Failed++ // count an unfinished folder as a failure
		}
		if !f.Verified && f.SkipReason == "" {
			t.Verified = false
		}
	}
	return t
}

// Done says every folder was copied and verified with no failure.
func (r *Report) Done() bool {
	t := r.Totals()
	return t.Failed == 0 && t.Verified
}

// Import copies src into the account. The error is for what stops the
// whole import (the old side cannot be listed, the store fails); a folder
// or message that fails is in the report.
func Import(ctx context.Context, opts Options, src Source) (*Report, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 2
	}
	if opts.BatchCount <= 0 {
		opts.BatchCount = 100
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 8 << 20
	}
	start := time.Now()
	folders, err := src.Folders(ctx)
	if err != nil {
		return nil, err
	}
	boxes, err := opts.Store.Mailboxes(ctx, opts.AccountID)
	if err != nil {
		return nil, err
	}
	im := &importer{opts: opts, src: src, start: start}
	rep := &Report{Source: src.Name()}
	// Group the folders by target so one worker owns each box mailbox and
	// its identity set.
	groups := map[string][]int{}
	var order []string
	for _, f := range folders {
		fr := FolderReport{Old: f.Name}
		if f.Err != nil {
			fr.Error = f.Err.Error()
			rep.Folders = append(rep.Folders, fr)
			continue
		}
		target, specialUse, skip := Target(f, boxes, opts.Map)
		fr.New = target
		switch {
		case skip != "":
			fr.SkipReason = skip
		case f.NoSelect:
			fr.SkipReason = "holds no messages"
		case len(opts.Folders) > 0 && !containsFold(opts.Folders, f.Name):
			fr.SkipReason = "not in --folders"
		}
		rep.Folders = append(rep.Folders, fr)
		if fr.SkipReason != "" {
			continue
		}
		im.specialUse.Store(target, specialUse)
		if _, ok := groups[target]; !ok {
			order = append(order, target)
		}
		groups[target] = append(groups[target], len(rep.Folders)-1)
	}
	im.foldersTotal = 0
	for _, g := range groups {
		im.foldersTotal += len(g)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	var fatalMu sync.Mutex
	var fatal error
	for range min(opts.Parallel, max(len(order), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for target := range work {
				for _, i := range groups[target] {
					fr := &rep.Folders[i]
					if err := im.folder(ctx, folders[i], fr); err != nil {
						fatalMu.Lock()
						if fatal == nil {
							fatal = err
						}
						fatalMu.Unlock()
					}
					im.folderDone()
				}
			}
		}()
	}
	for _, t := range order {
		if ctx.Err() != nil {
			break
		}
		work <- t
	}
	close(work)
	wg.Wait()
	rep.Elapsed = time.Since(start)
	if is, ok := src.(IgnoringSource); ok {
		rep.Ignored, rep.IgnoredTotal = is.Ignored()
	}
	if fatal == nil && ctx.Err() != nil {
		fatal = ctx.Err()
	}
	return rep, fatal
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) || strings.EqualFold(NormalizeOldName(x), NormalizeOldName(s)) {
			return true
		}
	}
	return false
}

type importer struct {
	opts       Options
	src        Source
	start      time.Time
	specialUse sync.Map // target → special-use

	mu                      sync.Mutex
	foldersDone, foldersTot int
	foldersTotal            int
	msgs, msgsTotal         int
	bytes                   int64
	current                 string

	idsMu sync.Mutex  // held while ids is built
	ids   *accountIDs // built by the first folder with something to copy
}

func (im *importer) progress(folder string, dMsgs, dTotal int, dBytes int64) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.msgs += dMsgs
	im.msgsTotal += dTotal
	im.bytes += dBytes
	if im.opts.Progress != nil {
		im.opts.Progress(Progress{Folder: folder, FoldersDone: im.foldersDone, FoldersTotal: im.foldersTotal,
			Messages: im.msgs, MessagesTotal: im.msgsTotal, Bytes: im.bytes, Elapsed: time.Since(im.start)})
	}
}

func (im *importer) folderDone() {
	im.mu.Lock()
	im.foldersDone++
	im.mu.Unlock()
}

// isFatal says an error is the store's (stop everything), not the old
// side's (stop this folder).
type storeError struct{ err error }

func (e storeError) Error() string { return "store: " + e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// folder imports one old folder; it returns only fatal (store) errors and
// records everything else in fr.
func (im *importer) folder(ctx context.Context, f Folder, fr *FolderReport) error {
	st, acc, log := im.opts.Store, im.opts.AccountID, im.opts.Logger.With("folder", f.Name)
	su, _ := im.specialUse.Load(fr.New)
	mb, err := st.EnsureMailbox(ctx, acc, fr.New, su.(string))
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			fr.Error = fmt.Sprintf("cannot create %q on the box: %v (use --map %q=NAME)", fr.New, err, f.Name)
			return nil
		}
		return storeError{err}
	}
	rd, err := im.src.Open(ctx, f)
	if err != nil {
		fr.Error = err.Error()
		return nil
	}
	defer func() {
		if err := rd.Close(); err != nil {
			log.Warn("closing the old folder", "err", err)
		}
	}()
	infos, err := rd.List(ctx)
	if err != nil {
		fr.Error = err.Error()
		return nil
	}
	fr.OnOldSide = len(infos)
	known, err := st.ImportedKeys(ctx, acc, rd.ID())
	if err != nil {
		return storeError{err}
	}
	var todo []int32 // indexes into infos, not copies
	for i, m := range infos {
		switch {
		case m.Deleted:
			fr.Skipped++
		case !im.opts.Since.IsZero() && !m.InternalDate.IsZero() && m.InternalDate.Before(im.opts.Since):
			fr.Skipped++
		case known[m.Key]:
			fr.Present++
		default:
			todo = append(todo, int32(i))
		}
	}
	im.progress(f.Name, fr.Present+fr.Skipped, len(infos), 0)
	log.Debug("folder listed", "messages", len(infos), "to copy", len(todo))
	if len(todo) > 0 {
		ids, err := im.identities(ctx)
		if err != nil {
			return storeError{err}
		}
		for len(todo) > 0 {
			if ctx.Err() != nil {
				fr.Error = "interrupted"
				return nil
			}
			var batch []MsgInfo
			size := int64(0)
			for len(todo) > 0 && len(batch) < im.opts.BatchCount && (len(batch) == 0 || size+infos[todo[0]].Size <= im.opts.BatchBytes) {
				size += infos[todo[0]].Size
				batch = append(batch, infos[todo[0]])
				todo = todo[1:]
			}
			if err := im.batch(ctx, rd, mb.ID, batch, ids, fr); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		fr.Error = "interrupted"
		return nil
	}
	if err := im.verify(ctx, rd.ID(), infos, fr); err != nil {
		return err
	}
	im.seed(ctx, rd.ID(), fr.New)
	return nil
}

// take reads one message from the old side into an import item: a small
// one into memory, a large one (by the size the old side announced)
// streamed into the store's file area with its identity computed on the
// way. A failure of the store is a storeError; any other error is r's.
func (im *importer) take(r io.Reader, m MsgInfo, source string, mailboxID int64, ids *accountIDs) (store.ImportItem, error) {
	it := store.ImportItem{Source: source, Key: m.Key, Flags: m.Flags, Keywords: m.Keywords, InternalDate: m.InternalDate}
	if it.InternalDate.IsZero() {
		it.InternalDate = time.Now()
	}
	var added func() []string
	st := im.opts.Store
	if min := st.FileBodyMin(); min >= 0 && m.Size >= min {
		bw, err := st.NewBodyWriter()
		if err != nil {
			return it, storeError{err}
		}
		iw := newIdentityWriter()
		src := &errReader{r: r}
		if _, err := io.Copy(io.MultiWriter(bw, iw), src); err != nil {
			bw.Abort()
			if src.err != nil {
				return it, src.err
			}
			return it, storeError{err}
		}
		sb, err := bw.Finish()
		if err != nil {
			return it, storeError{err}
		}
		id, variants, sum := iw.result()
		it.Identity, it.SHA256, it.Size, it.Body = id, sum, sb.Size(), sb
		added = func() []string { return variants }
	} else {
		data, err := io.ReadAll(r)
		if err != nil {
			return it, err
		}
		sum := sha256.Sum256(data)
		it.Identity, it.SHA256, it.Size, it.Data = Identity(data), hex.EncodeToString(sum[:]), int64(len(data)), data
		added = func() []string { return addedFieldIdentities(data) }
	}
	switch v, ref := ids.resolve(it.Identity, added, mailboxID); v {
	case foundHere, foundKept:
		it.Body.Discard()
		it.Present, it.Existing, it.Data, it.Body = true, ref, nil, nil
	case foundToMove:
		it.Move, it.Existing = true, ref // the bytes stay in case the copy is gone at the commit
	}
	return it, nil
}

// errReader remembers the error of the reader it wraps, so that a copy's
// failure can be told apart from its destination's.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// boxIdentity returns the identity of a message of the box and whether
// it lacks exactly one of Message-ID and Date (lacksOneAddedField),
// streaming a large body rather than reading it whole.
func (im *importer) boxIdentity(ctx context.Context, m store.Message) (string, bool, error) {
	st := im.opts.Store
	if min := st.FileBodyMin(); min < 0 || m.Size < min {
		b, err := st.Body(ctx, m.BodyID)
		if err != nil {
			return "", false, err
		}
		return Identity(b), lacksOneAddedField(b), nil
	}
	r, _, err := st.OpenBody(ctx, m.BodyID)
	if err != nil {
		return "", false, err
	}
	iw := newIdentityWriter()
	_, err = io.Copy(iw, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", false, err
	}
	id, _, _ := iw.result()
	return id, iw.lacksOne(), nil
}

func (im *importer) batch(ctx context.Context, rd FolderReader, mailboxID int64, batch []MsgInfo, ids *accountIDs, fr *FolderReport) error {
	byKey := make(map[string]MsgInfo, len(batch))
	for _, m := range batch {
		byKey[m.Key] = m
	}
	var items []store.ImportItem
	got := map[string]bool{}
	err := rd.Fetch(ctx, batch, func(key string, r io.Reader) error {
		m, ok := byKey[key]
		if !ok || got[key] {
			return nil
		}
		it, err := im.take(r, m, rd.ID(), mailboxID, ids)
		var se storeError
		if errors.As(err, &se) {
			got[key] = true
			fr.Failed++
			fr.Failures = append(fr.Failures, Failure{Key: key, Reason: "the box could not store it: " + se.err.Error()})
			return nil
		} else if err != nil {
			return err
		}
		got[key] = true
		items = append(items, it)
		return nil
	})
	var bytes int64
	for _, it := range items {
		bytes += it.Size
	}
	if len(items) > 0 {
		if err := im.store(ctx, mailboxID, items, fr); err != nil {
			for _, it := range items {
				it.Body.Discard()
			}
			return err
		}
	}
	fr.Bytes += bytes
	if err != nil {
		// The connection broke or the server refused the whole batch:
		// what arrived is stored; the rest fails with the reason.
		for _, m := range batch {
			if !got[m.Key] {
				fr.Failed++
				fr.Failures = append(fr.Failures, Failure{Key: m.Key, Reason: err.Error()})
			}
		}
		im.progress(fr.Old, len(batch), 0, bytes)
		return nil
	}
	for _, m := range batch {
		if !got[m.Key] {
			fr.Failed++
			fr.Failures = append(fr.Failures, Failure{Key: m.Key, Reason: "the old server did not return the message"})
		}
	}
	im.progress(fr.Old, len(batch), 0, bytes)
	return nil
}

// store writes items in one commit; when that fails, one by one, so a
// single bad message fails alone.
func (im *importer) store(ctx context.Context, mailboxID int64, items []store.ImportItem, fr *FolderReport) error {
	st := im.opts.Store
	count := func(out []store.ImportOutcome) {
		for _, o := range out {
			switch o {
			case store.ImportCopied:
				fr.Copied++
			case store.ImportMoved:
				fr.Moved++
				fr.Present++
			default:
				fr.Present++
			}
		}
	}
	out, err := st.ImportMessages(ctx, im.opts.AccountID, mailboxID, items)
	if err == nil {
		count(out)
		return nil
	}
	if errors.Is(err, store.ErrClosed) || ctx.Err() != nil {
		return storeError{err}
	}
	im.opts.Logger.Warn("import batch failed, storing one by one", "err", err)
	for _, it := range items {
		out, err := st.ImportMessages(ctx, im.opts.AccountID, mailboxID, []store.ImportItem{it})
		if err != nil {
			if errors.Is(err, store.ErrClosed) || ctx.Err() != nil {
				return storeError{err}
			}
			it.Body.Discard()
			fr.Failed++
			fr.Failures = append(fr.Failures, Failure{Key: it.Key, Reason: "the box could not store it: " + err.Error()})
			continue
		}
		count(out)
	}
	return nil
}

// verify checks the folder's records against the old side's list and the
// box's messages.
func (im *importer) verify(ctx context.Context, source string, infos []MsgInfo, fr *FolderReport) error {
	st := im.opts.Store
	failed := map[string]bool{}
	for _, f := range fr.Failures {
		failed[f.Key] = true
	}
	// The old side's messages that must have a record; the records are
	// read a page at a time, not all at once.
	want := make(map[string]struct{}, len(infos))
	for _, m := range infos {
		if m.Deleted || (!im.opts.Since.IsZero() && !m.InternalDate.IsZero() && m.InternalDate.Before(im.opts.Since)) || failed[m.Key] {
			continue
		}
		want[m.Key] = struct{}{}
	}
	ok := true
	fail := func(key, reason string) {
		fr.Failures = append(fr.Failures, Failure{Key: key, Reason: reason})
		ok = false
	}
	err := st.EachImportRecord(ctx, im.opts.AccountID, source, func(r store.ImportRecord) error {
		if _, w := want[r.Key]; !w {
			return nil
		}
		delete(want, r.Key)
		switch {
		case r.UID == 0:
			return nil // already present: nothing of ours to check
		case r.BodyID == 0:
			fail(r.Key, "imported earlier but no longer in the box (deleted there?)")
			return nil
		case r.StoredSize != r.Size:
			fail(r.Key, fmt.Sprintf("size in the box %d, fetched %d", r.StoredSize, r.Size))
			return nil
		}
		body, _, err := st.OpenBody(ctx, r.BodyID) // a large one is not read whole
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, body)
		if cerr := body.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if hex.EncodeToString(h.Sum(nil)) != r.SHA256 {
			fail(r.Key, "content in the box differs from what was fetched")
		}
		return nil
	})
	if err != nil {
		return storeError{err}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for k := range want {
			missing = append(missing, k)
		}
		sort.Strings(missing)
		fail(strings.Join(firstN(missing, 5), ","), fmt.Sprintf("%d messages of the old side have no record in the box", len(missing)))
	}
	fr.Verified = ok && fr.Failed == 0 && fr.Error == ""
	return nil
}

func firstN(l []string, n int) []string {
	if len(l) > n {
		return l[:n]
	}
	return l
}

// Run is Import recorded as an import run of the account (what
// 'boxmail migrate status' and the checklist read): the run is recorded
// even when interrupted, with what it did.
func Run(ctx context.Context, opts Options, src Source) (*Report, error) {
	runID, err := opts.Store.StartImportRun(ctx, opts.AccountID, src.Name())
	if err != nil {
		return nil, err
	}
	rep, err := Import(ctx, opts, src)
	if rep == nil {
		return nil, err
	}
	t := rep.Totals()
	js, jerr := json.Marshal(rep)
	ferr := opts.Store.FinishImportRun(context.WithoutCancel(ctx), store.ImportRun{ID: runID, Verified: rep.Done(), Copied: t.Copied,
		Present: t.Present, Skipped: t.Skipped, Failed: t.Failed, Report: string(js)})
	if err == nil {
		err = errors.Join(jerr, ferr)
	}
	return rep, err
}
