package migrate

// ExportIMAP: the import in reverse. Every mailbox of a box account is
// copied to another IMAP server with APPEND (flags, keywords, internal
// date), creating the folders it lacks, so a family can roll back to
// their old provider.
//
// Idempotence and resumption follow the importer's identity rule: before
// a folder is copied, the content identity (Identity) of the messages
// already in the remote folder is computed, and a box message whose
// identity is among them is counted already present, not appended. Only
// the identity header fields of every remote message are fetched; the
// remote messages whose fields are those of a box message are then read
// whole (streamed, BODY.PEEK: nothing there changes). A push killed at
// any moment and run again appends each message exactly once: an APPEND
// cut short is not stored by the server. Two identical messages in one
// box mailbox are pushed once, as the importer keeps one. Messages marked
// \Deleted in the box are skipped, as the importer skips them.
//
// Folder mapping, the importer's Target reversed: INBOX is INBOX; a box
// mailbox with a special use (\Sent ...) goes to the remote folder with
// that SPECIAL-USE attribute, else to one with a common name for it
// ("Sent Items"), else to its own name; any other goes to its own name,
// levels joined with the server's hierarchy delimiter (a delimiter inside
// a level becomes "_").

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/store"
)

// IMAPExportOptions say what to copy where.
type IMAPExportOptions struct {
	ExportOptions
	IMAP   IMAPOptions
	Logger *slog.Logger
}

// PushedFolder is the outcome of one box mailbox.
type PushedFolder struct {
	Name     string `json:"name"`   // in the box
	Remote   string `json:"remote"` // on the remote server (its wire name)
	OnBox    int    `json:"on_box"`
	Appended int    `json:"appended"`
	Present  int    `json:"already_present"`
	Skipped  int    `json:"skipped"` // marked \Deleted in the box
	Failed   int    `json:"failed"`
	Bytes    int64  `json:"bytes"`           // appended
	Error    string `json:"error,omitempty"` // the folder could not be finished
}

// PushReport is the outcome of an ExportIMAP.
type PushReport struct {
	Target  string         `json:"target"`
	Folders []PushedFolder `json:"folders"`
}

// Totals sums the folder reports (a folder with an error counts as a
// failure).
func (r *PushReport) Totals() PushedFolder {
	var t PushedFolder
	for _, f := range r.Folders {
		t.OnBox += f.OnBox
		t.Appended += f.Appended
		t.Present += f.Present
		t.Skipped += f.Skipped
		t.Failed += f.Failed
		t.Bytes += f.Bytes
		if f.Error != "" {
			t.Failed++
		}
	}
	return t
}

// Done says every message is on the remote side.
func (r *PushReport) Done() bool { return r.Totals().Failed == 0 }

// ExportIMAP copies the account's mail to the IMAP server of opts.IMAP.
// The error is for what stops the whole copy (login, the connection);
// a message or folder that fails is in the report.
func ExportIMAP(ctx context.Context, opts IMAPExportOptions) (*PushReport, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	src, err := NewIMAPSource(ctx, opts.IMAP)
	if err != nil {
		return nil, err
	}
	defer func() { _ = src.Close() }() // logs out; every APPEND has been answered by then
	remote, err := src.Folders(ctx)
	if err != nil {
		return nil, err
	}
	c, err := src.get()
	if err != nil {
		return nil, err
	}
	defer src.put(c)
	delim := remoteDelim(c)
	x := &exporter{opts: opts.ExportOptions}
	mbs, err := x.mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	rep := &PushReport{Target: src.Name()}
	p := &pusher{x: x, c: c, log: opts.Logger, addr: src.addr}
	for _, mb := range mbs {
		src.mu.Lock()
		wire, exists := remoteTarget(mb, remote, src.wireNames, delim)
		src.mu.Unlock()
		fr := PushedFolder{Name: mb.Name, Remote: wire}
		err := p.folder(ctx, mb, wire, exists, &fr)
		if err != nil {
			fr.Error = err.Error()
		}
		rep.Folders = append(rep.Folders, fr)
		select {
		case <-c.Closed():
			return rep, fmt.Errorf("the connection to %s broke: %w", src.addr, errors.Join(err, errConnClosed))
		default:
		}
		if ctx.Err() != nil || errors.Is(err, ErrExportTooLarge) {
			return rep, err
		}
	}
	return rep, nil
}

