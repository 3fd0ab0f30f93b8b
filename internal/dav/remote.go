package dav

// Moving in from a live server: 'boxmail migrate import EMAIL --carddav
// URL' (or --caldav) finds the old server's address books (calendars),
// makes one collection in the account per remote collection (named
// after the remote's last path segment, keeping its display name and
// description) and copies every object into it by UID, as ImportFile
// does: a second run changes nothing, an object changed on the old side
// is updated, an object removed there stays in the box. Each object is
// fetched with its own GET, checked (one vCard, or iCalendar objects
// with UIDs) and stored as the server stores a PUT (EncodeCard,
// EncodeCalendar). An object over the size cap or malformed is skipped
// and reported by its href; the others go on.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"time"

	"github.com/emersion/go-webdav"

	"boxmail/internal/store"
)

// RemoteOptions say what to import from where.
type RemoteOptions struct {
	URL            string        // http(s) URL: the server, a home set or one collection
	Kind           store.DAVKind // store.DAVCards (CardDAV) or store.DAVCalendars (CalDAV)
	User, Password string
	Insecure       bool          // do not verify the old server's TLS certificate
	Timeout        time.Duration // of the whole import; 0: DefaultRemoteTimeout
	MaxObjects     int           // over every collection; 0: DefaultRemoteMaxObjects
	Logger         *slog.Logger
}

// Bounds of a remote import, beside the store's own per object and per
// collection (store.DAVMaxObjectBytes, store.DAVMaxObjects).
const (
	DefaultRemoteTimeout    = 30 * time.Minute
	DefaultRemoteMaxObjects = 100000
)

// RemoteFailure is an object not imported.
type RemoteFailure struct {
	Href   string `json:"href"`
	Reason string `json:"reason"`
}

// RemoteCollection is what the import did with one remote collection.
type RemoteCollection struct {
	Href        string `json:"href"`
	Name        string `json:"name"` // the box's collection
	DisplayName string `json:"display_name,omitempty"`
	ImportResult
	Failures []RemoteFailure `json:"failures,omitempty"`
}

// RemoteResult is the whole import: per collection, and the totals.
type RemoteResult struct {
	Source      string             `json:"source"` // the URL, never the password
	Collections []RemoteCollection `json:"collections"`
	Total       ImportResult       `json:"total"`
	Failed      int                `json:"failed"`
}

// ImportRemote copies the old server's collections of opts.Kind into the
// account. The error is about the whole import (login, server, a
// limit); objects skipped are counted in Failed and listed per
// collection. What was stored before an error stays stored.
func ImportRemote(ctx context.Context, st *store.Store, accountID int64, opts RemoteOptions) (RemoteResult, error) {
	res := RemoteResult{Source: opts.URL}
	u, err := parseRemoteURL(opts.URL)
	if err != nil {
		return res, err
	}
	res.Source = u.String()
	if u.Scheme == "http" && !opts.Insecure {
		return res, fmt.Errorf("URL %s: http:// sends the password in clear: use https://, or give --insecure", u)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultRemoteTimeout
	}
	if opts.MaxObjects <= 0 {
		opts.MaxObjects = DefaultRemoteMaxObjects
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	rh := newRemoteHTTP(u, opts.User, opts.Password, opts.Insecure)
	cols, err := rh.discover(ctx, u, opts.Kind)
	if err != nil {
		return res, timeoutError(ctx, opts.Timeout, err)
	}
	im := &remoteImport{st: st, http: rh, base: u, kind: opts.Kind, left: opts.MaxObjects, log: opts.Logger}
	for _, c := range cols {
		rc, err := im.collection(ctx, accountID, c)
		res.Collections = append(res.Collections, rc)
		res.Total.add(rc.ImportResult)
		res.Failed += len(rc.Failures)
		if err != nil {
			return res, timeoutError(ctx, opts.Timeout, fmt.Errorf("%s: %w", c.Path, err))
		}
	}
	return res, nil
}

// timeoutError names the time cap when it is what stopped the import.
func timeoutError(ctx context.Context, d time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("stopped after %s (the import's time cap; run it again to go on): %w", d, err)
	}
	return err
}

func (r *ImportResult) add(o ImportResult) {
	r.Read += o.Read
	r.Created += o.Created
	r.Changed += o.Changed
	r.Unchanged += o.Unchanged
}

// remoteImport is one run's state.
type remoteImport struct {
	st   *store.Store
	http *remoteHTTP
	base *url.URL
	kind store.DAVKind
	left int // objects the MaxObjects cap still allows
	log  *slog.Logger
}

// remoteObject is one object fetched and parsed, with where it came from.
type remoteObject struct {
	href string
	store.DAVImport
}

