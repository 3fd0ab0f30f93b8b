package admin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"boxmail/internal/store"
)

func TestParseAliasTargetTakesAnAddressOrADomain(t *testing.T) {
	for in, want := range map[string]string{"@New.Example": "@new.example", "A@Example.NET": "a@example.net"} {
		if got, err := ParseAliasTarget(in); err != nil || got != want {
			t.Errorf("ParseAliasTarget(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"@", "@bad domain", "no-at", "@-x.example"} {
		if _, err := ParseAliasTarget(in); err == nil {
			t.Errorf("ParseAliasTarget(%q) accepted", in)
		}
	}
}

func TestDomainAliasChecks(t *testing.T) {
	s, st := newBox(t)
	ctx := context.Background()
	for _, d := range []string{"old.example", "older.example", "third.example"} {
		if err := st.AddDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddAlias(ctx, store.Alias{Address: "@old.example", Targets: []string{"@example.net"}}); err != nil {
		t.Fatalf("domain alias refused: %v", err)
	}
	for _, tc := range []struct {
		al   store.Alias
		want string
	}{
		{store.Alias{Address: "@gone.example", Targets: []string{"@example.net"}}, "gone.example is not a domain of this box"},
		{store.Alias{Address: "@older.example", Targets: []string{"@nowhere.example"}}, "nowhere.example is not a domain of this box"},
		{store.Alias{Address: "@older.example", Targets: []string{"@older.example"}}, "its own domain"},
		{store.Alias{Address: "@older.example", Targets: []string{"@example.net", "a@example.net"}}, "no other target"},
		{store.Alias{Address: "x@older.example", Targets: []string{"@example.net"}}, "must be @domain"},
		{store.Alias{Address: "@older.example", Targets: []string{"@old.example"}}, "@old.example is itself a domain alias"},
		{store.Alias{Address: "@example.net", Targets: []string{"@old.example"}}, "is itself a domain alias"}, // a -> b -> a
		{store.Alias{Address: "@example.net", Targets: []string{"@third.example"}}, "@old.example is a domain alias to @example.net"},
	} {
		err := s.AddAlias(ctx, tc.al)
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddAlias(%v) = %v; want an input error with %q", tc.al, err, tc.want)
		}
	}
	// An alias to an address of the old domain is checked through the
	// domain alias: a@old.example reaches a@example.net, z@ reaches nobody.
	if err := s.AddAlias(ctx, store.Alias{Address: "team@third.example", Targets: []string{"a@old.example"}}); err != nil {
		t.Errorf("alias to a domain-aliased account refused: %v", err)
	}
	if err := s.AddAlias(ctx, store.Alias{Address: "void@third.example", Targets: []string{"z@old.example"}}); err == nil {
		t.Error("alias to an unknown address behind a domain alias accepted")
	}
	// SetAlias follows the same rules, and can repoint the domain alias.
	if err := s.SetAlias(ctx, store.Alias{Address: "@old.example", Targets: []string{"@old.example"}}); err == nil {
		t.Error("SetAlias to its own domain accepted")
	}
	if err := s.SetAlias(ctx, store.Alias{Address: "@old.example", Targets: []string{"@third.example"}}); err != nil {
		t.Errorf("SetAlias repointing the domain alias: %v", err)
	}
}
