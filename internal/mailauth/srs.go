package mailauth

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SRS rewrites envelope senders of forwarded mail (the Sender Rewriting
// Scheme of Shevek's paper, as postsrsd does) so the forwarded copy
// passes SPF at the destination, and reverses the rewritten address when
// a bounce comes back:
//
//	SRS0=HHHH=TT=orig-domain=orig-local@forward-domain
//
// HHHH is the first 4 base64 characters of an HMAC-SHA1 over TT, domain
// and local part (lower-cased); TT is the day number modulo 1024 in two
// base32 characters. A sender that already is SRS0 (mail forwarded
// twice) becomes SRS1=HHHH=first-forwarder==HHHH=TT=domain=local@us.
type SRS struct {
	Key []byte
	// MaxAge is how long a rewritten address is accepted back; default
	// 21 days.
	MaxAge time.Duration
}

// ErrSRS is a bounce address that is not a valid SRS address of ours.
var ErrSRS = errors.New("invalid SRS address")

const srsBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func (s *SRS) hash(parts ...string) string {
	m := hmac.New(sha1.New, s.Key)
	for _, p := range parts {
		m.Write([]byte(strings.ToLower(p)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:4]
}

func srsDay(t time.Time) int { return int(t.Unix()/86400) % 1024 }

func srsStamp(t time.Time) string {
	d := srsDay(t)
	return string([]byte{srsBase32[d>>5&31], srsBase32[d&31]})
}

// IsSRS reports whether local is an SRS local part.
func IsSRS(local string) bool {
	l := strings.ToUpper(local)
	return strings.HasPrefix(l, "SRS0=") || strings.HasPrefix(l, "SRS1=")
}

// Forward returns the envelope sender for forwarding mail from sender
// through domain. The null sender stays null.
func (s *SRS) Forward(sender, domain string, now time.Time) (string, error) {
	if sender == "" {
		return "", nil
	}
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 || at == len(sender)-1 {
		return "", fmt.Errorf("SRS: sender %q has no domain", sender)
	}
	local, sdom := sender[:at], sender[at+1:]
	if strings.EqualFold(sdom, domain) {
		return sender, nil // our own address passes SPF already
	}
	switch strings.ToUpper(local[:min(5, len(local))]) {
	case "SRS0=":
		// SRS1=HHHH=sdom==<rest after "SRS0">
		rest := local[4:]
		return "SRS1=" + s.hash(sdom, rest) + "=" + sdom + "=" + rest + "@" + domain, nil
	case "SRS1=":
		// Keep the first forwarder: SRS1=HHH=first==rest, rehashed.
		parts := strings.SplitN(local[5:], "=", 3)
		if len(parts) == 3 {
			return "SRS1=" + s.hash(parts[1], parts[2]) + "=" + parts[1] + "=" + parts[2] + "@" + domain, nil
		}
	}
	ts := srsStamp(now)
	return "SRS0=" + s.hash(ts, sdom, local) + "=" + ts + "=" + sdom + "=" + local + "@" + domain, nil
}

// Reverse returns the address an SRS local part stands for, checking the
// hash and, for SRS0, the age. For SRS1 it is the first forwarder's SRS0
// address.
func (s *SRS) Reverse(local string, now time.Time) (string, error) {
	switch strings.ToUpper(local[:min(5, len(local))]) {
	case "SRS0=":
		p := strings.SplitN(local[5:], "=", 4)
		if len(p) != 4 || len(p[1]) != 2 || p[2] == "" || p[3] == "" {
			return "", fmt.Errorf("%w: malformed", ErrSRS)
		}
		// Case-insensitive: MTAs (and delivery) lower-case local parts.
		if !hmac.Equal([]byte(strings.ToLower(s.hash(p[1], p[2], p[3]))), []byte(strings.ToLower(p[0]))) {
			return "", fmt.Errorf("%w: bad hash", ErrSRS)
		}
		hi := strings.IndexByte(srsBase32, strings.ToUpper(p[1])[0])
		lo := strings.IndexByte(srsBase32, strings.ToUpper(p[1])[1])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: bad timestamp", ErrSRS)
		}
		age := (srsDay(now) - (hi<<5 | lo) + 1024) % 1024
		maxAge := s.MaxAge
		if maxAge == 0 {
			maxAge = 21 * 24 * time.Hour
		}
		if time.Duration(age)*24*time.Hour > maxAge {
			return "", fmt.Errorf("%w: expired", ErrSRS)
		}
		return p[3] + "@" + p[2], nil
	case "SRS1=":
		p := strings.SplitN(local[5:], "=", 3)
		if len(p) != 3 || p[1] == "" || !strings.HasPrefix(p[2], "=") {
			return "", fmt.Errorf("%w: malformed", ErrSRS)
		}
		if !hmac.Equal([]byte(strings.ToLower(s.hash(p[1], p[2]))), []byte(strings.ToLower(p[0]))) {
			return "", fmt.Errorf("%w: bad hash", ErrSRS)
		}
		return "SRS0" + p[2] + "@" + p[1], nil
	}
	return "", fmt.Errorf("%w: not SRS", ErrSRS)
}
