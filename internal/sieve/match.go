package sieve

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxPatternBytes bounds a :matches pattern (Validate refuses a longer
// one; at run time it fails the run).
const MaxPatternBytes = 4 << 10

// charge takes n units of work (bytes compared) from the run's budget;
// false, with st.err set, when the budget or the time is spent.
func (st *state) charge(n int) bool {
	if st.err != nil {
		return false
	}
	st.work -= int64(n)
	st.sinceNow += int64(n)
	if st.work < 0 {
		st.err = ErrBudget
		return false
	}
	if st.sinceNow >= 1<<20 {
		st.sinceNow = 0
		if time.Now().After(st.deadline) {
			st.err = ErrBudget
			return false
		}
	}
	return true
}

// match applies t's comparator and match type: true if any value
// matches any key (for :count, the number of values). Values and keys
// are lower-cased once each for i;ascii-casemap, not once per pair.
func (st *state) match(t *call, vals, keys []string) bool {
	cmp := "i;ascii-casemap"
	if c, ok := t.tags["comparator"]; ok {
		cmp = c.strs[0]
	}
	if r, ok := t.tags["count"]; ok {
		n := strconv.Itoa(len(vals))
		for _, k := range keys {
			if relation(strings.ToLower(r.strs[0]), compareNumeric(n, k)) {
				return true
			}
		}
		return false
	}
	fold := cmp == "i;ascii-casemap"
	var globs []glob
	if t.has("matches") {
		globs = make([]glob, len(keys))
		for i, k := range keys {
			if len(k) > MaxPatternBytes {
				st.err = errorf(t.pos, ":matches pattern of %d bytes is longer than %d", len(k), MaxPatternBytes)
				return false
			}
			if fold {
				k = asciiLower(k)
			}
			if !st.charge(len(k)) {
				return false
			}
			globs[i] = compileGlob(k)
		}
	} else if fold {
		keys = lowerAll(keys)
	}
	for _, v := range vals {
		if fold {
			if !st.charge(len(v)) {
				return false
			}
			v = asciiLower(v)
		}
		for i, k := range keys {
			if st.err != nil {
				return false
			}
			if globs != nil {
				if st.glob(v, globs[i]) {
					return true
				}
				continue
			}
			if st.matchOne(t, cmp, v, k) {
				return true
			}
		}
	}
	return false
}

func lowerAll(l []string) []string {
	out := l
	for i, s := range l {
		if ls := asciiLower(s); ls != s {
			if &out[0] == &l[0] {
				out = append([]string(nil), l...)
			}
			out[i] = ls
		}
	}
	return out
}

func relation(op string, c int) bool {
	switch op {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	}
	return false
}

// matchOne is :is, :contains and :value on already folded v and k.
func (st *state) matchOne(t *call, cmp, v, k string) bool {
	switch {
	case t.has("contains"):
		if !st.charge(len(v) + len(k)) {
			return false
		}
		return strings.Contains(v, k)
	case t.has("value"):
		if !st.charge(min(len(v), len(k)) + 1) {
			return false
		}
		var c int
		if cmp == "i;ascii-numeric" {
			c = compareNumeric(v, k)
		} else {
			c = strings.Compare(v, k)
		}
		return relation(strings.ToLower(t.tags["value"].strs[0]), c)
	}
	if !st.charge(min(len(v), len(k)) + 1) {
		return false
	}
	if cmp == "i;ascii-numeric" {
		return compareNumeric(v, k) == 0
	}
	return v == k
}

// asciiLower returns s with A-Z lowered; s itself when it has none.
func asciiLower(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for j := i; j < len(b); j++ {
		if c := b[j]; c >= 'A' && c <= 'Z' {
			b[j] = c + 32
		}
	}
	return string(b)
}

// compareNumeric is i;ascii-numeric (RFC 4790 9.1): the leading digits as a
// number, no digits being positive infinity.
func compareNumeric(a, b string) int {
	na, ia := leadingNumber(a)
	nb, ib := leadingNumber(b)
	switch {
	case ia && ib:
		return 0
	case ia:
		return 1
	case ib:
		return -1
	}
	// Compare as decimal strings without leading zeros, so any length works.
	if len(na) != len(nb) {
		if len(na) < len(nb) {
			return -1
		}
		return 1
	}
	return strings.Compare(na, nb)
}

func leadingNumber(s string) (string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", true
	}
	return strings.TrimLeft(s[:i], "0"), false
}

