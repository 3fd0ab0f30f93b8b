package store

// Contacts and calendars (CardDAV/CalDAV, served by internal/dav): an
// account's collections, each an address book (DAVCards) or a calendar
// (DAVCalendars), and their objects, one vCard or one iCalendar object
// each, kept as the bytes the client sent (after internal/dav parsed
// them). Every change of a collection's objects raises its modseq: the
// object's ETag is a hash of its bytes, its modseq says when it last
// changed, and a removed object leaves a tombstone with the modseq of
// its removal, so DAVChangesSince answers a sync-collection (RFC 6578)
// from any earlier modseq. Tombstones are kept with their collection (a
// few bytes each); nothing compacts them yet.
//
// The store checks only its own limits (DAVMaxObjectBytes,
// DAVMaxObjects, DAVMaxCollections) and the names; what is a valid
// vCard or iCalendar object is internal/dav's business.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DAVKind is what a collection holds.
type DAVKind string

const (
	DAVCards     DAVKind = "card" // an address book of vCards (RFC 6352)
	DAVCalendars DAVKind = "cal"  // a calendar of iCalendar objects (RFC 4791)
)

// Limits of contacts and calendars.
const (
	DAVMaxObjectBytes = 1 << 20 // one vCard or iCalendar object
	// DAVMaxObjects bounds one address book or calendar: above what the
	// big providers let an account keep (Google 25,000 contacts, iCloud
	// 50,000), so a family moving in never meets it, and a calendar
	// holds decades of events; below what would make a full listing
	// (about 250 bytes an object) a burden for a phone. 100,000 would
	// let a runaway client or import fill the disk for no one's use.
	DAVMaxObjects     = 50000
	DAVMaxCollections = 50  // collections of one kind per account
	davMaxName        = 255 // bytes of a collection's or object's name
)

// Errors of contacts and calendars, beside ErrNotFound and ErrExists.
var (
	// ErrPrecondition: an If-Match or If-None-Match condition did not hold.
	ErrPrecondition = errors.New("precondition failed")
	// ErrUIDConflict: another object of the collection has that UID.
	ErrUIDConflict = errors.New("another object of the collection has this UID")
	// ErrCollectionFull: DAVMaxObjects or DAVMaxCollections reached, or
	// an object larger than DAVMaxObjectBytes.
	ErrCollectionFull = errors.New("over the limit of contacts or calendars")
)

// DAVCollection is an address book or a calendar.
type DAVCollection struct {
	ID          int64
	AccountID   int64
	Kind        DAVKind
	Name        string // its last path segment
	DisplayName string
	Description string
	ModSeq      int64 // raised by each change of its objects: ctag and sync token
	Created     time.Time
}

// DAVObject is one vCard or iCalendar object of a collection.
type DAVObject struct {
	CollectionID int64
	Name         string // its last path segment ("x.vcf", "y.ics")
	UID          string
	ETag         string // without quotes
	Data         []byte // nil when listed without data
	Size         int    // bytes of Data, also when listed without it
	ModSeq       int64
	Modified     time.Time
}

// DAVPut is one object to write, with the client's conditions: IfMatch
// is "" (none), "*" (it must exist) or an ETag it must have; IfNoneMatch
// is "", "*" (it must not exist) or an ETag it must not have.
type DAVPut struct {
	Name, UID            string
	Data                 []byte
	IfMatch, IfNoneMatch string
}

// DAVChange is one object changed or removed since a modseq.
type DAVChange struct {
	Name    string
	ETag    string // "" when Deleted
	Deleted bool
}

// DAVETag is the ETag of an object's bytes.
func DAVETag(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:16])
}

