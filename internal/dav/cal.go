package dav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav/caldav"

	"boxmail/internal/store"
)

// calBackend is the CalDAV backend over the store.
type calBackend struct{ *backend }

var _ caldav.Backend = (*calBackend)(nil)

// calComponents are what a calendar takes.
var calComponents = []string{ical.CompEvent, ical.CompToDo, ical.CompJournal}

// CalendarHomeSetPath implements caldav.Backend.
func (b *calBackend) CalendarHomeSetPath(ctx context.Context) (string, error) {
	return homePath(info(ctx).acct, store.DAVCalendars), nil
}

func (b *calBackend) calendar(ctx context.Context, c store.DAVCollection) caldav.Calendar {
	return caldav.Calendar{
		Path: collectionPath(info(ctx).acct, store.DAVCalendars, c.Name), Name: c.DisplayName, Description: c.Description,
		MaxResourceSize: store.DAVMaxObjectBytes, SupportedComponentSet: calComponents,
	}
}

// CreateCalendar implements caldav.Backend (MKCOL; MKCALENDAR is ours,
// mkcalendar in sync.go).
func (b *calBackend) CreateCalendar(ctx context.Context, cal *caldav.Calendar) error {
	return b.create(ctx, store.DAVCalendars, cal.Path, cal.Name, cal.Description)
}

// ListCalendars implements caldav.Backend.
func (b *calBackend) ListCalendars(ctx context.Context) ([]caldav.Calendar, error) {
	cs, err := b.collections(ctx, store.DAVCalendars)
	if err != nil {
		return nil, err
	}
	out := make([]caldav.Calendar, len(cs))
	for i, c := range cs {
		out[i] = b.calendar(ctx, c)
	}
	return out, nil
}

// GetCalendar implements caldav.Backend.
func (b *calBackend) GetCalendar(ctx context.Context, p string) (*caldav.Calendar, error) {
	c, _, err := b.target(ctx, p, store.DAVCalendars, levelCollection)
	if err != nil {
		return nil, err
	}
	cal := b.calendar(ctx, c)
	return &cal, nil
}

// calObject decodes a stored iCalendar object.
func (b *calBackend) calObject(ctx context.Context, c store.DAVCollection, o store.DAVObject) (caldav.CalendarObject, error) {
	cal, err := ical.NewDecoder(bytes.NewReader(o.Data)).Decode()
	if err != nil {
		return caldav.CalendarObject{}, b.fail(ctx, fmt.Errorf("stored iCalendar %s/%s: %w", c.Name, o.Name, err))
	}
	return caldav.CalendarObject{
		Path: objectPath(info(ctx).acct, store.DAVCalendars, c.Name, o.Name), ModTime: o.Modified,
		ContentLength: int64(len(o.Data)), ETag: o.ETag, Data: cal,
	}, nil
}

// GetCalendarObject implements caldav.Backend.
func (b *calBackend) GetCalendarObject(ctx context.Context, p string, _ *caldav.CalendarCompRequest) (*caldav.CalendarObject, error) {
	c, name, err := b.target(ctx, p, store.DAVCalendars, levelObject)
	if err != nil {
		return nil, err
	}
	o, err := b.st().DAVObject(ctx, c.ID, name)
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	co, err := b.calObject(ctx, c, o)
	return &co, err
}

// ListCalendarObjects implements caldav.Backend.
func (b *calBackend) ListCalendarObjects(ctx context.Context, p string, _ *caldav.CalendarCompRequest) ([]caldav.CalendarObject, error) {
	c, _, err := b.target(ctx, p, store.DAVCalendars, levelCollection)
	if err != nil {
		return nil, err
	}
	objs, err := b.st().DAVObjects(ctx, c.ID, true)
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	out := make([]caldav.CalendarObject, 0, len(objs))
	for _, o := range objs {
		co, err := b.calObject(ctx, c, o)
		if err != nil {
			return nil, err
		}
		out = append(out, co)
	}
	return out, nil
}

// QueryCalendarObjects implements caldav.Backend (calendar-query, with
// go-webdav's comp-filter and time-range matching).
func (b *calBackend) QueryCalendarObjects(ctx context.Context, p string, q *caldav.CalendarQuery) ([]caldav.CalendarObject, error) {
	all, err := b.ListCalendarObjects(ctx, p, &q.CompRequest)
	if err != nil {
		return nil, err
	}
	out, err := caldav.Filter(q, all)
	if err != nil {
		return nil, httpError(http.StatusBadRequest, err.Error())
	}
	return out, nil
}

// PutCalendarObject implements caldav.Backend.
func (b *calBackend) PutCalendarObject(ctx context.Context, p string, cal *ical.Calendar, opts *caldav.PutCalendarObjectOptions) (*caldav.CalendarObject, error) {
	data, uid, err := EncodeCalendar(cal)
	if err != nil {
		return nil, httpError(http.StatusBadRequest, err.Error())
	}
	put, err := conditions(opts.IfMatch, opts.IfNoneMatch)
	if err != nil {
		return nil, err
	}
	put.UID, put.Data = uid, data
	c, o, err := b.put(ctx, store.DAVCalendars, p, put)
	if err != nil {
		return nil, err
	}
	o.Data = data
	co, err := b.calObject(ctx, c, o)
	return &co, err
}

// DeleteCalendarObject implements caldav.Backend; go-webdav sends every
// DELETE here, so it removes a calendar too.
func (b *calBackend) DeleteCalendarObject(ctx context.Context, p string) error {
	return b.remove(ctx, store.DAVCalendars, p)
}

// EncodeCalendar checks a parsed calendar object by RFC 4791 section 4.1
// (one kind of component, one UID, no METHOD) and RFC 5545's required
// properties (go-ical's encoder), and returns the bytes to store and the
// UID.
func EncodeCalendar(cal *ical.Calendar) ([]byte, string, error) {
	_, uid, err := caldav.ValidateCalendarObject(cal)
	if err != nil {
		return nil, "", fmt.Errorf("invalid calendar object: %w", err)
	}
	if uid == "" {
		return nil, "", errors.New("invalid calendar object: no UID")
	}
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, "", fmt.Errorf("invalid iCalendar: %w", err)
	}
	if buf.Len() > store.DAVMaxObjectBytes {
		return nil, "", errors.New("an event of more than 1 MiB")
	}
	return buf.Bytes(), uid, nil
}
