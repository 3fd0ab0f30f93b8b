package dav

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"

	"boxmail/internal/store"
)

// FuzzParsePath: whatever a client sends as a path, an accepted one is
// made only of valid names (no dot segment, no slash inside a name), and
// building the path again from its parts gives it back.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/dav/", "/dav/a@b.c/", "/dav/a@b.c/contacts/default/x.vcf", "/dav/a@b.c/calendars/../x",
		"/dav/a@b.c/contacts/./x", "/dav//contacts/", "/dav/a@b.c/contacts/default/x/y", "/dav/A@B.C/calendars/c/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		d, err := parsePath(p)
		if err != nil {
			return
		}
		for _, n := range []string{d.coll, d.obj} {
			if n != "" && !store.ValidDAVName(n) {
				t.Fatalf("%q: accepted name %q", p, n)
			}
		}
		if d.level < levelPrincipal {
			return
		}
		a := store.Account{Email: d.email}
		var again string
		switch d.level {
		case levelPrincipal:
			again = principalPath(a)
		case levelHome:
			again = homePath(a, d.kind)
		case levelCollection:
			again = collectionPath(a, d.kind, d.coll)
		default:
			again = objectPath(a, d.kind, d.coll, d.obj)
		}
		if strings.TrimSuffix(strings.ToLower(again), "/") != strings.TrimSuffix(strings.ToLower(p), "/") {
			t.Fatalf("%q parsed as %+v, which is %q", p, d, again)
		}
	})
}

// FuzzAddSyncProps: reading back any multistatus never panics, and
// what it writes is XML that reads back.
func FuzzAddSyncProps(f *testing.F) {
	f.Add(`<?xml version="1.0"?><multistatus xmlns="DAV:"><response><href>/dav/a@b.c/contacts/default/</href><propstat><prop><sync-token xmlns="DAV:"></sync-token><x xmlns="urn:x">a &amp; b</x></prop><status>HTTP/1.1 404 Not Found</status></propstat></response></multistatus>`)
	f.Add(`<multistatus xmlns="DAV:"><response><href>%zz</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>`)
	h := New(Options{})
	f.Fuzz(func(t *testing.T, in string) {
		out, err := h.addSyncProps(context.Background(), []byte(in), store.DAVCards)
		if err != nil {
			return
		}
		var doc msDoc
		if err := xmlUnmarshal(out, &doc); err != nil {
			t.Fatalf("%q rewritten as %q: %v", in, out, err)
		}
	})
}

func xmlUnmarshal(b []byte, v any) error { return xml.Unmarshal(b, v) }

// FuzzContentLines: the line check never panics, names a line inside the
// body (or line 1 of an empty one), and what it passes has its BEGIN and
// END in pairs.
func FuzzContentLines(f *testing.F) {
	for _, s := range []string{annCard, event, "BEGIN:VCARD\r\nFN Ann\r\n", " x\r\n", "BEGIN:VCALENDAR\nEND:VEVENT\n", "", "\r\n\r\n", "BEGIN:VCARD\r\nitem1.TEL;TYPE=\"a:b\":1\r\nEND:VCARD"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, body string, card bool) {
		kind := store.DAVCalendars
		if card {
			kind = store.DAVCards
		}
		err := checkContentLines([]byte(body), kind)
		lines := strings.Count(body, "\n") + 1
		if le, ok := err.(*lineError); ok {
			if le.line < 1 || le.line > lines {
				t.Fatalf("%q: line %d of %d", body, le.line, lines)
			}
			return
		} else if err != nil {
			t.Fatalf("%q: not a lineError: %v", body, err)
		}
		if strings.Count(strings.ToUpper(body), "BEGIN:") < 1 {
			t.Fatalf("%q: passed with no BEGIN", body)
		}
	})
}
