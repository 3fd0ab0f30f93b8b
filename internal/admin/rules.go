package admin

// Forwarding rules kept in an account's active Sieve script (else the
// one named "roundcube", Roundcube's default), marked the way
// Roundcube's managesieve plugin marks them, so the user sees and edits
// the same rules in Roundcube or any ManageSieve client:
//
//	# rule:[Forward to OldMailProvider and retain]
//	if true            (disabled: "if false # true")
//	{
//		redirect :copy "old@oldprovider.example";
//	}
//
// 'boxmail forward', 'boxmail vacation' and the web's /account page all
// edit the script through these functions (vacation.go for the vacation
// rule).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"boxmail/internal/delivery"
	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

// DefaultRuleScript is the script rules go to when none is active.
const DefaultRuleScript = "roundcube"

// DefaultForwardName is the name of the seed document's rule.
const DefaultForwardName = "Forward to OldMailProvider and retain"

// sieveRule is one "# rule:[NAME]" block of a script.
type sieveRule struct {
	Name    string
	Text    string // the block, from its marker line to before the next
	Enabled bool
}

// splitSieveRules returns the text before the first rule and the rules.
func splitSieveRules(src string) (string, []sieveRule) {
	lines := strings.SplitAfter(src, "\n")
	var head strings.Builder
	var rules []sieveRule
	for _, l := range lines {
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "# rule:["); ok {
			rules = append(rules, sieveRule{Name: strings.TrimSuffix(n, "]")})
		}
		if len(rules) == 0 {
			head.WriteString(l)
			continue
		}
		rules[len(rules)-1].Text += l
	}
	for i := range rules {
		rules[i].Enabled = !strings.Contains(rules[i].Text, "\nif false")
	}
	return head.String(), rules
}

