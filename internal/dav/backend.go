package dav

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
	"github.com/emersion/go-webdav/carddav"

	"boxmail/internal/store"
)

// backend is what the CardDAV and CalDAV backends share: the request's
// account, its collections, and the mapping of errors to what a client
// sees.
type backend struct {
	h *Handler
}

func (b *backend) st() *store.Store { return b.h.o.Store }

// CurrentUserPrincipal implements webdav.UserPrincipalBackend.
func (b *backend) CurrentUserPrincipal(ctx context.Context) (string, error) {
	return principalPath(info(ctx).acct), nil
}

// ensureDefault makes the account's default collection of kind; it
// writes only when it is missing.
func (b *backend) ensureDefault(ctx context.Context, kind store.DAVKind) error {
	_, err := b.st().DAVCollection(ctx, info(ctx).acct.ID, kind, defaultName)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	display := "Calendar"
	if kind == store.DAVCards {
		display = "Contacts"
	}
	_, err = b.st().CreateDAVCollection(ctx, store.DAVCollection{AccountID: info(ctx).acct.ID, Kind: kind, Name: defaultName, DisplayName: display}, true)
	return err
}

// collections lists the account's collections of kind, making the
// default one first, then those shared with it (named as sharedName).
func (b *backend) collections(ctx context.Context, kind store.DAVKind) ([]store.DAVCollection, error) {
	if err := b.ensureDefault(ctx, kind); err != nil {
		return nil, b.fail(ctx, err)
	}
	cs, err := b.st().DAVCollections(ctx, info(ctx).acct.ID, kind)
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	shs, err := b.st().DAVSharedWith(ctx, info(ctx).acct.ID, kind)
	for _, sh := range shs {
		c := sh.Collection
		c.Name = sharedName(c.ID)
		cs = append(cs, c)
	}
	return cs, b.fail(ctx, err)
}

// target resolves a collection or object path of kind to the account's
// collection (made if it is the default one) or one shared with it, and
// the object's name. A shared collection comes back under the name it
// has in the account's home (sharedName), so paths made from it stay
// there.
func (b *backend) target(ctx context.Context, p string, kind store.DAVKind, level int) (store.DAVCollection, string, error) {
	c, name, _, err := b.resolve(ctx, p, kind, level)
	return c, name, err
}

// targetToWrite is target for a change of objects: a collection shared
// read-only answers 403.
func (b *backend) targetToWrite(ctx context.Context, p string, kind store.DAVKind, level int) (store.DAVCollection, string, error) {
	c, name, write, err := b.resolve(ctx, p, kind, level)
	if err == nil && !write {
		return c, name, httpError(http.StatusForbidden, "this address book or calendar is shared with you read-only")
	}
	return c, name, err
}

// resolve is target, also saying whether the account may change the
// collection's objects.
func (b *backend) resolve(ctx context.Context, p string, kind store.DAVKind, level int) (store.DAVCollection, string, bool, error) {
	d, err := parsePath(p)
	if err != nil || d.kind != kind || d.level != level || d.email != principalEmail(ctx) {
		return store.DAVCollection{}, "", false, httpError(http.StatusNotFound, "not found")
	}
	if id, ok := sharedID(d.coll); ok {
		sh, err := b.st().DAVShared(ctx, info(ctx).acct.ID, kind, id)
		if err != nil {
			return sh.Collection, "", false, b.fail(ctx, err)
		}
		c := sh.Collection
		c.Name = d.coll
		return c, d.obj, sh.Write, nil
	}
	if d.coll == defaultName {
		if err := b.ensureDefault(ctx, kind); err != nil {
			return store.DAVCollection{}, "", false, b.fail(ctx, err)
		}
	}
	c, err := b.st().DAVCollection(ctx, info(ctx).acct.ID, kind, d.coll)
	if err != nil {
		return c, "", false, b.fail(ctx, err)
	}
	return c, d.obj, true, nil
}

func principalEmail(ctx context.Context) string {
	d, _ := parsePath(principalPath(info(ctx).acct))
	return d.email
}

// fail turns a store error into what the client sees: a typed HTTP error
// for what the client can act on, a logged and generic 500 for the rest.
// nil stays nil. It takes store errors only (go-webdav's HTTP error type
// is not exported, so it could not tell one apart).
func (b *backend) fail(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return httpError(http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrPrecondition):
		return httpError(http.StatusPreconditionFailed, "the ETag does not match (If-Match/If-None-Match)")
	case errors.Is(err, store.ErrExists):
		return httpError(http.StatusMethodNotAllowed, "already exists")
	case errors.Is(err, store.ErrCollectionFull):
		return httpError(http.StatusInsufficientStorage, fmt.Sprintf("over the limit: at most %d contacts or events in one address book or calendar, and %d address books or calendars",
			store.DAVMaxObjects, store.DAVMaxCollections))
	case errors.Is(err, store.ErrInvalid):
		return httpError(http.StatusForbidden, "not a valid name here")
	case errors.Is(err, context.Canceled):
		return httpError(http.StatusServiceUnavailable, "cancelled")
	}
	b.h.log.Error("dav", "account", info(ctx).acct.Email, "err", err)
	return httpError(http.StatusInternalServerError, "internal error")
}

