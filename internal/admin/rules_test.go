package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

func ruleText(t *testing.T, st *store.Store, email string) string {
	t.Helper()
	acc, err := st.AccountByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := st.ActiveSieveScript(context.Background(), acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return sc.Content
}

// A user moving from the old provider forwards a copy there, pauses the
// rule, and removes it; the rules are Roundcube's "# rule:[NAME]" blocks
// of the active script, so a ManageSieve client sees the same.
func TestForwardAddPauseRemove(t *testing.T) {
	s, st := newBox(t)
	ctx := context.Background()
	script, err := s.AddForward(ctx, "a@example.net", "old@old.example", DefaultForwardName, true)
	if err != nil || script != DefaultRuleScript {
		t.Fatalf("AddForward: %q %v", script, err)
	}
	if txt := ruleText(t, st, "a@example.net"); !strings.Contains(txt, `redirect :copy "old@old.example";`) || !strings.HasPrefix(txt, `require ["copy"];`) {
		t.Errorf("script:\n%s", txt)
	}
	if _, err := s.AddForward(ctx, "a@example.net", "x@old.example", DefaultForwardName, false); err == nil {
		t.Error("a second rule of the same name was taken")
	}
	if _, err := s.AddForward(ctx, "a@example.net", "A@example.net", "Self", false); err == nil {
		t.Error("a forward to the account itself was taken")
	}
	if err := CheckRuleName("a [bad] name"); err == nil {
		t.Error("a name with brackets passed")
	}
	if got, err := s.ChangeForward(ctx, "a@example.net", "", "disable"); err != nil || got != DefaultForwardName {
		t.Fatalf("disable the only rule: %q %v", got, err)
	}
	rules, err := s.ForwardRules(ctx, "a@example.net")
	if err != nil || len(rules) != 1 || rules[0].Enabled || !rules[0].Keep || rules[0].To != "old@old.example" || !rules[0].Active {
		t.Errorf("rules after disable: %+v %v", rules, err)
	}
	if _, err := s.ChangeForward(ctx, "a@example.net", DefaultForwardName, "remove"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeForward(ctx, "a@example.net", "", "remove"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing a rule that is gone: %v", err)
	}
}

// The vacation reply is one rule next to the others; setting it again
// replaces it, and --off removes only it.
// beforeChristmas2026 is the clock of the vacation stories: their dates
// stay in the future whatever day the tests run.
func beforeChristmas2026() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }

func TestVacationIsOneRuleAmongOthers(t *testing.T) {
	_, st := newBox(t)
	s := New(Options{Store: st, Now: beforeChristmas2026})
	ctx := context.Background()
	if _, err := s.AddForward(ctx, "a@example.net", "old@old.example", DefaultForwardName, true); err != nil {
		t.Fatal(err)
	}
	v := Vacation{Subject: "Away", Body: "Back on Monday.\r\n.hidden line\r\n", From: "2026-12-20", Until: "2027-01-02", Days: 7}
	if _, err := s.SetVacation(ctx, "a@example.net", v); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetVacation(ctx, "a@example.net", v); err != nil {
		t.Fatal(err)
	}
	txt := ruleText(t, st, "a@example.net")
	for _, want := range []string{`"vacation"`, `"date"`, `"relational"`, `"copy"`, `currentdate :value "ge" "date" "2026-12-20"`, "\n..hidden line\n.\n;", `:addresses ["a@example.net"]`} {
		if !strings.Contains(txt, want) {
			t.Errorf("script lacks %q:\n%s", want, txt)
		}
	}
	if n := strings.Count(txt, "# rule:[Vacation]"); n != 1 {
		t.Errorf("%d vacation rules", n)
	}
	if _, err := s.SetVacation(ctx, "a@example.net", Vacation{Subject: "a\nb", Days: 7}); err == nil {
		t.Error("a two-line subject was taken")
	}
	if _, err := s.RemoveVacation(ctx, "a@example.net"); err != nil {
		t.Fatal(err)
	}
	if txt := ruleText(t, st, "a@example.net"); strings.Contains(txt, "Vacation") || !strings.Contains(txt, "redirect :copy") {
		t.Errorf("after removing the vacation reply:\n%s", txt)
	}
}

// A script saved from the web or the CLI may reply only from an address
// the account may send as: its own, or an alias that permits it.
func TestASavedScriptRepliesOnlyFromPermittedAddresses(t *testing.T) {
	s, _ := newBox(t)
	ctx := context.Background()
	if err := s.AddAlias(ctx, store.Alias{Address: "family@example.net", Targets: []string{"a@example.net"}, Permit: []string{"a@example.net"}}); err != nil {
		t.Fatal(err)
	}
	err := s.CheckSieveScript(ctx, "a@example.net", "require \"vacation\";\nvacation :from \"ceo@example.net\" \"x\";")
	var ie *InputError
	if !errors.As(err, &ie) || err.Error() != "line 2:16: vacation :from ceo@example.net is not an address a@example.net may send as" {
		t.Errorf("CheckSieveScript: %v", err)
	}
	if err := s.CheckSieveScript(ctx, "a@example.net", "require \"vacation\";\nvacation :from \"family@example.net\" \"x\";"); err != nil {
		t.Errorf("CheckSieveScript of a permitted alias: %v", err)
	}
	if err := s.CheckSieveScript(ctx, "a@example.net", "if true {"); !errors.As(err, &ie) {
		t.Errorf("a script that does not parse: %v", err)
	}
}

// The admin looks at grandma's vacation reply before changing it: what
// was set comes back; an absence that is already over, or that ends
// before it starts, is refused (the reply would never go out).
func TestAVacationReplyReadsBackAndMayNotEndInThePast(t *testing.T) {
	_, st := newBox(t)
	s := New(Options{Store: st, Now: beforeChristmas2026})
	ctx := context.Background()
	if _, _, ok, err := s.VacationOf(ctx, "a@example.net"); err != nil || ok {
		t.Fatalf("a vacation reply before any was set: %v %v", ok, err)
	}
	v := Vacation{Subject: "Away \"skiing\"", Body: "Back on Monday.\n.hidden line\n", From: "2026-12-20", Until: "2027-01-02", Days: 5}
	if _, err := s.SetVacation(ctx, "a@example.net", v); err != nil {
		t.Fatal(err)
	}
	got, rule, ok, err := s.VacationOf(ctx, "a@example.net")
	if err != nil || !ok || got != v || !strings.Contains(rule, "vacation :days 5") {
		t.Errorf("read back %+v (ok %v, %v), want %+v; rule:\n%s", got, ok, err, v, rule)
	}
	for _, bad := range []Vacation{
		{Subject: "Away", Body: "x", Until: "2026-11-30", Days: 7},
		{Subject: "Away", Body: "x", From: "2026-12-20", Until: "2026-12-10", Days: 7},
	} {
		if _, err := s.SetVacation(ctx, "a@example.net", bad); err == nil {
			t.Errorf("%+v was taken", bad)
		} else if !errors.As(err, new(*InputError)) {
			t.Errorf("%+v: %v is not an input error", bad, err)
		}
	}
	if _, err := s.SetVacation(ctx, "a@example.net", Vacation{Subject: "Away", Body: "x", Until: "2026-12-01", Days: 7}); err != nil {
		t.Errorf("an absence ending today was refused: %v", err)
	}
}
