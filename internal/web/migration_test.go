package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"boxmail/internal/admin"
)

func TestTheMigrationPageShowsTheChecklist(t *testing.T) {
	since := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	runs := 0
	ts, _, _ := newServerWith(t, func(o *Options) {
		o.measureMigration = func(context.Context) ([]admin.MigrationDomain, error) {
			runs++
			return []admin.MigrationDomain{{Domain: "example.net", Steps: []admin.MigrationStep{
				{N: 1, Name: "accounts created on the box", State: "done", Found: "2 accounts", Since: since, Detail: []string{"admin@example.net", "kid@example.net"}},
				{N: 5, Name: "MX points at the box", State: "waiting", Found: "propagated to 1 of 3 resolvers", Next: "wait for the old record's TTL"},
				{N: 7, Name: "SPF hardened to the box alone", State: "to do", Found: "v=spf1 include:old -all", Next: "boxmail spf harden example.net"},
			}}}, nil
		}
	})
	anon, kid, adm := client(ts), client(ts), client(ts)
	login(t, ts, kid, "kid@example.net", userPW)
	login(t, ts, adm, "admin@example.net", adminPW)
	if code, _ := api(t, anon, "GET", ts.URL+"/admin/api/migration", "", ""); code != 401 {
		t.Errorf("API without login: %d", code)
	}
	if code, _ := api(t, kid, "GET", ts.URL+"/admin/api/migration", "", ""); code != 403 {
		t.Errorf("API as a user: %d", code)
	}
	if code, _ := get(t, kid, ts.URL+"/admin/migration?run=1"); code != 403 {
		t.Errorf("page as a user: %d", code)
	}
	if runs != 0 {
		t.Fatalf("refused requests measured the checklist %d times", runs)
	}
	if _, page := get(t, adm, ts.URL+"/admin/migration"); runs != 0 || !strings.Contains(page, "Check now") {
		t.Errorf("the page measured before being asked (runs %d) or has no button", runs)
	}
	_, page := get(t, adm, ts.URL+"/admin/migration?run=1")
	for _, want := range []string{"example.net", "accounts created on the box", "since 2026-11-02", "kid@example.net", "propagated to 1 of 3", "Next: <code>boxmail spf harden example.net</code>", `class="lvl warn">waiting`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "Next: <code>") && strings.Count(page, "Next: <code>") != 2 {
		t.Errorf("a done step shows a next action")
	}
	code, _ := api(t, adm, "GET", ts.URL+"/admin/api/migration", "", "")
	req, _ := http.NewRequest("GET", ts.URL+"/admin/api/migration", nil)
	res, _ := adm.Do(req)
	var got []admin.MigrationDomain
	json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if code != 200 || len(got) != 1 || len(got[0].Steps) != 3 || got[0].Steps[1].State != "waiting" {
		t.Errorf("API: %d %+v", code, got)
	}
	// Without the hook, the page says so and the API is a clear 400.
	ts2, _, _ := newServerWith(t, nil)
	adm2 := client(ts2)
	login(t, ts2, adm2, "admin@example.net", adminPW)
	if _, page := get(t, adm2, ts2.URL+"/admin/migration"); !strings.Contains(page, "not wired into this server") {
		t.Error("no hook: the page does not say so")
	}
	if code, m := api(t, adm2, "GET", ts2.URL+"/admin/api/migration", "", ""); code != 400 || !strings.Contains(fmt.Sprint(m), "not available") {
		t.Errorf("no hook: API %d %v", code, m)
	}
}
