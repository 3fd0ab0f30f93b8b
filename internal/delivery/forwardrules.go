package delivery

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
// edit the script through these functions.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

// DefaultRuleScript is the script rules go to when none is active.
const DefaultRuleScript = "roundcube"

// DefaultForwardName is the name of the seed document's rule.
const DefaultForwardName = "Forward to OldMailProvider and retain"

// SieveRule is one "# rule:[NAME]" block of a script.
type SieveRule struct {
	Name    string
	Text    string // the block, from its marker line to before the next
	Enabled bool
}

// SplitSieveRules returns the text before the first rule and the rules.
func SplitSieveRules(src string) (string, []SieveRule) {
	lines := strings.SplitAfter(src, "\n")
	var head strings.Builder
	var rules []SieveRule
	for _, l := range lines {
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "# rule:["); ok {
			rules = append(rules, SieveRule{Name: strings.TrimSuffix(n, "]")})
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

// JoinSieveRules is the inverse of SplitSieveRules.
func JoinSieveRules(head string, rules []SieveRule) string {
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

// SieveQuote returns s as a Sieve quoted string.
func SieveQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// WithRequires puts a require line for the missing extensions on top.
func WithRequires(src string, need ...string) string {
	have := map[string]bool{}
	if s, err := sieve.Parse(src); err == nil {
		for _, e := range s.Extensions() {
			have[e] = true
		}
	}
	var miss []string
	for _, e := range need {
		if !have[e] && !slices.Contains(miss, SieveQuote(e)) {
			miss = append(miss, SieveQuote(e))
		}
	}
	if len(miss) == 0 {
		return src
	}
	return "require [" + strings.Join(miss, ", ") + "];\n" + src
}

// RedirectTarget returns the address of a rule block's redirect.
func RedirectTarget(block string) string {
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

// RuleScript returns the account and the script its rules live in (an
// empty DefaultRuleScript when it has none).
func RuleScript(ctx context.Context, st *store.Store, email string) (store.Account, store.SieveScript, error) {
	acc, err := st.AccountByEmail(ctx, strings.ToLower(email))
	if errors.Is(err, store.ErrNotFound) {
		return acc, store.SieveScript{}, fmt.Errorf("no account %s", email)
	} else if err != nil {
		return acc, store.SieveScript{}, err
	}
	sc, err := st.ActiveSieveScript(ctx, acc.ID)
	if errors.Is(err, store.ErrNotFound) {
		sc, err = st.SieveScriptByName(ctx, acc.ID, DefaultRuleScript)
		if errors.Is(err, store.ErrNotFound) {
			return acc, store.SieveScript{Name: DefaultRuleScript}, nil
		}
	}
	return acc, sc, err
}

// SaveRuleScript validates, stores and activates the rules' script.
func SaveRuleScript(ctx context.Context, st *store.Store, acc store.Account, name, src string) error {
	if err := New(Options{Store: st}).CheckSieveScript(ctx, acc.Email, src); err != nil {
		var ie *InputError
		if !errors.As(err, &ie) {
			return err
		}
		return inputErrorf("the resulting script of %s is refused (%s); fix it with a ManageSieve client", acc.Email, ie.Msg)
	}
	if err := st.PutSieveScript(ctx, acc.ID, name, src); err != nil {
		return err
	}
	return st.SetActiveSieveScript(ctx, acc.ID, name)
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
func (d *Deliverer) ForwardRules(ctx context.Context, email string) ([]ForwardRule, error) {
	_, sc, err := RuleScript(ctx, d.st, email)
	if err != nil {
		return nil, err
	}
	_, rules := SplitSieveRules(sc.Content)
	out := []ForwardRule{}
	for _, r := range rules {
		if !strings.Contains(r.Text, "redirect") {
			continue
		}
		out = append(out, ForwardRule{Name: r.Name, To: RedirectTarget(r.Text), Keep: strings.Contains(r.Text, "redirect :copy"),
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
func (d *Deliverer) AddForward(ctx context.Context, email, to, name string, keep bool) (string, error) {
	a, err := ParseAddress(strings.TrimSpace(to))
	if err != nil {
		return "", inputErrorf("forward to: %v", err)
	}
	if err := CheckRuleName(name); err != nil {
		return "", err
	}
	acc, sc, err := RuleScript(ctx, d.st, email)
	if err != nil {
		return "", err
	}
	if strings.EqualFold(a.String(), acc.Email) {
		return "", inputErrorf("the address to forward to is the account itself")
	}
	head, rules := SplitSieveRules(sc.Content)
	for _, r := range rules {
		if r.Name == name {
			return "", inputErrorf("%s already has a rule named %q (remove it first)", acc.Email, name)
		}
	}
	action := "redirect :copy " + SieveQuote(a.String()) + ";"
	if !keep {
		action = "redirect " + SieveQuote(a.String()) + ";"
	}
	rules = append(rules, SieveRule{Name: name, Text: "# rule:[" + name + "]\nif true\n{\n\t" + action + "\n}\n"})
	src := JoinSieveRules(head, rules)
	if keep {
		src = WithRequires(src, "copy")
	}
	return sc.Name, SaveRuleScript(ctx, d.st, acc, sc.Name, src)
}

// ChangeForward disables, enables or removes (op "disable", "enable",
// "remove") the account's forwarding rule named name, or its only one
// when name is ""; it returns the rule's name.
func (d *Deliverer) ChangeForward(ctx context.Context, email, name, op string) (string, error) {
	if op != "disable" && op != "enable" && op != "remove" {
		return "", inputErrorf("unknown change %q (want disable, enable or remove)", op)
	}
	acc, sc, err := RuleScript(ctx, d.st, email)
	if err != nil {
		return "", err
	}
	head, rules := SplitSieveRules(sc.Content)
	var hit []int
	for i, r := range rules {
		if name == r.Name || name == "" && strings.Contains(r.Text, "redirect") {
			hit = append(hit, i)
		}
	}
	if len(hit) == 0 {
		what := ""
		if name != "" {
			what = " named " + SieveQuote(name)
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
	return got, SaveRuleScript(ctx, d.st, acc, sc.Name, JoinSieveRules(head, rules))
}
