package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"boxmail/internal/store"
)

// Restoring one account, or one mailbox of it, into a live box
// ('boxmail restore --user EMAIL [--mailbox NAME] --dir LIVEDIR').
//
// The snapshot's database is decrypted into a temporary directory inside
// the box's backup/ directory (same disk, 0700, removed at the end; a
// backup run skips backup/) and opened as a store of its own, which
// migrates an older schema. What the live mailbox lacks is put back
// through the live store's writer (store.RestoreMailbox,
// store.RestoreMessages): a mailbox deleted since is made again (a new
// UIDVALIDITY, as any new mailbox); a message of the snapshot that the
// live mailbox no longer holds (same internal date, size and SHA-256:
// store.RestoreKey) is added under a new UID above UIDNEXT, with the
// flags, keywords and internal date it had in the snapshot (one marked
// \Deleted then comes back marked so, as it was). Messages
// still present keep their live flags, and nothing live is removed, so
// no mailbox that still exists goes back in time: its UIDVALIDITY stays
// (a client sees the restored messages as new ones, EXISTS). The running
// server's sessions see the writes through the change feed.
//
// Every chunk is checked against its hash as it is read; a body file is
// streamed from the target into the live store (never held whole). An
// error stops the restore: what was put back before it stays (it is
// whole messages, each batch one transaction), and the result says what.

// AccountRestoreOptions say what to put back where.
type AccountRestoreOptions struct {
	Target     Target
	Identities []age.Identity
	Snapshot   string       // "" for the newest
	Dir        string       // the live box's data directory
	Store      *store.Store // the live box's store
	User       string
	Mailbox    string // "" for every mailbox of the account
	Logger     *slog.Logger
}

// MailboxRestored tells what a restore did to one mailbox.
type MailboxRestored struct {
	Name       string
	Created    bool // it was gone and was made again
	InSnapshot int  // messages the snapshot holds
	Present    int  // of those, still in the live mailbox
	Added      int  // put back
}

// AccountRestoreResult tells what RestoreAccount did.
type AccountRestoreResult struct {
	Manifest  Manifest
	Mailboxes []MailboxRestored
}

// restoreBatch bounds the messages and inline bytes of one transaction.
const (
	restoreBatch      = 256
	restoreBatchBytes = 8 << 20
)

// RestoreAccount puts back into a live box the mailboxes and messages of
// one account (or one mailbox) that a snapshot holds and the box lacks.
func RestoreAccount(ctx context.Context, o AccountRestoreOptions) (res AccountRestoreResult, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	acc, err := o.Store.AccountByEmail(ctx, o.User)
	if errors.Is(err, store.ErrNotFound) {
		return res, fmt.Errorf("this box has no account %s: add it first ('boxmail user add'), or restore the whole box into a new directory", o.User)
	} else if err != nil {
		return res, err
	}
	m, err := ReadManifest(ctx, o.Target, o.Snapshot, o.Identities)
	if err != nil {
		return res, err
	}
	res.Manifest = m
	snap, cleanup, err := openSnapshotStore(ctx, o, m)
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := cleanup(); cerr != nil {
			o.Logger.Warn("removing the restore's temporary copy", "err", cerr)
		}
	}()
	boxes, err := snapshotMailboxes(ctx, snap, m.ID, o.User, o.Mailbox)
	if err != nil {
		return res, err
	}
	files := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		files[f.Path] = f
	}
	r := mailboxRestorer{o: o, m: m, files: files, snap: snap, account: acc.ID}
	for _, mb := range boxes {
		done, err := r.restore(ctx, mb)
		res.Mailboxes = append(res.Mailboxes, done)
		if err != nil {
			return res, fmt.Errorf("mailbox %s: %w", mb.Name, err)
		}
	}
	return res, nil
}

// openSnapshotStore rebuilds the snapshot's database in a temporary
// directory of the box and opens it as a store.
func openSnapshotStore(ctx context.Context, o AccountRestoreOptions, m Manifest) (*store.Store, func() error, error) {
	var dbf *File
	for i := range m.Files {
		if m.Files[i].Path == DatabasePath {
			dbf = &m.Files[i]
		}
	}
	if dbf == nil {
		return nil, nil, fmt.Errorf("snapshot %s holds no database", m.ID)
	}
	state := filepath.Join(o.Dir, StateDir)
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp(state, "restore-")
	if err != nil {
		return nil, nil, err
	}
	if err := writeFile(ctx, o.Target, o.Identities, m.ID, *dbf, filepath.Join(tmp, DatabasePath), nil); err != nil {
		return nil, nil, errors.Join(err, os.RemoveAll(tmp))
	}
	snap, err := store.Open(ctx, tmp, store.Options{Logger: o.Logger})
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("snapshot %s: opening its database: %w", m.ID, err), os.RemoveAll(tmp))
	}
	return snap, func() error { return errors.Join(snap.Close(), os.RemoveAll(tmp)) }, nil
}

