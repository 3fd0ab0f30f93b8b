package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"boxmail/internal/dnsrecords"
)

func TestTheStatusPageShowsTheLastResultAtOnceWithItsAge(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	runs := 0
	ts, _, _ := newServerWith(t, func(o *Options) {
		o.Now = func() time.Time { return now }
		o.Status = func(context.Context) ([]dnsrecords.Result, error) {
			runs++
			return []dnsrecords.Result{{Subject: "MX", Check: "mx record", Level: dnsrecords.OK, Found: "found"}}, nil
		}
	})
	c := client(ts)
	login(t, ts, c, "admin@example.net", adminPW)
	_, body := get(t, c, ts.URL+"/admin/status")
	if runs != 1 || !strings.Contains(body, "mx record") || !strings.Contains(body, "just now") {
		t.Fatalf("first view: runs=%d, page:\n%s", runs, body)
	}
	now = now.Add(5 * time.Minute)
	_, body = get(t, c, ts.URL+"/admin/status")
	if runs != 1 || !strings.Contains(body, "mx record") || !strings.Contains(body, "5 minutes ago") {
		t.Fatalf("second view: runs=%d, page:\n%s", runs, body)
	}
	_, body = get(t, c, ts.URL+"/admin/status?run=1")
	if runs != 2 || !strings.Contains(body, "just now") {
		t.Fatalf("run again: runs=%d, page:\n%s", runs, body)
	}
}