// uidConflict is the precondition error of a UID another object holds.
func uidConflict(kind store.DAVKind) error {
	if kind == store.DAVCards {
		return carddav.NewPreconditionError(carddav.PreconditionNoUIDConflict)
	}
	return caldav.NewPreconditionError(caldav.PreconditionNoUIDConflict)
}

// conditions are the PUT's If-Match and If-None-Match, unquoted.
func conditions(ifMatch, ifNoneMatch webdav.ConditionalMatch) (store.DAVPut, error) {
	var p store.DAVPut
	for _, c := range []struct {
		m   webdav.ConditionalMatch
		dst *string
	}{{ifMatch, &p.IfMatch}, {ifNoneMatch, &p.IfNoneMatch}} {
		switch {
		case c.m.IsWildcard():
			*c.dst = "*"
		case c.m.IsSet():
			e, err := c.m.ETag()
			if err != nil {
				return p, httpError(http.StatusBadRequest, "a malformed If-Match or If-None-Match")
			}
			*c.dst = e
		}
	}
	return p, nil
}

// put stores an object's bytes after the kind's own checks, mapping a
// UID conflict to its precondition.
func (b *backend) put(ctx context.Context, kind store.DAVKind, p string, put store.DAVPut) (store.DAVCollection, store.DAVObject, error) {
	c, name, err := b.targetToWrite(ctx, p, kind, levelObject)
	if err != nil {
		return c, store.DAVObject{}, err
	}
	if len(put.Data) > store.DAVMaxObjectBytes {
		return c, store.DAVObject{}, httpError(http.StatusRequestEntityTooLarge, "at most 1 MiB per contact or event")
	}
	put.Name = name
	if put.UID == "" {
		put.UID = name
	}
	o, _, err := b.st().PutDAVObject(ctx, c.ID, put)
	if errors.Is(err, store.ErrUIDConflict) {
		return c, o, uidConflict(kind)
	}
	return c, o, b.fail(ctx, err)
}

// remove deletes an object, or a collection other than the default one.
func (b *backend) remove(ctx context.Context, kind store.DAVKind, p string) error {
	d, err := parsePath(p)
	if err != nil || d.kind != kind || d.level < levelCollection {
		return httpError(http.StatusForbidden, "cannot delete that")
	}
	if d.level == levelCollection {
		if _, _, err := b.target(ctx, p, kind, levelCollection); err != nil {
			return err
		}
		if _, ok := sharedID(d.coll); ok {
			return httpError(http.StatusForbidden, "a shared address book or calendar is removed by an admin")
		}
		return b.fail(ctx, b.st().DeleteDAVCollection(ctx, info(ctx).acct.ID, kind, d.coll))
	}
	c, name, err := b.targetToWrite(ctx, p, kind, levelObject)
	if err != nil {
		return err
	}
	return b.fail(ctx, b.st().DeleteDAVObject(ctx, c.ID, name, info(ctx).ifMatch))
}

// create makes a collection from MKCOL or MKCALENDAR.
func (b *backend) create(ctx context.Context, kind store.DAVKind, p, display, description string) error {
	d, err := parsePath(p)
	if _, shared := sharedID(d.coll); err != nil || d.kind != kind || d.level != levelCollection || d.email != principalEmail(ctx) || shared {
		return httpError(http.StatusForbidden, "no collection can be made there")
	}
	_, err = b.st().CreateDAVCollection(ctx, store.DAVCollection{AccountID: info(ctx).acct.ID, Kind: kind, Name: d.coll, DisplayName: display, Description: description}, false)
	return b.fail(ctx, err)
}

// clientError is an error the client sees, with its status. It unwraps
// to go-webdav's HTTP error, so go-webdav's handlers answer with its
// code and message; our own handlers read it with errors.As (writeError).
type clientError struct {
	code int
	msg  string
}

func httpError(code int, msg string) error { return &clientError{code: code, msg: msg} }

func (e *clientError) Error() string { return e.msg }
func (e *clientError) Unwrap() error { return webdav.NewHTTPError(e.code, errors.New(e.msg)) }

// writeError answers err in our own handlers: a clientError as it says,
// anything else as a generic 500 (backend.fail has logged it).
func writeError(w http.ResponseWriter, err error) {
	var ce *clientError
	if errors.As(err, &ce) {
		http.Error(w, ce.msg, ce.code)
		return
	}
	http.Error(w, "Internal error.", http.StatusInternalServerError)
}
