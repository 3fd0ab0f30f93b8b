package mailauth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSRS: a forwarded sender comes back as the original address within
// the lifetime, and a forged or stale one is refused.
func TestSRS(t *testing.T) {
	s := &SRS{Key: []byte("secret")}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	fwd, err := s.Forward("Alice@Sender.example", "example.net", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fwd, "SRS0=") || !strings.HasSuffix(fwd, "=Sender.example=Alice@example.net") {
		t.Fatalf("forward: %s", fwd)
	}
	local := fwd[:strings.LastIndexByte(fwd, '@')]
	for _, l := range []string{local, strings.ToLower(local[:5]) + local[5:]} {
		back, err := s.Reverse(l, now.Add(20*24*time.Hour))
		if err != nil || back != "Alice@Sender.example" {
			t.Fatalf("reverse %s: %q %v", l, back, err)
		}
	}
	if _, err := s.Reverse(local, now.Add(22*24*time.Hour)); !errors.Is(err, ErrSRS) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("stale address: %v", err)
	}
	forged := strings.Replace(local, "Alice", "Mallory", 1)
	if _, err := s.Reverse(forged, now); err == nil || !strings.Contains(err.Error(), "bad hash") {
		t.Fatalf("forged address: %v", err)
	}
	if _, err := (&SRS{Key: []byte("other")}).Reverse(local, now); err == nil {
		t.Fatal("another key accepted it")
	}
	// Forwarded twice: SRS1 names the first forwarder, and reverses to its SRS0.
	twice, _ := (&SRS{Key: []byte("k2")}).Forward(fwd, "second.example", now)
	if !strings.HasPrefix(twice, "SRS1=") || !strings.Contains(twice, "=example.net==") {
		t.Fatalf("srs1: %s", twice)
	}
	back, err := (&SRS{Key: []byte("k2")}).Reverse(twice[:strings.LastIndexByte(twice, '@')], now)
	if err != nil || back != fwd {
		t.Fatalf("srs1 reverse: %q %v", back, err)
	}
	if f, _ := s.Forward("", "example.net", now); f != "" {
		t.Fatal("null sender rewritten")
	}
	if f, _ := s.Forward("me@example.net", "example.net", now); f != "me@example.net" {
		t.Fatal("own address rewritten")
	}
	for _, bad := range []string{"SRS0=", "SRS0=abcd=XX", "SRS1=x", "nosrs", ""} {
		if _, err := s.Reverse(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
