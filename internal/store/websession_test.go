package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestWebSessionsAreKeptByTheHashOfTheirToken(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if err := s.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	a, err := s.AddAccount(ctx, "me@example.net", "pw-pw-pw-pw", false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(time.Now().Unix(), 0)
	for _, tok := range []string{"tok-1", "tok-2", "tok-old"} {
		at := now
		if tok == "tok-old" {
			at = now.Add(-24 * time.Hour)
		}
		if err := s.RecordWebSession(ctx, tok, WebSession{AccountID: a.ID, Stamp: "st", CSRF: "c-" + tok, Created: at, Seen: at}); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := s.WebSessionByToken(ctx, "tok-1")
	if err != nil || ws.Email != "me@example.net" || ws.CSRF != "c-tok-1" || !ws.Created.Equal(now) {
		t.Fatalf("WebSessionByToken = %+v, %v", ws, err)
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM web_sessions WHERE token_hash = ? OR CAST(token_hash AS TEXT) LIKE '%tok-%'", "tok-1").Scan(&n); err != nil || n != 0 {
		t.Errorf("a raw token is in the table: %d %v", n, err)
	}
	var h []byte
	if err := s.rdb.QueryRowContext(ctx, "SELECT token_hash FROM web_sessions LIMIT 1").Scan(&h); err != nil || len(h) != 32 || bytes.Contains(h, []byte("tok")) {
		t.Errorf("token_hash %x, %v", h, err)
	}
	if err := s.TouchWebSession(ctx, "tok-1", "st2", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ws, _ := s.WebSessionByToken(ctx, "tok-1"); ws.Stamp != "st2" || !ws.Seen.Equal(now.Add(time.Minute)) {
		t.Errorf("after Touch: %+v", ws)
	}
	ended, err := s.EndWebSessions(ctx, "me@example.net", "tok-1", now.Add(-12*time.Hour), now.Add(-2*time.Hour))
	if err != nil || ended != 1 {
		t.Errorf("EndWebSessions = %d, %v; want 1 (tok-2; tok-old expired)", ended, err)
	}
	if _, err := s.WebSessionByToken(ctx, "tok-old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the expired session is still kept: %v", err)
	}
	if err := s.EndWebSession(ctx, "tok-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WebSessionByToken(ctx, "tok-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a logged-out session is still kept: %v", err)
	}
}
