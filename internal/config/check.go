package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// checkHostname accepts a host name (RFC 1123: dot-separated labels of
// letters, digits and inner hyphens, at most 63 bytes each and 253 in
// all), already lower-cased and without a final dot.
func checkHostname(h string) error {
	if h == "" {
		return fmt.Errorf("empty: want the box's host name, such as mail.example.net")
	}
	bad := len(h) > 253
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' ||
			strings.ContainsFunc(l, func(r rune) bool { return !(r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%q is not a host name: want dot-separated letters, digits and hyphens, such as mail.example.net", h)
	}
	return nil
}

// numberIn parses a whole number from lo to hi.
func numberIn(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number: want a number from %d to %d", v, lo, hi)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range: want a number from %d to %d", n, lo, hi)
	}
	return n, nil
}

// notEmpty refuses an empty value of a setting that must have one.
func notEmpty(v, want string) error {
	if v == "" {
		return fmt.Errorf("empty: want %s", want)
	}
	return nil
}

// suggest names the known settings closest to an unknown key k (a typo
// such as smtp_prot), or says where the settings are listed.
func suggest(k string) string {
	var near []string
	for f := range allFields() {
		if EditDistance(strings.ToLower(k), f) <= 2 {
			near = append(near, f)
		}
	}
	if len(near) == 0 {
		return "the boxmail.conf that 'boxmail init' writes lists every setting"
	}
	sort.Strings(near)
	return "did you mean " + strings.Join(near, " or ") + "?"
}

// EditDistance is the Levenshtein distance between a and b, in bytes:
// the "did you mean" of an unknown setting here and of an unknown
// command in cmd/boxmail.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
