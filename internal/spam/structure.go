package spam

import (
	"net/mail"
	"strings"
	"time"
)

// Structure tokens ("x:" prefix): facts of a message's form that a bulk
// mailer leaves whatever its words, learned by both models like any
// token: the Date field against the time the message was received
// (missing, unreadable, without a zone, in the future, or days old), and
// 8-bit text its part or Subject does not declare a charset for. Of the
// header facts tried on the corpus (bench/results/spam-2026-12-07.md)
// these moved every point of the curve a little; the Received chain's
// shape (HELO an address or a bare name, no or a dynamic-looking reverse
// name), the Message-ID's domain against the author's and the To field's
// shape did not, and are not tokens.

// headerFacts are the fields the structure tokens read, kept while the
// header is walked.
type headerFacts struct {
	received []string // Received values, newest first
	date     string
	hasDate  bool
}

// maxReceived bounds the Received fields kept.
const maxReceived = 4

// note keeps a field the structure tokens need.
func (h *headerFacts) note(name, v string) {
	switch name {
	case "received":
		if len(h.received) < maxReceived {
			h.received = append(h.received, v)
		}
	case "date":
		h.date, h.hasDate = v, true
	}
}

// structure adds the structure tokens of the header's facts. authserv
// is the box's host name: the Received field it added gives the time of
// receipt only when no other does (the corpus benchmark delivers mail
// written years ago, and a relay's own field is as good a clock).
func (t *tokenizer) structure(h *headerFacts, authserv string) {
	var at time.Time
	for _, r := range h.received {
		own := authserv != "" && strings.Contains(strings.ToLower(r), "by "+strings.ToLower(authserv))
		if own && !at.IsZero() {
			continue
		}
		if i := strings.LastIndexByte(r, ';'); i >= 0 {
			if d, err := mail.ParseDate(strings.TrimSpace(r[i+1:])); err == nil {
				at = d
				if !own {
					break
				}
			}
		}
	}
	t.dateShape(h, at)
}

// dateShape adds the shape of the Date field: missing, unreadable,
// without a zone, or far from when the message was received (rcvd, zero
// when unknown).
func (t *tokenizer) dateShape(h *headerFacts, rcvd time.Time) {
	v := strings.TrimSpace(h.date)
	if !h.hasDate || v == "" {
		t.add("x:date:none")
		return
	}
	if i := strings.IndexByte(v, '('); i > 0 {
		v = strings.TrimSpace(v[:i])
	}
	d, err := mail.ParseDate(v)
	if err != nil {
		if f := strings.Fields(v); len(f) > 0 && strings.Count(f[len(f)-1], ":") == 2 {
			t.add("x:date:nozone")
			return
		}
		t.add("x:date:unreadable")
		return
	}
	if rcvd.IsZero() {
		return
	}
	switch skew := rcvd.Sub(d); {
	case skew < -time.Hour:
		t.add("x:date:future")
	case skew > 48*time.Hour:
		t.add("x:date:old")
	case skew > 6*time.Hour:
		t.add("x:date:late")
	}
}

// has8bit reports whether s holds bytes beyond ASCII.
func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}
