package store

import (
	"context"
	"testing"
	"time"
)

func TestZZProbe(t *testing.T) {
	s := openTemp(t)
	a := newAccount(t, s, "me@example.test")
	fillMailbox(t, s, a.ID, 100_000)
	ctx := context.Background()
	mb, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	for _, q := range []string{
		"SELECT count(*) FROM messages WHERE mailbox_id = ? AND keywords IS NOT NULL",
		"SELECT count(DISTINCT keywords) FROM messages WHERE mailbox_id = ?",
		"SELECT count(*), coalesce(sum(flags & 32 != 0), 0), min(CASE WHEN flags & 1 = 0 THEN uid END), length(group_concat(uid, ',')) FROM messages WHERE mailbox_id = ?",
	} {
		for range 2 {
			st := time.Now()
			var n any
			if err := s.rdb.QueryRowContext(ctx, q, mb.ID).Scan(&n); err != nil {
				t.Log(err)
			}
			t.Logf("%v %v %s", time.Since(st), n, q)
		}
	}
	for range 3 {
		st := time.Now()
		s.SelectMailbox(ctx, a.ID, "INBOX")
		t.Logf("select %v", time.Since(st))
	}
}