var errConnClosed = errors.New("connection closed")

// remoteDelim is the server's hierarchy delimiter ("/" when it has none).
func remoteDelim(c *imapclient.Client) rune {
	l, err := c.List("", "", nil).Collect()
	if err != nil || len(l) == 0 || l[0].Delim == 0 {
		return '/'
	}
	return l[0].Delim
}

// remoteTarget is the remote folder (wire name) of a box mailbox, and
// whether it exists there.
func remoteTarget(mb store.Mailbox, remote []Folder, wire map[string]string, delim rune) (string, bool) {
	if mb.Name == "INBOX" {
		return "INBOX", true
	}
	wireOf := func(f Folder) string {
		if w, ok := wire[f.Name]; ok {
			return w
		}
		return f.Name
	}
	if mb.SpecialUse != "" {
		for _, f := range remote {
			if f.SpecialUse == mb.SpecialUse && !f.NoSelect {
				return wireOf(f), true
			}
		}
		for _, f := range remote {
			if commonNames[strings.ToLower(f.Name)] == mb.SpecialUse && !f.NoSelect {
				return wireOf(f), true
			}
		}
	}
	levels := strings.Split(mb.Name, "/")
	if delim != '/' {
		for i, l := range levels {
			levels[i] = strings.ReplaceAll(l, string(delim), "_")
		}
	}
	name := strings.Join(levels, string(delim))
	for _, f := range remote {
		if wireOf(f) == name && !f.NoSelect {
			return name, true
		}
	}
	return name, false
}

// pusher copies box mailboxes over one connection.
type pusher struct {
	x    *exporter
	c    *imapclient.Client
	log  *slog.Logger
	addr string
}

func (p *pusher) folder(ctx context.Context, mb store.Mailbox, wire string, exists bool, fr *PushedFolder) error {
	if !exists {
		if err := p.c.Create(wire, nil).Wait(); err != nil && !alreadyExists(err) {
			return fmt.Errorf("creating %q at %s: %s", wire, p.addr, imapErrText(err))
		}
		if err := p.c.Subscribe(wire).Wait(); err != nil {
			p.log.Warn("subscribing a created folder failed", "folder", wire, "err", imapErrText(err))
		}
	}
	box, heads, err := p.boxIdentities(ctx, mb, fr)
	if err != nil {
		return err
	}
	ids, err := p.remoteIdentities(wire, heads)
	if err != nil {
		return err
	}
	for _, b := range box {
		if _, ok := ids[b.id]; ok {
			fr.Present++
			continue
		}
		err := p.append(ctx, wire, b.m)
		var ie *imap.Error
		switch {
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
			fr.OnBox-- // expunged meanwhile
			continue
		case errors.As(err, &ie):
			p.log.Warn("the remote server refused a message", "folder", wire, "uid", b.m.UID, "err", imapErrText(err))
			fr.Failed++
			continue
		case err != nil:
			return fmt.Errorf("mailbox %s uid %d: %w", mb.Name, b.m.UID, err) // the connection or the store
		}
		ids[b.id] = struct{}{} // a second copy in the box is pushed once
		fr.Appended++
		fr.Bytes += b.m.Size
	}
	return nil
}

// boxMsg is a box message with its content identity.
type boxMsg struct {
	m  store.Message
	id idKey
}

// boxIdentities reads the messages of a box mailbox not marked
// \Deleted with their identities, and the set of their header keys.
func (p *pusher) boxIdentities(ctx context.Context, mb store.Mailbox, fr *PushedFolder) ([]boxMsg, map[idKey]struct{}, error) {
	var out []boxMsg
	heads := map[idKey]struct{}{}
	err := p.x.eachMessage(ctx, mb, &ExportFolder{}, func(m store.Message, r io.Reader) error {
		fr.OnBox++
		if m.Flags&store.FlagDeleted != 0 {
			fr.Skipped++
			return nil
		}
		iw := newIdentityWriter()
		if _, err := io.Copy(iw, r); err != nil {
			return err
		}
		id, _, _ := iw.result()
		heads[headerKey(iw.hdr)] = struct{}{}
		out = append(out, boxMsg{m: m, id: keyOf(id)})
		return nil
	})
	return out, heads, err
}