// collection imports one remote collection.
func (im *remoteImport) collection(ctx context.Context, accountID int64, c remoteCollection) (RemoteCollection, error) {
	name := localName(c.Path)
	rc := RemoteCollection{Href: c.Path, Name: name, DisplayName: c.DisplayName}
	display := c.DisplayName
	if display == "" {
		display = name
	}
	col, err := im.st.CreateDAVCollection(ctx, store.DAVCollection{AccountID: accountID, Kind: im.kind, Name: name, DisplayName: display, Description: c.Description}, true)
	if err != nil {
		return rc, err
	}
	wc, err := webdav.NewClient(im.http, im.base.String())
	if err != nil {
		return rc, err
	}
	entries, err := wc.ReadDir(ctx, c.Path, false)
	if err != nil {
		return rc, fmt.Errorf("listing its objects: %w", err)
	}
	var hrefs []webdav.FileInfo
	for _, e := range entries {
		if !e.IsDir {
			hrefs = append(hrefs, e)
		}
	}
	if len(hrefs) > store.DAVMaxObjects {
		return rc, fmt.Errorf("%d objects: more than the %d of a collection in the box", len(hrefs), store.DAVMaxObjects)
	}
	if len(hrefs) > im.left {
		return rc, fmt.Errorf("%d objects: more than the %d the import may still copy (--max-objects)", len(hrefs), im.left)
	}
	im.left -= len(hrefs)
	var batch []remoteObject
	for _, e := range hrefs {
		objs, err := im.fetch(ctx, wc, e)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrRemoteAuth) || errors.Is(err, ErrRemoteUnreachable) {
				return rc, fmt.Errorf("%s: %w", e.Path, err)
			}
			im.log.Warn("remote object not imported", "href", e.Path, "err", err)
			rc.Failures = append(rc.Failures, RemoteFailure{Href: e.Path, Reason: err.Error()})
			continue
		}
		batch = append(batch, objs...)
		if len(batch) >= importBatch {
			im.store(ctx, col.ID, batch, &rc)
			batch = batch[:0]
		}
	}
	im.store(ctx, col.ID, batch, &rc)
	return rc, ctx.Err()
}

// fetch GETs one object, at most store.DAVMaxObjectBytes, and parses it
// into the objects to store (one, or one per UID of a calendar object
// that holds several).
func (im *remoteImport) fetch(ctx context.Context, wc *webdav.Client, e webdav.FileInfo) ([]remoteObject, error) {
	if e.Size > store.DAVMaxObjectBytes {
		return nil, fmt.Errorf("%d bytes: over the %d of an object in the box", e.Size, store.DAVMaxObjectBytes)
	}
	body, err := wc.Open(ctx, e.Path)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(body, store.DAVMaxObjectBytes+1))
	if cerr := body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, remoteNetError(err)
	}
	if len(data) > store.DAVMaxObjectBytes {
		return nil, fmt.Errorf("over the %d bytes of an object in the box", store.DAVMaxObjectBytes)
	}
	var out []remoteObject
	add := func(uid, ext string, data []byte) error {
		name := store.DAVNameFromUID(uid, ext)
		if base := path.Base(e.Path); len(out) == 0 && store.ValidDAVName(base) {
			name = base // the old server's name, so its hrefs stay the same
		}
		out = append(out, remoteObject{href: e.Path, DAVImport: store.DAVImport{UID: uid, Name: name, Data: data}})
		return nil
	}
	if im.kind == store.DAVCards {
		err = importCards(bytes.NewReader(data), add)
	} else {
		err = importCalendars(bytes.NewReader(data), add)
	}
	if err == nil && len(out) == 0 {
		err = errors.New("no vCard or calendar object in it")
	}
	if err != nil {
		return nil, fmt.Errorf("malformed: %w", err)
	}
	return out, nil
}

// store writes a batch in one go; when the store refuses it, it writes
// each object alone, so a refusal names its object.
func (im *remoteImport) store(ctx context.Context, colID int64, batch []remoteObject, rc *RemoteCollection) {
	if len(batch) == 0 {
		return
	}
	objs := make([]store.DAVImport, len(batch))
	for i, o := range batch {
		objs[i] = o.DAVImport
	}
	out, err := im.st.ImportDAVObjects(ctx, colID, objs)
	if err == nil {
		for _, o := range out {
			rc.count(o)
		}
		return
	}
	for _, o := range batch {
		out, err := im.st.ImportDAVObjects(ctx, colID, []store.DAVImport{o.DAVImport})
		if byUID := store.DAVNameFromUID(o.UID, path.Ext(o.Name)); err != nil && o.Name != byUID && ctx.Err() == nil {
			o.Name = byUID // the old name may be another object's in the box
			out, err = im.st.ImportDAVObjects(ctx, colID, []store.DAVImport{o.DAVImport})
		}
		if err != nil {
			im.log.Warn("remote object not stored", "href", o.href, "err", err)
			rc.Failures = append(rc.Failures, RemoteFailure{Href: o.href, Reason: err.Error()})
			continue
		}
		rc.count(out[0])
	}
}

func (rc *RemoteCollection) count(o store.DAVImportOutcome) {
	rc.Read++
	switch o {
	case store.DAVCreated:
		rc.Created++
	case store.DAVChanged:
		rc.Changed++
	default:
		rc.Unchanged++
	}
}
