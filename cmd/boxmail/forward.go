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
	"boxmail/internal/store"
)

// The forward and vacation commands keep their rules in the account's
// active Sieve script as Roundcube-style "# rule:[NAME]" blocks; the rule
// code is delivery's (forwardrules.go), shared with the web's /account
// page. These adapters keep the vacation and migrate status code short.

const defaultScript = delivery.DefaultRuleScript

const defaultForwardName = delivery.DefaultForwardName

type rule struct {
	name    string
	text    string // the block, from its marker line to before the next
	enabled bool
}

func splitRules(src string) (string, []rule) {
	head, rs := delivery.SplitSieveRules(src)
	var out []rule
	for _, r := range rs {
		out = append(out, rule{name: r.Name, text: r.Text, enabled: r.Enabled})
	}
	return head, out
}

func joinRules(head string, rules []rule) string {
	var rs []delivery.SieveRule
	for _, r := range rules {
		rs = append(rs, delivery.SieveRule{Name: r.name, Text: r.text, Enabled: r.enabled})
	}
	return delivery.JoinSieveRules(head, rs)
}

func sieveQuote(s string) string { return delivery.SieveQuote(s) }

func withRequires(src string, need ...string) string { return delivery.WithRequires(src, need...) }

func accountScript(ctx context.Context, st *store.Store, email string) (store.Account, store.SieveScript, error) {
	return delivery.RuleScript(ctx, st, email)
}

func saveScript(ctx context.Context, st *store.Store, acc store.Account, name, src string) error {
	return delivery.SaveRuleScript(ctx, st, acc, name, src)
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
		d := delivery.New(delivery.Options{Store: st})
		for _, a := range accs {
			rules, err := d.ForwardRules(ctx, a.Email)
			if err != nil {
				return err
			}
			for _, r := range rules {
				state := "enabled"
				if !r.Enabled {
					state = "disabled"
				}
				if !r.Active {
					state += " (script not active)"
				}
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", a.Email, r.Name, r.To, state)
			}
		}
		return nil
	}
	d := delivery.New(delivery.Options{Store: st})
	if sub == "add" {
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
		if err := delivery.CheckRuleName(name); err != nil {
			return usagef("--name must be one line without [ ]")
		}
		script, err := d.AddForward(ctx, pos[0], a.String(), name, !noKeep)
		if err != nil {
			return err
		}
		what := "keeping a copy"
		if noKeep {
			what = "without keeping a copy"
		}
		fmt.Fprintf(e.stdout, "%s: rule %q forwards to %s, %s (Sieve script %q)\n", strings.ToLower(pos[0]), name, a, what, script)
		return nil
	}
	name = ""
	if len(pos) == 2 {
		name = pos[1]
	}
	got, err := d.ChangeForward(ctx, pos[0], name, sub)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: rule %q %sd\n", strings.ToLower(pos[0]), got, strings.TrimSuffix(sub, "e"))
	return nil
}

func redirectTarget(block string) string { return delivery.RedirectTarget(block) }

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
	if strings.ContainsFunc(subject, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return usagef("--subject must be one line of text (no control characters)")
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

// sieveOptions are the config's settings of filtering at delivery.
func sieveOptions(dir string, cfg config.Config) (delivery.SieveOptions, error) {
	k, err := srsKey(dir)
	if err != nil {
		return delivery.SieveOptions{}, err
	}
	return delivery.SieveOptions{
		SRS:          &mailauth.SRS{Key: k, MaxAge: cfg.Sieve.SRSMaxAge},
		MaxRedirects: cfg.Sieve.MaxRedirects, CreateFolders: cfg.Sieve.CreateFolders,
		VacationMaxDays: cfg.Sieve.VacationMaxDays,
		MaxBodyBytes:    cfg.Sieve.BodyLimit, Timeout: cfg.Sieve.RunTimeout,
	}, nil
}