// headerKey hashes the identity fields of a header (or of the fields
// alone, as FETCH BODY[HEADER.FIELDS (...)] returns them): messages
// with the same identity have the same header key, so only the remote
// messages whose key is a box message's need to be read whole.
func headerKey(hdr []byte) idKey {
	vals, _ := identityFields(hdr)
	h := sha256.New()
	writeIdentityFields(h, vals, "")
	var k idKey
	copy(k[:], h.Sum(nil))
	return k
}

func alreadyExists(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && (ie.Code == imap.ResponseCodeAlreadyExists || strings.Contains(strings.ToLower(ie.Text), "exists"))
}

// remoteIdentities returns the identities of the messages of a remote
// folder that may be box messages: the identity fields of all are
// fetched, and those whose header key is in heads are read whole
// (BODY.PEEK: nothing there changes).
func (p *pusher) remoteIdentities(wire string, heads map[idKey]struct{}) (map[idKey]struct{}, error) {
	sel, err := p.c.Select(wire, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("opening %q at %s: %s", wire, p.addr, imapErrText(err))
	}
	ids := map[idKey]struct{}{}
	if sel.NumMessages > 0 {
		var candidates imap.UIDSet
		fields := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: identityHeaders, Peek: true}
		hit := false
		err := p.fetchEach(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, fields, func(r io.Reader) error {
			hdr, err := io.ReadAll(io.LimitReader(r, maxStreamHeader))
			_, hit = heads[headerKey(hdr)]
			return err
		}, func(uid imap.UID) {
			if hit && uid != 0 {
				candidates.AddNum(uid)
			}
			hit = false
		})
		if err == nil && len(candidates) > 0 {
			err = p.fetchEach(candidates, &imap.FetchItemBodySection{Peek: true}, func(r io.Reader) error {
				iw := newIdentityWriter()
				_, err := io.Copy(iw, r)
				id, _, _ := iw.result()
				ids[keyOf(id)] = struct{}{}
				return err
			}, func(imap.UID) {})
		}
		if err != nil {
			return nil, fmt.Errorf("reading %q at %s: %w", wire, p.addr, err)
		}
	}
	// Without UNSELECT the folder stays selected, read-only, until the
	// next one: nothing is expunged either way.
	if p.c.Caps().Has(imap.CapUnselect) {
		if err := p.c.Unselect().Wait(); err != nil {
			return nil, fmt.Errorf("leaving %q at %s: %s", wire, p.addr, imapErrText(err))
		}
	}
	return ids, nil
}

// fetchEach sends one UID FETCH of a body section for the UIDs, calls
// fn with each message's section as it streams in, and then done with
// the message's UID (which may come after the section).
func (p *pusher) fetchEach(uids imap.UIDSet, section *imap.FetchItemBodySection, fn func(io.Reader) error, done func(imap.UID)) error {
	cmd := p.c.Fetch(uids, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		var uid imap.UID
		for item := m.Next(); item != nil; item = m.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				err := fn(it.Literal)
				if err == nil {
					_, err = io.Copy(io.Discard, it.Literal)
				}
				if err != nil {
					_ = cmd.Close() // the read error is the one to report
					return err
				}
			}
		}
		done(uid)
	}
	if err := cmd.Close(); err != nil {
		return errors.New(imapErrText(err))
	}
	return nil
}

// append sends one box message with its flags, keywords and internal date.
func (p *pusher) append(ctx context.Context, wire string, m store.Message) error {
	r, size, err := p.x.opts.Store.OpenBody(ctx, m.BodyID)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }() // read only
	var flags []imap.Flag
	for _, n := range (m.Flags &^ (store.FlagRecent | store.FlagDeleted)).Names() {
		flags = append(flags, imap.Flag(n))
	}
	for _, k := range m.Keywords {
		flags = append(flags, imap.Flag(k))
	}
	cmd := p.c.Append(wire, size, &imap.AppendOptions{Flags: flags, Time: m.InternalDate})
	if _, err := io.Copy(cmd, r); err != nil {
		_ = cmd.Close() // the copy's error is the one to report
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err = cmd.Wait()
	return err
}
