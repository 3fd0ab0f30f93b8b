package dav

import (
	"errors"
	"strconv"
	"strings"

	"boxmail/internal/store"
)

// Levels of the URL layout (see the package comment).
const (
	levelRoot = iota
	levelPrincipal
	levelHome
	levelCollection
	levelObject
)

// davPath is a request path taken apart.
type davPath struct {
	level int
	email string        // levelPrincipal and below
	kind  store.DAVKind // levelHome and below
	coll  string        // levelCollection and below
	obj   string        // levelObject
}

var errBadPath = errors.New("no such path")

// parsePath takes apart a path under Prefix. Empty segments, dot
// segments, names store.ValidDAVName refuses and anything deeper than an
// object are errBadPath.
func parsePath(p string) (davPath, error) {
	rest, ok := strings.CutPrefix(p, Prefix+"/")
	if !ok {
		return davPath{}, errBadPath
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return davPath{level: levelRoot}, nil
	}
	segs := strings.Split(rest, "/")
	if len(segs) > levelObject {
		return davPath{}, errBadPath
	}
	d := davPath{level: len(segs), email: strings.ToLower(segs[0])}
	if !strings.Contains(d.email, "@") || !store.ValidDAVName(d.email) {
		return davPath{}, errBadPath
	}
	if len(segs) > 1 {
		switch segs[1] {
		case cardHome:
			d.kind = store.DAVCards
		case calHome:
			d.kind = store.DAVCalendars
		default:
			return davPath{}, errBadPath
		}
	}
	if len(segs) > 2 {
		d.coll = segs[2]
		if !store.ValidDAVName(d.coll) {
			return davPath{}, errBadPath
		}
	}
	if len(segs) > 3 {
		d.obj = segs[3]
		if !store.ValidDAVName(d.obj) {
			return davPath{}, errBadPath
		}
	}
	return d, nil
}

func principalPath(a store.Account) string { return Prefix + "/" + strings.ToLower(a.Email) + "/" }

func homePath(a store.Account, kind store.DAVKind) string {
	seg := calHome
	if kind == store.DAVCards {
		seg = cardHome
	}
	return principalPath(a) + seg + "/"
}

func collectionPath(a store.Account, kind store.DAVKind, name string) string {
	return homePath(a, kind) + name + "/"
}

func objectPath(a store.Account, kind store.DAVKind, coll, name string) string {
	return collectionPath(a, kind, coll) + name
}

// sharedPrefix starts the name a collection shared with an account has
// in that account's home: "shared~" and the collection's id. No account
// can make a collection of its own by such a name (backend.create).
const sharedPrefix = "shared~"

func sharedName(id int64) string { return sharedPrefix + strconv.FormatInt(id, 10) }

// sharedID reads a sharedName.
func sharedID(coll string) (int64, bool) {
	rest, ok := strings.CutPrefix(coll, sharedPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0 && strconv.FormatInt(id, 10) == rest
}
