package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/mailauth"
	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

// The forward and vacation commands keep their rules in the account's
// active Sieve script (else one named "roundcube", Roundcube's default),
// marked the way Roundcube's managesieve plugin marks them, so the user
// sees and edits the same rules in Roundcube or any ManageSieve client:
//
//	# rule:[Forward to OldMailProvider and retain]
//	if true            (disabled: "if false # true")
//	{
//		redirect :copy "old@oldprovider.example";
//	}

const defaultScript = "roundcube"

const defaultForwardName = "Forward to OldMailProvider and retain"

type rule struct {
	name    string
	text    string // the block, from its marker line to before the next
	enabled bool
}

// splitRules returns the text before the first rule and the rules.
func splitRules(src string) (string, []rule) {
	lines := strings.SplitAfter(src, "\n")
	var head strings.Builder
	var rules []rule
	for _, l := range lines {
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "# rule:["); ok {
			rules = append(rules, rule{name: strings.TrimSuffix(n, "]")})
		}
		if len(rules) == 0 {
			head.WriteString(l)
			continue
		}
		rules[len(rules)-1].text += l
	}
	for i := range rules {
		rules[i].enabled = !strings.Contains(rules[i].text, "\nif false")
	}
	return head.String(), rules
}

func joinRules(head string, rules []rule) string {
	var b strings.Builder
	b.WriteString(head)
	for _, r := range rules {
		b.WriteString(r.text)
		if !strings.HasSuffix(r.text, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

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
		if !have[e] && !slices.Contains(miss, e) {
			miss = append(miss, sieveQuote(e))
		}
	}
	if len(miss) == 0 {
		return src
	}
	return "require [" + strings.Join(miss, ", ") + "];\n" + src
}

// accountScript returns the account and the script the rules live in.
func accountScript(ctx context.Context, st *store.Store, email string) (store.Account, store.SieveScript, error) {
	acc, err := st.AccountByEmail(ctx, strings.ToLower(email))
	if errors.Is(err, store.ErrNotFound) {
		return acc, store.SieveScript{}, fmt.Errorf("no account %s", email)
	} else if err != nil {
		return acc, store.SieveScript{}, err
	}
	sc, err := st.ActiveSieveScript(ctx, acc.ID)
	if errors.Is(err, store.ErrNotFound) {
		sc, err = st.SieveScriptByName(ctx, acc.ID, defaultScript)
		if errors.Is(err, store.ErrNotFound) {
			return acc, store.SieveScript{Name: defaultScript}, nil
		}
	}
	return acc, sc, err
}

// saveScript validates, stores and activates the rules' script.
func saveScript(ctx context.Context, st *store.Store, acc store.Account, name, src string) error {
	if _, err := sieve.Parse(src); err != nil {
		return fmt.Errorf("the resulting script of %s does not parse (%v); fix it with a ManageSieve client", acc.Email, err)
	}
	if err := st.PutSieveScript(ctx, acc.ID, name, src); err != nil {
		return err
	}
	return st.SetActiveSieveScript(ctx, acc.ID, name)
}

func cmdForward(e *env, args []string) error {
	sub, args, err := subcommand(args, "forward", "add", "list", "disable", "enable", "remove")
	if err != nil {
		return err
	}
	var dir, to, name string
	var keep, noKeep bool
	fs := newFlags(e, "forward "+sub, &dir)
	if sub == "add" {
		fs.StringVar(&to, "to", "", "the address to forward to, e.g. the old provider's (or the second argument)")
		fs.BoolVar(&keep, "keep", true, "keep a copy in the box's INBOX (default)")
		fs.BoolVar(&noKeep, "no-keep", false, "do not keep a copy")
		fs.StringVar(&name, "name", defaultForwardName, "the rule's name, as mail clients show it")
	}
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if sub == "list" && len(pos) > 1 || sub != "list" && len(pos) < 1 {
		return usagef("usage: forward %s EMAIL ...", sub)
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if sub == "list" {
		var accs []store.Account
		if len(pos) == 1 {
			a, err := st.AccountByEmail(ctx, strings.ToLower(pos[0]))
			if err != nil {
				return fmt.Errorf("no account %s", pos[0])
			}
			accs = []store.Account{a}
		} else if accs, err = st.Accounts(ctx); err != nil {
			return err
		}
		for _, a := range accs {
			_, sc, err := accountScript(ctx, st, a.Email)
			if err != nil {
				return err
			}
			_, rules := splitRules(sc.Content)
			for _, r := range rules {
				if !strings.Contains(r.text, "redirect") {
					continue
				}
				state := "enabled"
				if !r.enabled {
					state = "disabled"
				}
				if !sc.Active {
					state += " (script not active)"
				}
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", a.Email, r.name, redirectTarget(r.text), state)
			}
		}
		return nil
	}
	acc, sc, err := accountScript(ctx, st, pos[0])
	if err != nil {
		return err
	}
	head, rules := splitRules(sc.Content)
	switch sub {
	case "add":
		if to == "" && len(pos) == 2 {
			to = pos[1]
		} else if len(pos) > 1 {
			return usagef("unexpected argument %q", pos[1])
		}
		if to == "" {
			return usagef("--to OLD_ADDRESS is required")
		}
		a, err := delivery.ParseAddress(to)
		if err != nil {
			return usagef("--to: %v", err)
		}
		if strings.EqualFold(a.String(), acc.Email) {
			return usagef("--to is the account itself")
		}
		if strings.ContainsAny(name, "[]\r\n") || name == "" {
			return usagef("--name must be one line without [ ]")
		}
		for _, r := range rules {
			if r.name == name {
				return fmt.Errorf("%s already has a rule named %q (remove it first)", acc.Email, name)
			}
		}
		action := "redirect :copy " + sieveQuote(a.String()) + ";"
		if noKeep {
			action = "redirect " + sieveQuote(a.String()) + ";"
		}
		rules = append(rules, rule{name: name, text: "# rule:[" + name + "]\nif true\n{\n\t" + action + "\n}\n"})
		src := joinRules(head, rules)
		if !noKeep {
			src = withRequires(src, "copy")
		}
		if err := saveScript(ctx, st, acc, sc.Name, src); err != nil {
			return err
		}
		what := "keeping a copy"
		if noKeep {
			what = "without keeping a copy"
		}
		fmt.Fprintf(e.stdout, "%s: rule %q forwards to %s, %s (Sieve script %q)\n", acc.Email, name, a, what, sc.Name)
		return nil
	}
	name = ""
	if len(pos) == 2 {
		name = pos[1]
	}
	var hit []int
	for i, r := range rules {
		if name == r.name || name == "" && strings.Contains(r.text, "redirect") {
			hit = append(hit, i)
		}
	}
	if len(hit) == 0 {
		return fmt.Errorf("%s has no forwarding rule%s", acc.Email, map[bool]string{true: " named " + sieveQuote(name), false: ""}[name != ""])
	}
	if len(hit) > 1 && name == "" {
		return usagef("%s has %d forwarding rules: name one", acc.Email, len(hit))
	}
	r := &rules[hit[0]]
	switch sub {
	case "disable":
		r.text = strings.Replace(r.text, "\nif true", "\nif false # true", 1)
	case "enable":
		r.text = strings.Replace(r.text, "\nif false # true", "\nif true", 1)
	case "remove":
		rules = slices.Delete(rules, hit[0], hit[0]+1)
	}
	if err := saveScript(ctx, st, acc, sc.Name, joinRules(head, rules)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: rule %q %sd\n", acc.Email, r.name, strings.TrimSuffix(sub, "e"))
	return nil
}

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

func cmdVacation(e *env, args []string) error {
	var dir, subject, bodyFile, from, until string
	var days int
	var off bool
	fs := newFlags(e, "vacation", &dir)
	fs.StringVar(&subject, "subject", "Out of office", "subject of the reply")
	fs.StringVar(&bodyFile, "body-file", "", "file with the reply's text (required unless --off)")
	fs.StringVar(&from, "from", "", "first day of absence, YYYY-MM-DD (default: now)")
	fs.StringVar(&until, "until", "", "last day of absence, YYYY-MM-DD (default: until turned off)")
	fs.IntVar(&days, "days", 0, "reply to the same sender at most once per this many days (default: vacation_days, 7)")
	fs.BoolVar(&off, "off", false, "remove the vacation reply")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: vacation EMAIL --subject S --body-file F [--from DATE --until DATE] | vacation EMAIL --off")
	}
	for _, d := range []struct{ n, v string }{{"--from", from}, {"--until", until}} {
		if _, err := time.Parse("2006-01-02", d.v); d.v != "" && err != nil {
			return usagef("%s %q: want YYYY-MM-DD", d.n, d.v)
		}
	}
	if days == 0 {
		days = 7
		if cfg, err := config.Load(dir); err == nil {
			days = cfg.Sieve.VacationDays
		}
	}
	ctx := context.Background()
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	acc, sc, err := accountScript(ctx, st, pos[0])
	if err != nil {
		return err
	}
	head, rules := splitRules(sc.Content)
	rules = slices.DeleteFunc(rules, func(r rule) bool { return r.name == "Vacation" })
	if off {
		if err := saveScript(ctx, st, acc, sc.Name, joinRules(head, rules)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: vacation reply removed\n", acc.Email)
		return nil
	}
	if bodyFile == "" {
		return usagef("--body-file is required")
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(body), "\r\n", "\n")
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimRight(text, "\n")+"\n", "\n") {
		if strings.HasPrefix(l, ".") {
			l = "." + l
		}
		b.WriteString(l)
	}
	cond := "true"
	var conds []string
	if from != "" {
		conds = append(conds, `currentdate :value "ge" "date" `+sieveQuote(from))
	}
	if until != "" {
		conds = append(conds, `currentdate :value "le" "date" `+sieveQuote(until))
	}
	need := []string{"vacation"}
	if len(conds) > 0 {
		cond = "allof (" + strings.Join(conds, ", ") + ")"
		need = append(need, "date", "relational")
	}
	block := fmt.Sprintf("# rule:[Vacation]\nif %s\n{\n\tvacation :days %d :subject %s :addresses [%s] text:\n%s.\n;\n}\n", cond, days, sieveQuote(subject), sieveQuote(acc.Email), b.String())
	rules = append(rules, rule{name: "Vacation", text: block})
	if err := saveScript(ctx, st, acc, sc.Name, withRequires(joinRules(head, rules), need...)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: vacation reply set (once per sender per %d days)\n", acc.Email, days)
	return nil
}

// srsKey reads DIR/srs.key, creating it on first use: the secret that
// makes SRS addresses unforgeable.
func srsKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, "srs.key")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, 32)
		rand.Read(k)
		b = []byte(hex.EncodeToString(k) + "\n")
		if err := writeFileSync(p, b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("%s: not a hex key of at least 16 bytes", p)
	}
	return k, nil
}

// enableSieve turns on filtering at delivery with the config's settings.
func enableSieve(dir string, cfg config.Config, d *delivery.Deliverer) error {
	k, err := srsKey(dir)
	if err != nil {
		return err
	}
	d.EnableSieve(delivery.SieveOptions{
		SRS:          &mailauth.SRS{Key: k, MaxAge: cfg.Sieve.SRSMaxAge},
		MaxRedirects: cfg.Sieve.MaxRedirects, CreateFolders: cfg.Sieve.CreateFolders,
		VacationMaxDays: cfg.Sieve.VacationMaxDays, Hostname: cfg.Hostname,
	})
	return nil
}
