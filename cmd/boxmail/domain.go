package main

// 'boxmail domain': the hosted domains.

import (
	"context"
	"fmt"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

func domainCommands() []subcommand {
	return []subcommand{
		{name: "add", args: "DOMAIN", summary: "host a domain (prints its DKIM record)", run: domainAdd},
		{name: "list", summary: "the hosted domains", run: domainList},
		{name: "remove", args: "DOMAIN", summary: "stop hosting a domain without accounts or aliases", run: domainRemove},
	}
}

// domainArg parses the one DOMAIN argument of 'domain add|remove'.
func domainArg(e *env, sub string, args []string) (dir, domain string, err error) {
	dir, pos, err := parseArgs(e, "domain "+sub, args, 1, nil)
	if err != nil {
		return "", "", err
	}
	if domain, err = delivery.ParseHostedDomain(pos[0]); err != nil {
		return "", "", usagef("%v", err)
	}
	return dir, domain, nil
}

func domainAdd(e *env, args []string) error {
	dir, name, err := domainArg(e, "add", args)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).AddDomain(context.Background(), name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added domain %s\n", name)
		return printDKIMRecords(e, st, name)
	})
}

func domainRemove(e *env, args []string) error {
	dir, name, err := domainArg(e, "remove", args)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).RemoveDomain(context.Background(), name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed domain %s\n", name)
		return nil
	})
}

func domainList(e *env, args []string) error {
	dir, _, err := parseArgs(e, "domain list", args, 0, nil)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		ds, err := st.Domains(context.Background())
		if err != nil {
			return err
		}
		for _, d := range ds {
			fmt.Fprintln(e.stdout, d.Name)
		}
		return nil
	})
}
