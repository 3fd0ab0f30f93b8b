package main

// 'boxmail alias set' (edit an alias in place) and 'boxmail user
// disable|enable' (close an account but keep its mail). The web calls
// the same admin.Service methods.

import (
	"context"
	"fmt"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// cmdAliasMore runs 'alias set', else the other alias subcommands.
func cmdAliasMore(e *env, args []string) error {
	if len(args) > 0 && args[0] == "set" {
		return cmdAliasSet(e, args[1:])
	}
	return cmdAlias(e, args)
}

// cmdUserMore runs 'user disable|enable', else the other user subcommands.
func cmdUserMore(e *env, args []string) error {
	if len(args) > 0 && (args[0] == "disable" || args[0] == "enable") {
		return cmdUserDisable(e, args[0], args[1:])
	}
	return cmdUser(e, args)
}

// cmdAliasSet: alias set ALIAS TARGETS [--permit ACCOUNT ...] replaces
// the alias's targets and permitted senders (none without --permit).
func cmdAliasSet(e *env, args []string) error {
	var dir string
	var permit listFlag
	fs := newFlags(e, "alias set", &dir)
	fs.Var(&permit, "permit", "account allowed to send as the alias (repeatable, or comma-separated; none if not given)")
	pos, err := parseFlags(e, fs, args)
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
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := newAdmin(st).SetAlias(context.Background(), store.Alias{Address: alias, Targets: targets, Permit: permit}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "alias %s -> %s", alias, strings.Join(targets, ","))
	if len(permit) > 0 {
		fmt.Fprintf(e.stdout, " (may send as it: %s)", strings.Join(permit, ","))
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// cmdUserDisable: user disable|enable EMAIL.
func cmdUserDisable(e *env, sub string, args []string) error {
	var dir string
	fs := newFlags(e, "user "+sub, &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("user %s takes 1 argument (EMAIL), got %d", sub, len(pos))
	}
	a, err := delivery.ParseAddress(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := newAdmin(st).SetAccountDisabled(context.Background(), a, sub == "disable"); err != nil {
		return err
	}
	if sub == "disable" {
		fmt.Fprintf(e.stdout, "disabled %s: no logins, mail to it is refused; its mail is kept ('boxmail user enable %s' to reopen, 'boxmail user remove %s' to delete)\n", a, a, a)
	} else {
		fmt.Fprintf(e.stdout, "enabled %s\n", a)
	}
	return nil
}
