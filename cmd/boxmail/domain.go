package main

// 'boxmail domain': the hosted domains.

import (
	"context"
	"fmt"

	"boxmail/internal/delivery"
)

func domainCommands() []subcommand {
	return []subcommand{
		{name: "add", args: "DOMAIN", summary: "host a domain (prints its DKIM record)", run: domainAdd},
		{name: "list", summary: "the hosted domains", run: domainList},
		{name: "remove", args: "DOMAIN", summary: "stop hosting a domain without accounts or aliases", run: domainRemove},
	}
}

// wantArgs checks the number of positional arguments of a subcommand.
func wantArgs(cmd string, pos []string, n int) error {
	if len(pos) != n {
		return usagef("%s takes %d argument(s), got %d", cmd, n, len(pos))
	}
	return nil
}

// domainArg parses the one DOMAIN argument of 'domain add|remove'.
func domainArg(e *env, sub string, args []string) (dir, domain string, err error) {
	fs := newFlags(e, "domain "+sub, &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return "", "", err
	}
	if err := wantArgs("domain "+sub, pos, 1); err != nil {
		return "", "", err
	}
	if domain, err = delivery.ParseHostedDomain(pos[0]); err != nil {
		return "", "", usagef("%v", err)
	}
	return dir, domain, nil
}

func domainAdd(e *env, args []string) (err error) {
	dir, name, err := domainArg(e, "add", args)
	if err != nil {
		return err
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	if err := newAdmin(st).AddDomain(context.Background(), name); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added domain %s\n", name)
	return printDKIMRecords(e, st, name)
}

func domainRemove(e *env, args []string) (err error) {
	dir, name, err := domainArg(e, "remove", args)
	if err != nil {
		return err
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	if err := newAdmin(st).RemoveDomain(context.Background(), name); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed domain %s\n", name)
	return nil
}

func domainList(e *env, args []string) (err error) {
	var dir string
	fs := newFlags(e, "domain list", &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("domain list", pos, 0); err != nil {
		return err
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	ds, err := st.Domains(context.Background())
	if err != nil {
		return err
	}
	for _, d := range ds {
		fmt.Fprintln(e.stdout, d.Name)
	}
	return nil
}