// A glob is a compiled :matches pattern (RFC 5228 2.7.1: * any sequence,
// ? one character, \ escapes): its segments between stars, each a list
// of pieces "q single characters, then the literal lit".
//
// Matching is greedy by segment: the first segment is anchored at the
// start, the last at the end, and each one between at its leftmost place
// after the previous. That is exact for globs, and with strings.Index
// finding literals it is linear for star-separated literals; only a
// segment mixing ? and literals can cost text x segment, which the run's
// work budget stops.
type glob [][]piece

// pieceCost is the work charged for a step of a piece, in bytes compared:
// a rune decoded and a call cost what scanning about this many bytes
// does.
const pieceCost = 16

type piece struct {
	q   int
	lit string
}

func compileGlob(p string) glob {
	var g glob
	var seg []piece
	var cur piece
	var lit []byte
	flush := func() {
		cur.lit = string(lit)
		lit = lit[:0]
		if cur.q > 0 || cur.lit != "" {
			seg = append(seg, cur)
		}
		cur = piece{}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			i++
			lit = append(lit, p[i])
		case c == '?':
			if len(lit) > 0 {
				flush()
			}
			cur.q++
		case c == '*':
			flush()
			g = append(g, seg)
			seg = nil
		default:
			lit = append(lit, c)
		}
	}
	flush()
	return append(g, seg)
}

// glob reports whether s matches g, charging the work.
func (st *state) glob(s string, g glob) bool {
	if len(g) == 1 {
		end, ok := st.matchAt(s, 0, g[0])
		return ok && end == len(s)
	}
	i, ok := st.matchAt(s, 0, g[0])
	if !ok {
		return false
	}
	j, ok := st.matchEnd(s, len(s), g[len(g)-1])
	if !ok || j < i {
		return false
	}
	for _, seg := range g[1 : len(g)-1] {
		e, ok := st.find(s[:j], i, seg)
		if !ok {
			return false
		}
		i = e
	}
	return true
}

// matchAt matches seg at s[i:] and returns where it ends.
func (st *state) matchAt(s string, i int, seg []piece) (int, bool) {
	for _, p := range seg {
		if !st.charge(pieceCost*(p.q+1) + len(p.lit)) {
			return 0, false
		}
		for range p.q {
			if i >= len(s) {
				return 0, false
			}
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n
		}
		if !strings.HasPrefix(s[i:], p.lit) {
			return 0, false
		}
		i += len(p.lit)
	}
	return i, true
}

// matchEnd matches seg so that it ends at s[:end] and returns where it
// starts.
func (st *state) matchEnd(s string, end int, seg []piece) (int, bool) {
	for k := len(seg) - 1; k >= 0; k-- {
		p := seg[k]
		if !st.charge(pieceCost*(p.q+1) + len(p.lit)) {
			return 0, false
		}
		if !strings.HasSuffix(s[:end], p.lit) {
			return 0, false
		}
		end -= len(p.lit)
		for range p.q {
			if end <= 0 {
				return 0, false
			}
			_, n := utf8.DecodeLastRuneInString(s[:end])
			end -= n
		}
	}
	return end, true
}

// find matches seg at its leftmost place in s at or after from and
// returns where that match ends.
func (st *state) find(s string, from int, seg []piece) (int, bool) {
	if len(seg) == 0 {
		return from, true
	}
	first := seg[0]
	if first.lit == "" { // only ?s: they match at from or nowhere
		return st.matchAt(s, from, seg)
	}
	for at := from; at <= len(s); {
		k := strings.Index(s[at:], first.lit)
		scanned := k
		if k < 0 {
			scanned = len(s) - at
		}
		if !st.charge(scanned + len(first.lit)) {
			return 0, false
		}
		if k < 0 {
			return 0, false
		}
		k += at
		// The segment starts first.q characters before its literal.
		start, ok := k, true
		for range first.q {
			if start <= from {
				ok = false
				break
			}
			_, n := utf8.DecodeLastRuneInString(s[:start])
			start -= n
		}
		if ok && start >= from {
			if e, ok := st.matchAt(s, k+len(first.lit), seg[1:]); ok {
				return e, true
			} else if st.err != nil {
				return 0, false
			}
		}
		at = k + 1
	}
	return 0, false
}
