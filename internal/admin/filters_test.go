package admin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

// Each kind of filter is written, compiles, and reads back as written;
// the other rules (a forward, the vacation reply) are listed apart and
// can be removed by name.
func TestFiltersAddListRemove(t *testing.T) {
	s, st := newBox(t)
	ctx := context.Background()
	want := []Filter{
		{Name: "Lists", Field: "list-id", Contains: "news.example", Action: FilterMove, Arg: "Archive"},
		{Name: "Quiet", Field: "from", Contains: "noreply@", Action: FilterRead},
		{Name: "Copy boss", Field: "subject", Contains: "urgent", Action: FilterForward, Arg: "b@example.net"},
		{Name: "Spammy", Field: "to", Contains: "undisclosed", Action: FilterTrash},
	}
	for _, f := range want {
		if _, err := s.AddFilter(ctx, "a@example.net", f); err != nil {
			t.Fatalf("AddFilter %s: %v", f.Name, err)
		}
	}
	if _, err := s.AddForward(ctx, "a@example.net", "old@old.example", DefaultForwardName, true); err != nil {
		t.Fatal(err)
	}
	got, others, err := s.Filters(ctx, "a@example.net")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("filters: %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("filter %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(others) != 1 || others[0].Name != DefaultForwardName {
		t.Errorf("others: %+v", others)
	}
	txt := ruleText(t, st, "a@example.net")
	for _, w := range []string{`if header :contains ["to", "cc"] "undisclosed"`, `fileinto "Trash";`, `addflag "\\Seen";`, `redirect :copy "b@example.net";`} {
		if !strings.Contains(txt, w) {
			t.Errorf("script lacks %s:\n%s", w, txt)
		}
	}
	if _, err := s.AddFilter(ctx, "a@example.net", want[0]); err == nil {
		t.Error("a second rule of the same name was taken")
	}
	if err := s.RemoveRule(ctx, "a@example.net", "Quiet"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRule(ctx, "a@example.net", "Quiet"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing it again: %v", err)
	}
	if got, _, _ := s.Filters(ctx, "a@example.net"); len(got) != 3 {
		t.Errorf("after removal: %+v", got)
	}
}

// Hostile input: quotes and backslashes are escaped and come back as
// typed; line breaks, NUL and other control characters (which could
// forge a "# rule:[" line) and very long values are refused; unknown
// fields, actions, folders and forwards to oneself too. The saved script
// always compiles.
func TestFiltersHostileInput(t *testing.T) {
	s, st := newBox(t)
	ctx := context.Background()
	tricky := `a "quoted" \ back\\slash \" end\`
	f := Filter{Name: `Odd "name" \ here`, Field: "subject", Contains: tricky, Action: FilterMove, Arg: "Archive"}
	if _, err := s.AddFilter(ctx, "a@example.net", f); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Filters(ctx, "a@example.net")
	if err != nil || len(got) != 1 || got[0] != f {
		t.Fatalf("read back: %+v %v", got, err)
	}
	txt := ruleText(t, st, "a@example.net")
	sc, err := sieve.Parse(txt)
	if err == nil {
		err = sc.Validate()
	}
	if err != nil {
		t.Fatalf("saved script does not compile: %v\n%s", err, txt)
	}
	bad := []Filter{
		{Name: "CRLF", Field: "subject", Contains: "x\r\n# rule:[Evil]\r\nif true { discard; }", Action: FilterRead},
		{Name: "LF", Field: "subject", Contains: "x\n}\nif true {\n\tdiscard;\n", Action: FilterRead},
		{Name: "NUL", Field: "subject", Contains: "x\x00y", Action: FilterRead},
		{Name: "Tab\tname", Field: "subject", Contains: "x", Action: FilterRead},
		{Name: "Long", Field: "subject", Contains: strings.Repeat("é", 10000), Action: FilterRead},
		{Name: "Folder", Field: "subject", Contains: "x", Action: FilterMove, Arg: "Archive\"\n"},
		{Name: "No folder", Field: "subject", Contains: "x", Action: FilterMove, Arg: "Nowhere"},
		{Name: "Field", Field: "received", Contains: "x", Action: FilterRead},
		{Name: "Action", Field: "from", Contains: "x", Action: "discard"},
		{Name: "Empty", Field: "from", Contains: "  ", Action: FilterRead},
		{Name: "Self", Field: "from", Contains: "x", Action: FilterForward, Arg: "A@Example.net"},
		{Name: "Bad address", Field: "from", Contains: "x", Action: FilterForward, Arg: `"b"@example.net>, c@x`},
		{Name: "[brackets]", Field: "from", Contains: "x", Action: FilterRead},
	}
	for _, b := range bad {
		_, err := s.AddFilter(ctx, "a@example.net", b)
		if _, ok := IsInputError(err); !ok {
			t.Errorf("%q: want an input error, got %v", b.Name, err)
		}
	}
	if after := ruleText(t, st, "a@example.net"); after != txt {
		t.Errorf("a refused filter changed the script:\n%s", after)
	}
}

// The vacation reply through the same path: hostile subject and text
// are refused or escaped, and the script compiles.
func TestVacationHostileInput(t *testing.T) {
	s, st := newBox(t)
	ctx := context.Background()
	v := Vacation{Subject: `Away "for" a \ while`, Body: ".\r\n..\r\nline with \"quotes\" and \\ backslash\r\n.\r\n", Days: 3}
	if _, err := s.SetVacation(ctx, "a@example.net", v); err != nil {
		t.Fatal(err)
	}
	txt := ruleText(t, st, "a@example.net")
	if sc, err := sieve.Parse(txt); err != nil || sc.Validate() != nil {
		t.Fatalf("script does not compile: %v\n%s", err, txt)
	}
	back, _, ok, err := s.VacationOf(ctx, "a@example.net")
	if err != nil || !ok || back.Subject != v.Subject || back.Days != 3 {
		t.Errorf("read back: %+v %v %v", back, ok, err)
	}
	for _, subj := range []string{"a\r\nBcc: x@y", "a\x00b"} {
		if _, err := s.SetVacation(ctx, "a@example.net", Vacation{Subject: subj, Body: "x", Days: 1}); err == nil {
			t.Errorf("subject %q taken", subj)
		}
	}
	for _, body := range []string{"a\x00b", "caf\xe9"} {
		if _, err := s.SetVacation(ctx, "a@example.net", Vacation{Subject: "x", Body: body, Days: 1}); err == nil {
			t.Errorf("text %q taken", body)
		} else if _, ok := IsInputError(err); !ok {
			t.Errorf("text %q: not an input error: %v", body, err)
		}
	}
	if sc, err := sieve.Parse(ruleText(t, st, "a@example.net")); err != nil || sc.Validate() != nil {
		t.Errorf("script does not compile after a NUL text: %v", err)
	}
}
