package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"boxmail/internal/delivery"
	"boxmail/internal/mailauth"
	"boxmail/internal/store"
)

// newDomainKeys generates a new domain's DKIM key: RSA 2048 under the
// selector "mail", active.
func newDomainKeys(domain string) ([]store.DKIMKey, error) {
	k, err := mailauth.NewDKIMKey(mailauth.AlgRSA)
	if err != nil {
		return nil, fmt.Errorf("generating the DKIM key of %s: %v", domain, err)
	}
	return []store.DKIMKey{{Domain: domain, Selector: mailauth.DefaultSelector, Algorithm: mailauth.AlgRSA, Private: k, Active: true}}, nil
}

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
			return fmt.Errorf("DKIM key %s of %s: %v", k.Selector, domain, err)
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
	sub, args, err := subcommand(args, "dkim", "show")
	if err != nil {
		return err
	}
	var dir string
	fs := newFlags(e, "dkim "+sub, &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("dkim %s takes one DOMAIN", sub)
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
	return printDKIMRecords(e, st, domain)
}