// ValidDAVName reports whether name may name a collection or an object:
// one path segment of letters, digits and "-_.@+=~:," not starting with
// a dot, at most 255 bytes (what clients make: UUIDs with .vcf or .ics).
func ValidDAVName(name string) bool {
	if name == "" || len(name) > davMaxName || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.@+=~:,", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

const davCollectionCols = "id, account_id, kind, name, display_name, description, modseq, created"

func scanDAVCollection(row interface{ Scan(...any) error }) (DAVCollection, error) {
	var c DAVCollection
	var kind string
	var created int64
	err := row.Scan(&c.ID, &c.AccountID, &kind, &c.Name, &c.DisplayName, &c.Description, &c.ModSeq, &created)
	c.Kind, c.Created = DAVKind(kind), time.Unix(created, 0)
	return c, err
}

// DAVCollections lists an account's collections of kind, by name.
func (s *Store) DAVCollections(ctx context.Context, accountID int64, kind DAVKind) ([]DAVCollection, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+davCollectionCols+" FROM dav_collections WHERE account_id = ? AND kind = ? ORDER BY name",
		accountID, string(kind))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []DAVCollection
	for rows.Next() {
		c, err := scanDAVCollection(rows)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// DAVCollection returns an account's collection of kind by name, or
// ErrNotFound.
func (s *Store) DAVCollection(ctx context.Context, accountID int64, kind DAVKind, name string) (DAVCollection, error) {
	c, err := scanDAVCollection(s.rdb.QueryRowContext(ctx, "SELECT "+davCollectionCols+" FROM dav_collections WHERE account_id = ? AND kind = ? AND name = ?",
		accountID, string(kind), name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// CreateDAVCollection makes c (its AccountID, Kind, Name, DisplayName,
// Description) and returns it as stored: ErrExists if the account has
// one of that kind and name, ErrCollectionFull past DAVMaxCollections.
// With ifMissing, an existing one is returned instead (the default
// address book and calendar, made on first use).
func (s *Store) CreateDAVCollection(ctx context.Context, c DAVCollection, ifMissing bool) (DAVCollection, error) {
	if !ValidDAVName(c.Name) || (c.Kind != DAVCards && c.Kind != DAVCalendars) {
		return c, fmt.Errorf("collection %q: %w", c.Name, ErrInvalid)
	}
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var n int
		if err := tx.queryRow(ctx, "SELECT count(*) FROM dav_collections WHERE account_id = ? AND kind = ?", c.AccountID, string(c.Kind)).Scan(&n); err != nil {
			return err
		}
		var exists int
		err := tx.queryRow(ctx, "SELECT 1 FROM dav_collections WHERE account_id = ? AND kind = ? AND name = ?", c.AccountID, string(c.Kind), c.Name).Scan(&exists)
		switch {
		case err == nil && ifMissing:
			return nil
		case err == nil:
			return ErrExists
		case !errors.Is(err, sql.ErrNoRows):
			return err
		case n >= DAVMaxCollections:
			return ErrCollectionFull
		}
		_, err = tx.exec(ctx, "INSERT INTO dav_collections(account_id, kind, name, display_name, description, created) VALUES(?, ?, ?, ?, ?, ?)",
			c.AccountID, string(c.Kind), c.Name, c.DisplayName, c.Description, time.Now().Unix())
		return err
	})
	if err != nil {
		return c, err
	}
	return s.DAVCollection(ctx, c.AccountID, c.Kind, c.Name)
}

// SetDAVCollectionNames changes a collection's display name and
// description (PROPPATCH); nil leaves one as it is. The modseq is
// raised, so a client polling the ctag sees the change.
func (s *Store) SetDAVCollectionNames(ctx context.Context, accountID int64, kind DAVKind, name string, display, description *string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var id int64
		err := tx.queryRow(ctx, "SELECT id FROM dav_collections WHERE account_id = ? AND kind = ? AND name = ?", accountID, string(kind), name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if display != nil {
			if _, err := tx.exec(ctx, "UPDATE dav_collections SET display_name = ? WHERE id = ?", *display, id); err != nil {
				return err
			}
		}
		if description != nil {
			if _, err := tx.exec(ctx, "UPDATE dav_collections SET description = ? WHERE id = ?", *description, id); err != nil {
				return err
			}
		}
		_, err = tx.bumpDAV(ctx, id)
		return err
	})
}

// DeleteDAVCollection removes a collection with its objects.
func (s *Store) DeleteDAVCollection(ctx context.Context, accountID int64, kind DAVKind, name string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.execOne(ctx, "", "DELETE FROM dav_collections WHERE account_id = ? AND kind = ? AND name = ?", accountID, string(kind), name)
	})
}

