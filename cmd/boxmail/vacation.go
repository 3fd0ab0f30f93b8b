package main

// 'boxmail vacation': an account's vacation reply, a rule of its active
// Sieve script kept by admin.Service (vacation.go).

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/store"
)

func cmdVacation(e *env, args []string) error {
	var subject, bodyFile, from, until string
	var days int
	var off bool
	dir, pos, err := parseWith(e, "vacation", args, func(fs *flag.FlagSet) {
		fs.StringVar(&subject, "subject", "Out of office", "subject of the reply")
		fs.StringVar(&bodyFile, "body-file", "", "file with the reply's text (required unless --off)")
		fs.StringVar(&from, "from", "", "first day of absence, YYYY-MM-DD (default: now)")
		fs.StringVar(&until, "until", "", "last day of absence, YYYY-MM-DD (default: until turned off)")
		fs.IntVar(&days, "days", 0, "reply to the same sender at most once per this many days (default: vacation_days, 7)")
		fs.BoolVar(&off, "off", false, "remove the vacation reply")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: vacation EMAIL --subject S --body-file F [--from DATE --until DATE] | vacation EMAIL --off | vacation EMAIL")
	}
	if !off && bodyFile == "" && from == "" && until == "" && days == 0 && subject == "Out of office" {
		return withStore(dir, func(st *store.Store) error { return showVacation(e, newAdmin(st), pos[0]) })
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
	return withStore(dir, func(st *store.Store) error {
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
	})
}

// showVacation prints an account's vacation reply as it is set.
func showVacation(e *env, adm *admin.Service, email string) error {
	v, rule, ok, err := adm.VacationOf(context.Background(), email)
	if err != nil {
		return err
	}
	email = strings.ToLower(email)
	switch {
	case !ok:
		fmt.Fprintf(e.stdout, "%s: no vacation reply\n", email)
		return nil
	case v.Days == 0: // edited in a Sieve client: its own text
		fmt.Fprintf(e.stdout, "%s: a vacation rule edited in a Sieve client:\n%s", email, rule)
		return nil
	}
	from, until := v.From, v.Until
	if from == "" {
		from = "now"
	}
	if until == "" {
		until = "until turned off"
	}
	fmt.Fprintf(e.stdout, "%s: vacation reply on\n  from:    %s\n  until:   %s\n  subject: %s\n  replies: once per sender per %d days\n  text:\n", email, from, until, v.Subject, v.Days)
	for _, l := range strings.Split(strings.TrimSuffix(v.Body, "\n"), "\n") {
		fmt.Fprintf(e.stdout, "    %s\n", l)
	}
	return nil
}
