package dav

// A check of a PUT's vCard or iCalendar object by its content lines
// (RFC 6350 section 3.3, RFC 5545 section 3.1), before go-vcard or
// go-ical parse it: their errors do not say where the fault is, and a
// person fixing an export wants the line. It checks the shape only (NAME
// or group.NAME, parameters, a colon, BEGIN and END in pairs, one object
// per resource); what a property means is the parsers' business.

import (
	"bytes"
	"fmt"
	"strings"

	"boxmail/internal/store"
)

// lineError is a malformed content line, by its number (from 1).
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func lineErrorf(line int, format string, a ...any) error {
	return &lineError{line: line, msg: fmt.Sprintf(format, a...)}
}

// shorten quotes s, cut to 40 bytes, for an error message.
func shorten(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// propertyName is the name of a content line (before ';' or ':'), and
// whether the line has a colon at all.
func propertyName(l string) (string, bool) {
	end := strings.IndexAny(l, ";:")
	if end < 0 {
		return l, false
	}
	return l[:end], strings.IndexByte(l[end:], ':') >= 0
}

// validName: letters, digits and '-', with an optional group ("item1.").
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return name[0] != '.' && name[len(name)-1] != '.'
}

type openComponent struct {
	name string
	line int
}

// checkContentLines reports the first malformed line of an object of
// kind as a *lineError.
func checkContentLines(body []byte, kind store.DAVKind) error {
	top, what := "VCALENDAR", "an iCalendar object"
	if kind == store.DAVCards {
		top, what = "VCARD", "a vCard"
	}
	var stack []openComponent
	seen, done := false, false
	n := 0
	for raw := range bytes.Lines(body) {
		n++
		l := strings.TrimRight(string(raw), "\r\n")
		switch {
		case l == "":
			continue
		case l[0] == ' ' || l[0] == '\t':
			if !seen {
				return lineErrorf(n, "a folded line with no line before it")
			}
			continue
		case done:
			if kind == store.DAVCards {
				return lineErrorf(n, "more than one vCard: a resource holds one")
			}
			return lineErrorf(n, "content after END:VCALENDAR")
		}
		name, colon := propertyName(l)
		if !colon {
			return lineErrorf(n, "%s has no colon: a content line is NAME:VALUE", shorten(l))
		}
		if !validName(name) {
			return lineErrorf(n, "%s is not a property name", shorten(name))
		}
		value := l[strings.IndexByte(l, ':')+1:]
		switch upper := strings.ToUpper(name); {
		case !seen && (upper != "BEGIN" || !strings.EqualFold(value, top)):
			return lineErrorf(n, "%s starts with BEGIN:%s, not %s", what, top, shorten(l))
		case upper == "BEGIN":
			stack = append(stack, openComponent{name: strings.ToUpper(value), line: n})
		case upper == "END" && len(stack) == 0:
			return lineErrorf(n, "END:%s with nothing to end", value)
		case upper == "END" && !strings.EqualFold(stack[len(stack)-1].name, value):
			o := stack[len(stack)-1]
			return lineErrorf(n, "END:%s, but BEGIN:%s of line %d is still open", value, o.name, o.line)
		case upper == "END":
			stack = stack[:len(stack)-1]
			done = len(stack) == 0
		}
		seen = true
	}
	switch {
	case !seen:
		return lineErrorf(1, "empty: %s starts with BEGIN:%s", what, top)
	case len(stack) > 0:
		o := stack[len(stack)-1]
		return lineErrorf(n, "BEGIN:%s of line %d is never ended (END:%s)", o.name, o.line, o.name)
	}
	return nil
}