// DAVObjects lists a collection's objects by name, with their data if
// withData.
func (s *Store) DAVObjects(ctx context.Context, collectionID int64, withData bool) ([]DAVObject, error) {
	data := "NULL"
	if withData {
		data = "data"
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT name, uid, etag, "+data+", length(data), modseq, modified FROM dav_objects WHERE collection_id = ? ORDER BY name", collectionID)
	if err != nil {
		return nil, err
	}
	return scanDAVObjects(rows, collectionID, nil)
}

// scanDAVObjects appends the rows (name, uid, etag, data, size, modseq,
// modified) to objs, and closes them.
func scanDAVObjects(rows *sql.Rows, collectionID int64, objs []DAVObject) ([]DAVObject, error) {
	defer rows.Close()
	for rows.Next() {
		o := DAVObject{CollectionID: collectionID}
		var mod int64
		if err := rows.Scan(&o.Name, &o.UID, &o.ETag, &o.Data, &o.Size, &o.ModSeq, &mod); err != nil {
			return nil, err
		}
		o.Modified = time.Unix(mod, 0)
		objs = append(objs, o)
	}
	return objs, rows.Err()
}

// davNamesPerQuery bounds the names of one DAVObjectsNamed query (SQLite
// allows 32766 parameters; smaller batches keep each statement short).
const davNamesPerQuery = 500

// DAVObjectsNamed returns the objects of a collection with those names,
// with their data, in no particular order; names that do not exist are
// left out (a multiget answers them 404).
func (s *Store) DAVObjectsNamed(ctx context.Context, collectionID int64, names []string) ([]DAVObject, error) {
	var objs []DAVObject
	for len(names) > 0 {
		batch := names[:min(len(names), davNamesPerQuery)]
		names = names[len(batch):]
		args := make([]any, 0, len(batch)+1)
		args = append(args, collectionID)
		for _, n := range batch {
			args = append(args, n)
		}
		q := "SELECT name, uid, etag, data, length(data), modseq, modified FROM dav_objects WHERE collection_id = ? AND name IN (?" +
			strings.Repeat(", ?", len(batch)-1) + ")"
		rows, err := s.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		if objs, err = scanDAVObjects(rows, collectionID, objs); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// DAVObject returns one object with its data, or ErrNotFound.
func (s *Store) DAVObject(ctx context.Context, collectionID int64, name string) (DAVObject, error) {
	o := DAVObject{CollectionID: collectionID, Name: name}
	var mod int64
	err := s.rdb.QueryRowContext(ctx, "SELECT uid, etag, data, modseq, modified FROM dav_objects WHERE collection_id = ? AND name = ?", collectionID, name).
		Scan(&o.UID, &o.ETag, &o.Data, &o.ModSeq, &mod)
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound
	}
	o.Modified, o.Size = time.Unix(mod, 0), len(o.Data)
	return o, err
}

// bumpDAV raises a collection's modseq and returns the new one.
func (tx *Tx) bumpDAV(ctx context.Context, collectionID int64) (int64, error) {
	var m int64
	err := tx.queryRow(ctx, "UPDATE dav_collections SET modseq = modseq + 1 WHERE id = ? RETURNING modseq", collectionID).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return m, err
}

// davConditions checks p's If-Match and If-None-Match against the
// object's current ETag ("" when it does not exist).
func davConditions(p DAVPut, current string) error {
	switch {
	case p.IfMatch == "*" && current == "",
		p.IfMatch != "" && p.IfMatch != "*" && p.IfMatch != current,
		p.IfNoneMatch == "*" && current != "",
		p.IfNoneMatch != "" && p.IfNoneMatch != "*" && p.IfNoneMatch == current:
		return ErrPrecondition
	}
	return nil
}

// PutDAVObject writes an object of a collection under p.Name, creating
// or replacing it, and returns it as stored (without data) and whether it
// was created. ErrPrecondition when a condition fails, ErrUIDConflict
// when another name holds p.UID, ErrCollectionFull past the limits.
func (s *Store) PutDAVObject(ctx context.Context, collectionID int64, p DAVPut) (DAVObject, bool, error) {
	if err := checkDAVPut(p); err != nil {
		return DAVObject{}, false, err
	}
	var o DAVObject
	var created bool
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		o, created, err = tx.putDAV(ctx, collectionID, p, time.Now(), nil)
		return err
	})
	return o, created, err
}

