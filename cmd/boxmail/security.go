package main

// 'boxmail security': clients blocked for failed logins.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"boxmail/internal/guard"
	"boxmail/internal/store"
)

func securityCommands() []subcommand {
	return []subcommand{
		{name: "blocked", summary: "clients blocked for failed logins", run: securityBlocked},
		{name: "unblock", args: "IP", summary: "lift a block: its logins are counted from zero again", run: securityUnblock},
	}
}

func securityUnblock(e *env, args []string) error {
	dir, pos, err := parseWith(e, "security unblock", args, nil)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("security unblock takes one IP address")
	}
	p, ok := guard.ParseClientNet(pos[0])
	if !ok {
		return usagef("%q is not an IP address", pos[0])
	}
	net := p.String()
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).Unblock(context.Background(), net); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s is not blocked", net)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "unblocked %s: its logins are counted from zero again\n", net)
		return nil
	})
}

func securityBlocked(e *env, args []string) error {
	dir, pos, err := parseWith(e, "security blocked", args, nil)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("security blocked takes no arguments")
	}
	return withStore(dir, func(st *store.Store) error {
		bs, err := st.AuthBlocks(context.Background())
		if err != nil {
			return err
		}
		now := time.Now()
		tw := newTable(e.stdout, "NETWORK\tBLOCKED UNTIL\tBLOCK\tREASON")
		n := 0
		for _, b := range bs {
			if !now.Before(b.Until) {
				continue
			}
			n++
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", b.Net, b.Until.Format(time.RFC3339), b.Level, b.Reason)
		}
		if n == 0 {
			fmt.Fprintln(e.stdout, "no client is blocked")
			return nil
		}
		return tw.Flush()
	})
}
