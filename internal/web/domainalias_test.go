package web

import (
	"context"
	"strings"
	"testing"
)

func TestTheAliasAPIAddsADomainAliasThroughAdminsChecks(t *testing.T) {
	ts, st, _ := newServerWith(t, nil)
	ctx := context.Background()
	if err := st.AddDomain(ctx, "old.example"); err != nil {
		t.Fatal(err)
	}
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	for _, c := range []struct{ body, want string }{
		{`{"address":"@old.example","targets":["@nowhere.example"]}`, "not a domain of this box"},
		{`{"address":"@old.example","targets":["@example.net","kid@example.net"]}`, "no other target"},
		{`{"address":"x@old.example","targets":["@example.net"]}`, "must be @domain"},
		{`{"address":"@old.example","targets":["@bad domain"]}`, "target"},
	} {
		code, m := api(t, adm, "POST", ts.URL+"/admin/api/aliases", csrf, c.body)
		if msg, _ := m["error"].(string); code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("POST %s: %d %q, want 400 mentioning %q", c.body, code, msg, c.want)
		}
	}
	if code, m := api(t, adm, "POST", ts.URL+"/admin/api/aliases", csrf, `{"address":"@Old.Example","targets":["@Example.NET"]}`); code != 200 {
		t.Fatalf("add domain alias: %d %v", code, m)
	}
	if al, err := st.AliasByAddress(ctx, "@old.example"); err != nil || len(al.Targets) != 1 || al.Targets[0] != "@example.net" {
		t.Fatalf("stored %+v, %v", al, err)
	}
	if _, body := get(t, adm, ts.URL+"/admin/api/aliases"); !strings.Contains(body, `"domain_alias": true`) || strings.Contains(body, `"catch_all": true`) {
		t.Errorf("alias list does not call it a domain alias: %s", body)
	}
}