// snapshotMailboxes returns the mailboxes of user in the snapshot's
// store: all, or the one called mailbox.
func snapshotMailboxes(ctx context.Context, snap *store.Store, id, user, mailbox string) ([]store.Mailbox, error) {
	acc, err := snap.AccountByEmail(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("snapshot %s holds no account %s", id, user)
	} else if err != nil {
		return nil, err
	}
	boxes, err := snap.Mailboxes(ctx, acc.ID)
	if err != nil || mailbox == "" {
		return boxes, err
	}
	want := store.NormalizeMailboxName(mailbox)
	var names []string
	for _, b := range boxes {
		if b.Name == want {
			return []store.Mailbox{b}, nil
		}
		names = append(names, b.Name)
	}
	return nil, fmt.Errorf("snapshot %s holds no mailbox %q of %s (it has: %s)", id, mailbox, user, strings.Join(names, ", "))
}

// mailboxRestorer puts mailboxes of one account back.
type mailboxRestorer struct {
	o       AccountRestoreOptions
	m       Manifest
	files   map[string]File
	snap    *store.Store
	account int64 // in the live box

	batch      []store.RestoreItem
	batchBytes int64
}

type dateSize struct{ date, size int64 }

func (r *mailboxRestorer) restore(ctx context.Context, mb store.Mailbox) (done MailboxRestored, err error) {
	done.Name = mb.Name
	msgs, err := r.snap.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		return done, err
	}
	done.InSnapshot = len(msgs)
	inFiles, err := r.snap.MessageBodyFiles(ctx, mb.ID)
	if err != nil {
		return done, err
	}
	live, created, err := r.o.Store.RestoreMailbox(ctx, r.account, mb.Name, mb.SpecialUse, mb.Subscribed)
	if err != nil {
		return done, err
	}
	done.Created = created
	present := map[store.RestoreKey]int{}
	candidates := map[dateSize]bool{} // pairs that may be present: hash those
	if !created {
		want := map[dateSize]bool{}
		for _, msg := range msgs {
			want[dateSize{msg.InternalDate.Unix(), msg.Size}] = true
		}
		if present, err = r.o.Store.RestoreKeys(ctx, live.ID, func(d, s int64) bool { return want[dateSize{d, s}] }); err != nil {
			return done, err
		}
		for k := range present {
			candidates[dateSize{k.InternalDate, k.Size}] = true
		}
	}
	defer r.discard()
	for _, msg := range msgs {
		it := store.RestoreItem{Flags: msg.Flags, Keywords: msg.Keywords, InternalDate: msg.InternalDate}
		key := store.RestoreKey{InternalDate: msg.InternalDate.Unix(), Size: msg.Size}
		name, inFile := inFiles[msg.UID]
		var f File
		if inFile {
			var ok bool
			if f, ok = r.files[store.BodiesDir+"/"+name]; !ok {
				return done, fmt.Errorf("snapshot %s: message UID %d: its body file %s is not in the manifest", r.m.ID, msg.UID, name)
			}
			if sum, err := hex.DecodeString(f.SHA256); err == nil {
				copy(key.SHA256[:], sum)
			}
		} else {
			if it.Data, err = r.snap.Body(ctx, msg.BodyID); err != nil {
				return done, fmt.Errorf("snapshot %s: message UID %d: %w", r.m.ID, msg.UID, err)
			}
			if candidates[dateSize{key.InternalDate, key.Size}] {
				key.SHA256 = sha256.Sum256(it.Data)
			}
		}
		if present[key] > 0 {
			present[key]--
			done.Present++
			continue
		}
		if inFile {
			if it.Body, err = r.spool(ctx, f); err != nil {
				return done, err
			}
		}
		r.batch = append(r.batch, it)
		r.batchBytes += int64(len(it.Data))
		if len(r.batch) >= restoreBatch || r.batchBytes >= restoreBatchBytes {
			if err := r.flush(ctx, live.ID, &done); err != nil {
				return done, err
			}
		}
	}
	return done, r.flush(ctx, live.ID, &done)
}

// spool streams a body file of the snapshot into the live store.
func (r *mailboxRestorer) spool(ctx context.Context, f File) (*store.SpooledBody, error) {
	w, err := r.o.Store.NewBodyWriter()
	if err != nil {
		return nil, err
	}
	if err := copyChunks(ctx, r.o.Target, r.o.Identities, r.m.ID, f, w, nil); err != nil {
		w.Abort()
		return nil, err
	}
	return w.Finish()
}

// flush stores the batch in one transaction.
func (r *mailboxRestorer) flush(ctx context.Context, mailboxID int64, done *MailboxRestored) error {
	if len(r.batch) == 0 {
		return nil
	}
	uids, err := r.o.Store.RestoreMessages(ctx, r.account, mailboxID, r.batch)
	r.batch, r.batchBytes = r.batch[:0], 0 // stored, or discarded by RestoreMessages
	if err != nil {
		return err
	}
	done.Added += len(uids)
	return nil
}

// discard drops the spooled bodies of a batch that was not stored.
func (r *mailboxRestorer) discard() {
	for _, it := range r.batch {
		it.Body.Discard()
	}
	r.batch, r.batchBytes = r.batch[:0], 0
}
