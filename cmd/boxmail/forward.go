package main

// 'boxmail forward': forwarding rules. They live in the account's active
// Sieve script as Roundcube-style "# rule:[NAME]" blocks, kept by
// admin.Service (rules.go) as the web's /account page keeps them.

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

func forwardCommands() []subcommand {
	return []subcommand{
		{name: "add", args: "EMAIL --to OLD_ADDRESS [--no-keep] [--name N]", summary: "forward an account's mail (and keep a copy)", run: forwardAdd},
		{name: "list", args: "[EMAIL]", summary: "the forwarding rules", run: forwardList},
		{name: "disable", args: "EMAIL [NAME]", summary: "stop a rule, keeping it", run: forwardChange("disable")},
		{name: "enable", args: "EMAIL [NAME]", summary: "start a disabled rule again", run: forwardChange("enable")},
		{name: "remove", args: "EMAIL [NAME]", summary: "delete a rule", run: forwardChange("remove")},
	}
}

// forwardArgs parses a forward subcommand's flags and checks it has an
// EMAIL (list: at most one).
func forwardArgs(e *env, sub string, args []string, flags func(*flag.FlagSet)) (dir string, pos []string, err error) {
	if dir, pos, err = parseWith(e, "forward "+sub, args, flags); err != nil {
		return "", nil, err
	}
	if sub == "list" && len(pos) > 1 || sub != "list" && len(pos) < 1 {
		return "", nil, usagef("usage: forward %s EMAIL ...", sub)
	}
	return dir, pos, nil
}

func forwardList(e *env, args []string) error {
	dir, pos, err := forwardArgs(e, "list", args, nil)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		ctx := context.Background()
		accs, err := forwardAccounts(ctx, st, pos)
		if err != nil {
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
	})
}

// forwardAccounts is the account of 'forward list EMAIL', or every one.
func forwardAccounts(ctx context.Context, st *store.Store, pos []string) ([]store.Account, error) {
	if len(pos) == 0 {
		return st.Accounts(ctx)
	}
	a, err := st.AccountByEmail(ctx, strings.ToLower(pos[0]))
	if err != nil {
		return nil, fmt.Errorf("no account %s", pos[0])
	}
	return []store.Account{a}, nil
}

func forwardAdd(e *env, args []string) error {
	var to, name string
	var keep, noKeep bool
	dir, pos, err := forwardArgs(e, "add", args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the address to forward to, e.g. the old provider's (or the second argument)")
		fs.BoolVar(&keep, "keep", true, "keep a copy in the box's INBOX (default)")
		fs.BoolVar(&noKeep, "no-keep", false, "do not keep a copy")
		fs.StringVar(&name, "name", admin.DefaultForwardName, "the rule's name, as mail clients show it")
	})
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
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
		script, err := newAdmin(st).AddForward(context.Background(), pos[0], a.String(), name, !noKeep)
		if err != nil {
			return err
		}
		what := "keeping a copy"
		if noKeep {
			what = "without keeping a copy"
		}
		fmt.Fprintf(e.stdout, "%s: rule %q forwards to %s, %s (Sieve script %q)\n", strings.ToLower(pos[0]), name, a, what, script)
		return nil
	})
}

// forwardChange is 'forward disable|enable|remove EMAIL [NAME]'.
func forwardChange(sub string) func(*env, []string) error {
	return func(e *env, args []string) error {
		dir, pos, err := forwardArgs(e, sub, args, nil)
		if err != nil {
			return err
		}
		return withStore(dir, func(st *store.Store) error {
			name := ""
			if len(pos) == 2 {
				name = pos[1]
			}
			got, err := newAdmin(st).ChangeForward(context.Background(), pos[0], name, sub)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: rule %q %s\n", strings.ToLower(pos[0]), got, sub+"d")
			return nil
		})
	}
}
