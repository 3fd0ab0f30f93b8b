package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/mailauth"
	"boxmail/internal/store"
)

// printDKIMRecords prints the TXT records a DNS host needs for the
// domain's DKIM keys, named relative to the zone as DNS hosts want them.
func printDKIMRecords(e *env, st *store.Store, domain string) error {
	keys, err := st.DKIMKeys(context.Background(), domain)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("domain %s has no DKIM key", domain)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tVALUE\tSIGNING")
	for _, k := range keys {
		rec, err := mailauth.DKIMRecord(k.Private)
		if err != nil {
			return fmt.Errorf("DKIM key %s of %s: %w", k.Selector, domain, err)
		}
		signing := "no"
		if k.Active {
			signing = "yes"
		}
		fmt.Fprintf(tw, "%s._domainkey\tTXT\t%s\t%s\n", k.Selector, rec, signing)
	}
	return tw.Flush()
}

func cmdDKIM(e *env, args []string) error {
	sub, args, err := subcommand(args, "dkim", "show", "rotate", "activate", "remove")
	if err != nil {
		return err
	}
	var dir, alg string
	var force bool
	var timeout time.Duration
	fs := newFlags(e, "dkim "+sub, &dir)
	switch sub {
	case "rotate":
		fs.StringVar(&alg, "algorithm", mailauth.AlgRSA, "rsa or ed25519")
	case "activate":
		fs.BoolVar(&force, "force", false, "switch even if the DNS check does not see the record")
		fs.DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each DNS query")
	}
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case (sub == "activate" || sub == "remove") && len(pos) != 2:
		return usagef("dkim %s takes DOMAIN SELECTOR", sub)
	case sub != "activate" && sub != "remove" && len(pos) != 1:
		return usagef("dkim %s takes one DOMAIN", sub)
	}
	if alg != "" && alg != mailauth.AlgRSA && alg != mailauth.AlgEd25519 {
		return usagef("--algorithm: want rsa or ed25519")
	}
	domain, err := delivery.ParseHostedDomain(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if ok, err := st.IsLocalDomain(context.Background(), domain); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("domain %s is not hosted here", domain)
	}
	switch sub {
	case "rotate":
		return dkimRotate(e, st, domain, alg)
	case "activate":
		return dkimActivate(e, dir, st, domain, pos[1], force, timeout)
	case "remove":
		return dkimRemove(e, st, domain, pos[1])
	}
	return printDKIMRecords(e, st, domain)
}
