package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/mailauth"
	"boxmail/internal/store"
)

// The forward and vacation commands keep their rules in the account's
// active Sieve script as Roundcube-style "# rule:[NAME]" blocks, through
// admin.Service (rules.go, vacation.go), as the web's /account page does.
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
		fs.StringVar(&name, "name", admin.DefaultForwardName, "the rule's name, as mail clients show it")
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
		adm := newAdmin(st)
		for _, a := range accs {
			rules, err := adm.ForwardRules(ctx, a.Email)
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
	adm := newAdmin(st)
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
		if err := admin.CheckRuleName(name); err != nil {
			return usagef("--name must be one line without [ ]")
		}
		script, err := adm.AddForward(ctx, pos[0], a.String(), name, !noKeep)
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
	got, err := adm.ChangeForward(ctx, pos[0], name, sub)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: rule %q %sd\n", strings.ToLower(pos[0]), got, strings.TrimSuffix(sub, "e"))
	return nil
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
	if strings.ContainsFunc(subject, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return usagef("--subject must be one line of text (no control characters)")
	}
	for _, d := range []struct{ n, v string }{{"--from", from}, {"--until", until}} {
		if _, err := time.Parse("2006-01-02", d.v); d.v != "" && err != nil {
			return usagef("%s %q: want YYYY-MM-DD", d.n, d.v)
		}
	}
	if days == 0 {
		cfg, err := config.Load(dir)
		if err != nil {
			return err
		}
		days = cfg.Sieve.VacationDays
	}
	ctx := context.Background()
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if off {
		email, err := newAdmin(st).RemoveVacation(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: vacation reply removed\n", email)
		return nil
	}
	if bodyFile == "" {
		return usagef("--body-file is required")
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	v := admin.Vacation{Subject: subject, Body: string(body), From: from, Until: until, Days: days}
	email, err := newAdmin(st).SetVacation(ctx, pos[0], v)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: vacation reply set (once per sender per %d days)\n", email, days)
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
