package wire

import (
	"strconv"
)

// Range is one element of a sequence set: Start:Stop, or one number
// when they are equal. 0 stands for "*" (the largest number in use).
// Ranges are kept as written (Start may be above Stop); see Contains.
type Range struct {
	Start, Stop uint32
}

// SeqSet is a sequence set (RFC 9051 9 sequence-set) or "$", the saved
// search result (RFC 5182). It is a list of ranges and is never
// expanded, so "1:4294967295" costs the same as "1".
type SeqSet struct {
	Ranges []Range
	// Saved is "$": the client refers to the last SEARCH RETURN (SAVE).
	Saved bool
}

// Bounds is the range as lo <= hi, with star the value of "*".
func (r Range) Bounds(star uint32) (lo, hi uint32) {
	lo, hi = r.Start, r.Stop
	if lo == 0 {
		lo = star
	}
	if hi == 0 {
		hi = star
	}
	return min(lo, hi), max(lo, hi)
}

// Contains reports whether n is in s, with star the value of "*" (the
// number of messages or the largest UID). It is false for "$".
func (s SeqSet) Contains(n, star uint32) bool {
	for _, r := range s.Ranges {
		lo, hi := r.Bounds(star)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// Bounds returns the smallest and largest number s can hold with star
// the value of "*".
func (s SeqSet) Bounds(star uint32) (lo, hi uint32) {
	for i, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == 0 {
			a = star
		}
		if b == 0 {
			b = star
		}
		if a > b {
			a, b = b, a
		}
		if i == 0 || a < lo {
			lo = a
		}
		if b > hi {
			hi = b
		}
	}
	return lo, hi
}

// Dynamic reports whether s uses "*".
func (s SeqSet) Dynamic() bool {
	for _, r := range s.Ranges {
		if r.Start == 0 || r.Stop == 0 {
			return true
		}
	}
	return false
}

// String writes s the way IMAP does.
func (s SeqSet) String() string { return string(s.AppendTo(nil)) }

// AppendTo appends s in IMAP syntax to b.
func (s SeqSet) AppendTo(b []byte) []byte {
	if s.Saved {
		return append(b, '$')
	}
	for i, r := range s.Ranges {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSeqNum(b, r.Start)
		if r.Stop != r.Start {
			b = append(b, ':')
			b = appendSeqNum(b, r.Stop)
		}
	}
	return b
}

func appendSeqNum(b []byte, n uint32) []byte {
	if n == 0 {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(n), 10)
}

// ParseSeqSet parses a sequence set, or "$" when saved is allowed.
func ParseSeqSet(s string, saved bool) (SeqSet, error) {
	if s == "$" {
		if !saved {
			return SeqSet{}, syntaxError("$ not allowed here")
		}
		return SeqSet{Saved: true}, nil
	}
	var set SeqSet
	for len(s) > 0 {
		var r Range
		var err error
		if r.Start, s, err = seqNum(s); err != nil {
			return SeqSet{}, err
		}
		r.Stop = r.Start
		if len(s) > 0 && s[0] == ':' {
			if r.Stop, s, err = seqNum(s[1:]); err != nil {
				return SeqSet{}, err
			}
		}
		set.Ranges = append(set.Ranges, r)
		if len(s) == 0 {
			break
		}
		if s[0] != ',' || len(s) == 1 {
			return SeqSet{}, syntaxError("bad sequence set")
		}
		s = s[1:]
	}
	if len(set.Ranges) == 0 {
		return SeqSet{}, syntaxError("empty sequence set")
	}
	return set, nil
}

// seqNum reads a nz-number or "*" at the start of s.
func seqNum(s string) (uint32, string, error) {
	if len(s) > 0 && s[0] == '*' {
		return 0, s[1:], nil
	}
	i := 0
	var n uint64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + uint64(s[i]-'0')
		if n > maxUint32 {
			return 0, "", syntaxError("sequence number out of range")
		}
		i++
	}
	if i == 0 || n == 0 {
		return 0, "", syntaxError("bad sequence number")
	}
	return uint32(n), s[i:], nil
}

// isSeqChar is what a sequence set is written with.
func isSeqChar(c byte) bool {
	return c >= '0' && c <= '9' || c == ':' || c == ',' || c == '*' || c == '$'
}

// seqSet reads a sequence set ("$" allowed when saved is true).
func (r *Reader) seqSet(saved bool) (SeqSet, error) {
	w, err := r.word(isSeqChar, "a sequence set")
	if err != nil {
		return SeqSet{}, err
	}
	return ParseSeqSet(w, saved)
}