func checkDAVPut(p DAVPut) error {
	if !ValidDAVName(p.Name) || p.UID == "" {
		return fmt.Errorf("object %q: %w", p.Name, ErrInvalid)
	}
	if len(p.Data) > DAVMaxObjectBytes {
		return ErrCollectionFull
	}
	return nil
}

// davObjectLimit is DAVMaxObjects; tests lower it.
var davObjectLimit = DAVMaxObjects

// errDAVFull is ErrCollectionFull with the limit, for people.
func errDAVFull() error {
	return fmt.Errorf("%w: at most %d contacts or events in one address book or calendar", ErrCollectionFull, davObjectLimit)
}

// putDAV is PutDAVObject's write, in tx. count is the collection's
// number of objects when the caller keeps it (an import: counted once,
// raised here), nil to count.
func (tx *Tx) putDAV(ctx context.Context, collectionID int64, p DAVPut, now time.Time, count *int) (DAVObject, bool, error) {
	o := DAVObject{CollectionID: collectionID, Name: p.Name, UID: p.UID, ETag: DAVETag(p.Data), Modified: now}
	var current, holder string
	err := tx.queryRow(ctx, "SELECT etag FROM dav_objects WHERE collection_id = ? AND name = ?", collectionID, p.Name).Scan(&current)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return o, false, err
	}
	if err := davConditions(p, current); err != nil {
		return o, false, err
	}
	err = tx.queryRow(ctx, "SELECT name FROM dav_objects WHERE collection_id = ? AND uid = ?", collectionID, p.UID).Scan(&holder)
	if err == nil && holder != p.Name {
		return o, false, ErrUIDConflict
	} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return o, false, err
	}
	if current == "" {
		if count == nil {
			count = new(int)
			if err := tx.queryRow(ctx, "SELECT count(*) FROM dav_objects WHERE collection_id = ?", collectionID).Scan(count); err != nil {
				return o, false, err
			}
		}
		if *count >= davObjectLimit {
			return o, false, errDAVFull()
		}
		*count++
	}
	m, err := tx.bumpDAV(ctx, collectionID)
	if err != nil {
		return o, false, err
	}
	o.ModSeq = m
	if _, err := tx.exec(ctx, "DELETE FROM dav_tombstones WHERE collection_id = ? AND name = ?", collectionID, p.Name); err != nil {
		return o, false, err
	}
	_, err = tx.exec(ctx, `INSERT INTO dav_objects(collection_id, name, uid, etag, data, modseq, modified) VALUES(?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(collection_id, name) DO UPDATE SET uid = excluded.uid, etag = excluded.etag, data = excluded.data,
		modseq = excluded.modseq, modified = excluded.modified`,
		collectionID, p.Name, p.UID, o.ETag, p.Data, m, o.Modified.Unix())
	return o, current == "" && err == nil, err
}

