package spam

import (
	"strconv"
	"strings"
	"unicode"
)

// Shape tokens ("m:" prefix): facts of a message's form that spam of one
// year shares with spam of the next although its words change: how many
// links, words in capitals, sums of money and percentages it has, its
// words per image, its top media type, and the shapes of its Subject and
// From fields.

// shapeCounts are what the tokenizer counts while it reads the text.
type shapeCounts struct {
	words, caps, urls, imgs, money, pct, received int
}

// bucket returns the smallest of limits at least n, or "more".
func bucket(n int, limits ...int) string {
	for _, l := range limits {
		if n <= l {
			return strconv.Itoa(l)
		}
	}
	return "more"
}

// shapes adds the body's shape tokens.
func (t *tokenizer) shapes(topType string) {
	c := t.shape
	t.add("m:top:" + topType)
	t.add("m:rcvd:" + bucket(t.shape.received, 1, 2, 3, 4, 5, 6, 7))
	t.add("m:urls:" + bucket(c.urls, 0, 1, 2, 5, 10))
	t.add("m:words:" + bucket(c.words, 10, 30, 100, 300, 1000))
	if c.words > 0 {
		t.add("m:caps%:" + bucket(100*c.caps/c.words, 0, 2, 5, 10, 20))
	}
	t.add("m:money:" + bucket(c.money, 0, 1, 4))
	t.add("m:pct:" + bucket(c.pct, 0, 1, 4))
	if c.imgs > 0 {
		t.add("m:words/img:" + bucket(c.words/c.imgs, 10, 50, 200))
	}
}

// subjectShape adds the shape tokens of a decoded Subject.
func (t *tokenizer) subjectShape(s string) {
	s = strings.TrimRight(s, " \t")
	if s == "" {
		t.add("m:subj:empty")
		return
	}
	letters, upper := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters >= 6 && upper*10 >= letters*8 {
		t.add("m:subj:caps")
	}
	if strings.ContainsRune(s, '!') {
		t.add("m:subj:excl")
	}
	if strings.ContainsAny(s, "$%") {
		t.add("m:subj:money")
	}
	// A run of spaces before a last word: a mailer's serial number.
	if i := strings.LastIndex(s, "   "); i >= 0 && !strings.ContainsAny(strings.TrimLeft(s[i:], " "), " \t") {
		t.add("m:subj:tail-id")
	}
}

// fromShape adds the shape tokens of the From field's author.
func (t *tokenizer) fromShape(name, addr string) {
	local := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local = addr[:i]
	}
	digits := 0
	for _, r := range local {
		if '0' <= r && r <= '9' {
			digits++
		}
	}
	if digits >= 3 {
		t.add("m:from:digits")
	}
	switch {
	case strings.TrimSpace(name) == "":
		t.add("m:from:noname")
	case strings.Contains(name, "@"):
		t.add("m:from:name-at")
	}
}
