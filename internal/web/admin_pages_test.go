package web

import (
	"context"
	"net/http"
	"net/url"
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

func TestTheUsersPageShowsAndSetsTheQuota(t *testing.T) {
	ts, st, _ := newServerWith(t, nil)
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	post := func(mb string) string {
		t.Helper()
		res, err := adm.PostForm(ts.URL+"/admin/users", url.Values{"csrf": {csrf}, "op": {"quota"}, "email": {"kid@example.net"}, "quota_mb": {mb}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		_, body := get(t, adm, ts.URL+"/admin/users")
		return body
	}
	quota := func() int64 {
		us, err := st.Usages(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.Email == "kid@example.net" {
				return u.Quota
			}
		}
		return -1
	}
	body := post("200")
	if quota() != 200<<20 || !strings.Contains(body, "may now store 200 MB") || !strings.Contains(body, "of 200.0 MB allowed") || !strings.Contains(body, `value="200"`) {
		t.Errorf("set 200 MB: quota %d, page:\n%s", quota(), body)
	}
	body = post("lots")
	if quota() != 200<<20 || !strings.Contains(body, "whole number of megabytes") {
		t.Errorf("bad quota: quota %d, page:\n%s", quota(), body)
	}
	body = post("0")
	if quota() != 0 || !strings.Contains(body, "has no quota now") || strings.Contains(body, "allowed</span>") {
		t.Errorf("no quota: quota %d, page:\n%s", quota(), body)
	}
}

func TestTheVacationFormSetsShowsAndRefusesAPastEndDate(t *testing.T) {
	ts, st, _ := newServerWith(t, nil)
	kid := client(ts)
	csrf := login(t, ts, kid, "kid@example.net", userPW)
	post := func(v url.Values) string {
		t.Helper()
		v.Set("csrf", csrf)
		res, err := kid.PostForm(ts.URL+"/account/vacation", v)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /account/vacation: %s", res.Status)
		}
		_, body := get(t, kid, ts.URL+"/account")
		return body
	}
	script := kidScript(t, st)
	_, body := get(t, kid, ts.URL+"/account")
	if !strings.Contains(body, "Off: nobody gets an automatic reply") {
		t.Errorf("account page before: no vacation state:\n%s", body)
	}
	until := time.Now().AddDate(0, 0, 10).Format("2006-01-02")
	body = post(url.Values{"op": {"set"}, "subject": {"Out hiking"}, "body": {"Back soon.\r\nKid"}, "until": {until}})
	if !strings.Contains(body, "Your away reply is on") || !strings.Contains(body, "Out hiking") || !strings.Contains(body, "until "+until) ||
		!strings.Contains(body, `value="`+until+`"`) || !strings.Contains(script(), "vacation") {
		t.Errorf("set: script %q, page:\n%s", script(), body)
	}
	before := script()
	body = post(url.Values{"op": {"set"}, "subject": {"Gone"}, "body": {"x"}, "until": {"2000-01-01"}})
	if !strings.Contains(body, "which is past") || script() != before {
		t.Errorf("past end date: script changed %v, page:\n%s", script() != before, body)
	}
	body = post(url.Values{"op": {"off"}})
	if !strings.Contains(body, "Your away reply is off") || strings.Contains(script(), "vacation :days") {
		t.Errorf("off: script %q, page:\n%s", script(), body)
	}
}

func TestTheAdminSetsAUsersAwayReplyOnTheUsersPage(t *testing.T) {
	ts, st, _ := newServerWith(t, nil)
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	script := kidScript(t, st)
	post := func(v url.Values) string {
		t.Helper()
		v.Set("csrf", csrf)
		v.Set("email", "kid@example.net")
		res, err := adm.PostForm(ts.URL+"/admin/users", v)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		_, body := get(t, adm, ts.URL+"/admin/users")
		return body
	}
	until := time.Now().AddDate(0, 0, 3).Format("2006-01-02")
	body := post(url.Values{"op": {"vacation-set"}, "subject": {"Away"}, "body": {"Back soon."}, "until": {until}})
	if !strings.Contains(body, "away reply of kid@example.net is on") || !strings.Contains(body, "Away reply: on until "+until) || !strings.Contains(script(), "vacation") {
		t.Errorf("set: script %q, page:\n%s", script(), body)
	}
	body = post(url.Values{"op": {"vacation-set"}, "subject": {"Away"}, "body": {"x"}, "until": {"2001-02-03"}})
	if !strings.Contains(body, "which is past") || strings.Contains(script(), "2001-02-03") {
		t.Errorf("past end date: script %q, page:\n%s", script(), body)
	}
	body = post(url.Values{"op": {"vacation-off"}})
	if !strings.Contains(body, "away reply of kid@example.net is off") || strings.Contains(script(), "vacation :days") {
		t.Errorf("off: script %q, page:\n%s", script(), body)
	}
}