// DeleteDAVObject removes an object (ifMatch as in DAVPut), leaving a
// tombstone for sync; ErrNotFound if there is none by that name.
func (s *Store) DeleteDAVObject(ctx context.Context, collectionID int64, name, ifMatch string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var current string
		err := tx.queryRow(ctx, "SELECT etag FROM dav_objects WHERE collection_id = ? AND name = ?", collectionID, name).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if err := davConditions(DAVPut{IfMatch: ifMatch}, current); err != nil {
			return err
		}
		m, err := tx.bumpDAV(ctx, collectionID)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM dav_objects WHERE collection_id = ? AND name = ?", collectionID, name); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO dav_tombstones(collection_id, name, modseq) VALUES(?, ?, ?)
			ON CONFLICT(collection_id, name) DO UPDATE SET modseq = excluded.modseq`, collectionID, name, m)
		return err
	})
}

// DAVImport is one object of an import: its UID, the name a new one
// gets, its bytes.
type DAVImport struct {
	UID, Name string
	Data      []byte
}

// DAVImportOutcome says what an import did to one object.
type DAVImportOutcome int

const (
	DAVUnchanged DAVImportOutcome = iota
	DAVCreated
	DAVChanged
)

// ImportDAVObjects stores imported objects by their UID, all in one
// write: an object with that UID is replaced where it is (unchanged
// bytes change nothing), a new one is named by its Name. So importing
// the same file twice leaves the same objects. It returns an outcome per
// object; an error (a bad name, a limit) leaves none of them stored.
func (s *Store) ImportDAVObjects(ctx context.Context, collectionID int64, objs []DAVImport) ([]DAVImportOutcome, error) {
	for _, o := range objs {
		if err := checkDAVPut(DAVPut{Name: o.Name, UID: o.UID, Data: o.Data}); err != nil {
			return nil, fmt.Errorf("%s: %w", o.UID, err)
		}
	}
	uids := make(map[string]bool, len(objs))
	for _, o := range objs {
		uids[o.UID] = true
	}
	if len(uids) > davObjectLimit { // the collection would hold at least these
		return nil, errDAVFull()
	}
	out := make([]DAVImportOutcome, len(objs))
	now := time.Now()
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var count int
		if err := tx.queryRow(ctx, "SELECT count(*) FROM dav_objects WHERE collection_id = ?", collectionID).Scan(&count); err != nil {
			return err
		}
		for i, o := range objs {
			var name, etag string
			err := tx.queryRow(ctx, "SELECT name, etag FROM dav_objects WHERE collection_id = ? AND uid = ?", collectionID, o.UID).Scan(&name, &etag)
			put := DAVPut{Name: o.Name, UID: o.UID, Data: o.Data, IfNoneMatch: "*"}
			out[i] = DAVCreated
			switch {
			case err == nil && etag == DAVETag(o.Data):
				out[i] = DAVUnchanged
				continue
			case err == nil:
				put.Name, put.IfNoneMatch, put.IfMatch, out[i] = name, "", etag, DAVChanged
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if _, _, err := tx.putDAV(ctx, collectionID, put, now, &count); err != nil {
				return fmt.Errorf("%s: %w", o.UID, err)
			}
		}
		return nil
	})
	return out, err
}

// ImportDAVObject is ImportDAVObjects for one object: whether it created
// or changed one.
func (s *Store) ImportDAVObject(ctx context.Context, collectionID int64, uid, name string, data []byte) (created, changed bool, err error) {
	out, err := s.ImportDAVObjects(ctx, collectionID, []DAVImport{{UID: uid, Name: name, Data: data}})
	if err != nil {
		return false, false, err
	}
	return out[0] == DAVCreated, out[0] != DAVUnchanged, nil
}

// DAVChangesSince returns the objects changed and removed after modseq
// since (0: every object, no removals) and the collection's modseq now,
// the next sync token. A since past the collection's modseq is
// ErrInvalid (a token from elsewhere).
func (s *Store) DAVChangesSince(ctx context.Context, collectionID, since int64) ([]DAVChange, int64, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var now int64
	if err := tx.QueryRowContext(ctx, "SELECT modseq FROM dav_collections WHERE id = ?", collectionID).Scan(&now); errors.Is(err, sql.ErrNoRows) {
		return nil, 0, ErrNotFound
	} else if err != nil {
		return nil, 0, err
	}
	if since < 0 || since > now {
		return nil, 0, fmt.Errorf("sync token %d: %w", since, ErrInvalid)
	}
	var out []DAVChange
	rows, err := tx.QueryContext(ctx, "SELECT name, etag FROM dav_objects WHERE collection_id = ? AND modseq > ? ORDER BY modseq", collectionID, since)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var c DAVChange
		if err := rows.Scan(&c.Name, &c.ETag); err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil || since == 0 {
		return out, now, err
	}
	rows, err = tx.QueryContext(ctx, "SELECT name FROM dav_tombstones WHERE collection_id = ? AND modseq > ? ORDER BY modseq", collectionID, since)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		c := DAVChange{Deleted: true}
		if err := rows.Scan(&c.Name); err != nil {
			return nil, 0, err
		}
		out = append(out, c)
	}
	return out, now, rows.Err()
}

// DAVNameFromUID makes an object name from a UID and an extension
// (".vcf", ".ics"): the UID itself when it is a valid name, else a hash.
func DAVNameFromUID(uid, ext string) string {
	if ValidDAVName(uid + ext) {
		return uid + ext
	}
	h := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(h[:16]) + ext
}