// joinSieveRules is the inverse of splitSieveRules.
func joinSieveRules(head string, rules []sieveRule) string {
	var b strings.Builder
	b.WriteString(head)
	for _, r := range rules {
		b.WriteString(r.Text)
		if !strings.HasSuffix(r.Text, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// sieveQuote returns s as a Sieve quoted string.
func sieveQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// withRequires puts a require line for the missing extensions on top.
func withRequires(src string, need ...string) string {
	have := map[string]bool{}
	if s, err := sieve.Parse(src); err == nil {
		for _, e := range s.Extensions() {
			have[e] = true
		}
	}
	var miss []string
	for _, e := range need {
		if !have[e] && !slices.Contains(miss, sieveQuote(e)) {
			miss = append(miss, sieveQuote(e))
		}
	}
	if len(miss) == 0 {
		return src
	}
	return "require [" + strings.Join(miss, ", ") + "];\n" + src
}

// redirectTarget returns the address of a rule block's redirect.
func redirectTarget(block string) string {
	_, after, ok := strings.Cut(block, "redirect")
	if !ok {
		return ""
	}
	_, q, ok := strings.Cut(after, `"`)
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(q, `"`)
	return t
}

// ruleScript returns the account and the script its rules live in (an
// empty DefaultRuleScript when it has none).
func (s *Service) ruleScript(ctx context.Context, email string) (store.Account, store.SieveScript, error) {
	acc, err := s.st.AccountByEmail(ctx, strings.ToLower(email))
	if errors.Is(err, store.ErrNotFound) {
		return acc, store.SieveScript{}, fmt.Errorf("no account %s", email)
	} else if err != nil {
		return acc, store.SieveScript{}, err
	}
	sc, err := s.st.ActiveSieveScript(ctx, acc.ID)
	if errors.Is(err, store.ErrNotFound) {
		sc, err = s.st.SieveScriptByName(ctx, acc.ID, DefaultRuleScript)
		if errors.Is(err, store.ErrNotFound) {
			return acc, store.SieveScript{Name: DefaultRuleScript}, nil
		}
	}
	return acc, sc, err
}

// saveRuleScript validates, stores and activates the rules' script.
func (s *Service) saveRuleScript(ctx context.Context, acc store.Account, name, src string) error {
	if err := s.CheckSieveScript(ctx, acc.Email, src); err != nil {
		var ie *InputError
		if !errors.As(err, &ie) {
			return err
		}
		return inputErrorf("the resulting script of %s is refused (%s); fix it with a ManageSieve client", acc.Email, ie.Msg)
	}
	if err := s.st.PutSieveScript(ctx, acc.ID, name, src); err != nil {
		return err
	}
	return s.st.SetActiveSieveScript(ctx, acc.ID, name)
}

// ForwardRule is a forwarding rule of an account.
type ForwardRule struct {
	Name    string `json:"name"`
	To      string `json:"to"`
	Keep    bool   `json:"keep"`    // redirect :copy: a copy stays in the box
	Enabled bool   `json:"enabled"` // "if true", not "if false # true"
	Active  bool   `json:"active"`  // its script is the active one
	Script  string `json:"script"`
}

// ForwardRules lists the rules of the account that redirect.
func (s *Service) ForwardRules(ctx context.Context, email string) ([]ForwardRule, error) {
	_, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return nil, err
	}
	_, rules := splitSieveRules(sc.Content)
	out := []ForwardRule{}
	for _, r := range rules {
		if !strings.Contains(r.Text, "redirect") {
			continue
		}
		out = append(out, ForwardRule{Name: r.Name, To: redirectTarget(r.Text), Keep: strings.Contains(r.Text, "redirect :copy"),
			Enabled: r.Enabled, Active: sc.Active, Script: sc.Name})
	}
	return out, nil
}

// CheckRuleName refuses names a "# rule:[NAME]" line cannot hold.
func CheckRuleName(name string) error {
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "[]\r\n") || len(name) > 200 {
		return inputErrorf("the rule's name must be one line without [ ]")
	}
	return nil
}

// AddForward adds an enabled rule forwarding the account's mail to to,
// keeping a copy if keep; it returns the script's name.
func (s *Service) AddForward(ctx context.Context, email, to, name string, keep bool) (string, error) {
	a, err := delivery.ParseAddress(strings.TrimSpace(to))
	if err != nil {
		return "", inputErrorf("forward to: %s", err)
	}
	if err := CheckRuleName(name); err != nil {
		return "", err
	}
	acc, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return "", err
	}
	if strings.EqualFold(a.String(), acc.Email) {
		return "", inputErrorf("the address to forward to is the account itself")
	}
	head, rules := splitSieveRules(sc.Content)
	for _, r := range rules {
		if r.Name == name {
			return "", inputErrorf("%s already has a rule named %q (remove it first)", acc.Email, name)
		}
	}
	action := "redirect :copy " + sieveQuote(a.String()) + ";"
	if !keep {
		action = "redirect " + sieveQuote(a.String()) + ";"
	}
	rules = append(rules, sieveRule{Name: name, Text: "# rule:[" + name + "]\nif true\n{\n\t" + action + "\n}\n"})
	src := joinSieveRules(head, rules)
	if keep {
		src = withRequires(src, "copy")
	}
	return sc.Name, s.saveRuleScript(ctx, acc, sc.Name, src)
}

// ChangeForward disables, enables or removes (op "disable", "enable",
// "remove") the account's forwarding rule named name, or its only one
// when name is ""; it returns the rule's name.
func (s *Service) ChangeForward(ctx context.Context, email, name, op string) (string, error) {
	if op != "disable" && op != "enable" && op != "remove" {
		return "", inputErrorf("unknown change %q (want disable, enable or remove)", op)
	}
	acc, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return "", err
	}
	head, rules := splitSieveRules(sc.Content)
	var hit []int
	for i, r := range rules {
		if name == r.Name || name == "" && strings.Contains(r.Text, "redirect") {
			hit = append(hit, i)
		}
	}
	if len(hit) == 0 {
		what := ""
		if name != "" {
			what = " named " + sieveQuote(name)
		}
		return "", fmt.Errorf("%s has no forwarding rule%s: %w", acc.Email, what, store.ErrNotFound)
	}
	if len(hit) > 1 && name == "" {
		return "", inputErrorf("%s has %d forwarding rules: name one", acc.Email, len(hit))
	}
	r := &rules[hit[0]]
	got := r.Name
	switch op {
	case "disable":
		r.Text = strings.Replace(r.Text, "\nif true", "\nif false # true", 1)
	case "enable":
		r.Text = strings.Replace(r.Text, "\nif false # true", "\nif true", 1)
	case "remove":
		rules = slices.Delete(rules, hit[0], hit[0]+1)
	}
	return got, s.saveRuleScript(ctx, acc, sc.Name, joinSieveRules(head, rules))
}
