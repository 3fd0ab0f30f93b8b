package main

// 'boxmail alias': addresses (or a whole @domain) delivering to other
// addresses, and who may send as them.

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

func aliasCommands() []subcommand {
	return []subcommand{
		{name: "add", args: "ALIAS TARGETS [--permit A]", summary: "a new alias to comma-separated targets; @domain is a catch-all, and @old.example to @new.example a domain alias", run: aliasAdd},
		{name: "list", summary: "the aliases, their targets and who may send as them", run: aliasList},
		{name: "set", args: "ALIAS TARGETS [--permit A]", summary: "change an alias in place", run: aliasSet},
		{name: "remove", args: "ALIAS", summary: "delete an alias", run: aliasRemove},
	}
}

// listFlag collects a repeatable, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

// parseAlias reads an alias address, or @domain for a catch-all, with
// the rules the web pages use (admin.ParseAliasAddress).
func parseAlias(s string) (string, error) {
	a, err := admin.ParseAliasAddress(s)
	if err != nil {
		return "", usagef("%v", err)
	}
	return a, nil
}

func aliasAdd(e *env, args []string) error {
	var permit listFlag
	dir, pos, err := parseArgs(e, "alias add", args, 2, func(fs *flag.FlagSet) {
		fs.Var(&permit, "permit", "account allowed to send as the alias (repeatable, or comma-separated)")
	})
	if err != nil {
		return err
	}
	alias, err := parseAlias(pos[0])
	if err != nil {
		return err
	}
	targets, err := aliasTargets("add", pos[1], permit)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		// Local targets must exist, so a typo does not swallow mail.
		if err := newAdmin(st).AddAlias(context.Background(), store.Alias{Address: alias, Targets: targets, Permit: permit}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added alias %s -> %s\n", alias, strings.Join(targets, ","))
		return nil
	})
}

func aliasRemove(e *env, args []string) error {
	dir, pos, err := parseArgs(e, "alias remove", args, 1, nil)
	if err != nil {
		return err
	}
	alias, err := parseAlias(pos[0])
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).RemoveAlias(context.Background(), alias); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed alias %s\n", alias)
		return nil
	})
}

func aliasList(e *env, args []string) error {
	dir, _, err := parseArgs(e, "alias list", args, 0, nil)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		as, err := st.Aliases(context.Background())
		if err != nil {
			return err
		}
		tw := newTable(e.stdout, "ALIAS\tTARGETS\tMAY SEND AS IT")
		for _, a := range as {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Address, strings.Join(a.Targets, ","), strings.Join(a.Permit, ","))
		}
		return tw.Flush()
	})
}

// aliasSet: alias set ALIAS TARGETS [--permit ACCOUNT ...] replaces the
// alias's targets and permitted senders (none without --permit).
func aliasSet(e *env, args []string) error {
	var permit listFlag
	given := false // --permit '' clears the list; no --permit keeps it
	dir, pos, err := parseWith(e, "alias set", args, func(fs *flag.FlagSet) {
		fs.Func("permit", "account allowed to send as the alias (repeatable, or comma-separated; --permit '' for none; the current list is kept if not given)", func(v string) error {
			given = true
			return permit.Set(v)
		})
	})
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("alias set takes 2 arguments (ALIAS TARGETS), got %d", len(pos))
	}
	alias, err := admin.ParseAliasAddress(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	targets, err := aliasTargets("set", pos[1], permit)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		ctx := context.Background()
		if !given {
			cur, err := st.AliasByAddress(ctx, alias)
			if err != nil {
				return err
			}
			permit = cur.Permit
		}
		if err := newAdmin(st).SetAlias(ctx, store.Alias{Address: alias, Targets: targets, Permit: permit}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "alias %s -> %s", alias, strings.Join(targets, ","))
		if len(permit) > 0 {
			fmt.Fprintf(e.stdout, " (may send as it: %s)", strings.Join(permit, ","))
		}
		fmt.Fprintln(e.stdout)
		return nil
	})
}

// aliasTargets parses an alias's comma-separated targets (at least one)
// and normalises the --permit addresses in place.
func aliasTargets(sub, list string, permit listFlag) ([]string, error) {
	var tl listFlag
	_ = tl.Set(list) // listFlag.Set never fails
	if len(tl) == 0 {
		return nil, usagef("alias %s needs at least one target", sub)
	}
	var targets []string
	for _, t := range tl {
		a, err := admin.ParseAliasTarget(t)
		if err != nil {
			return nil, usagef("target: %v", err)
		}
		targets = append(targets, a)
	}
	for i, p := range permit {
		a, err := delivery.ParseAddress(p)
		if err != nil {
			return nil, usagef("--permit: %v", err)
		}
		permit[i] = a.String()
	}
	return targets, nil
}
