package main

// 'boxmail dkim': the DKIM keys of the hosted domains, their records,
// and rotation.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"boxmail/internal/config"
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
	tw := newTable(e.stdout, "NAME\tTYPE\tVALUE\tSIGNING")
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

func dkimCommands() []subcommand {
	return []subcommand{
		{name: "show", args: "DOMAIN", summary: "the DKIM records to publish", run: dkimShow},
		{name: "rotate", args: "DOMAIN [--algorithm rsa|ed25519]", summary: "a new key under a new selector (it does not sign yet)", run: dkimRotate},
		{name: "activate", args: "DOMAIN SELECTOR [--force]", summary: "sign with a key once its record is published", run: dkimActivate},
		{name: "remove", args: "DOMAIN SELECTOR", summary: "drop an old key", run: dkimRemove},
	}
}

// dkimArgs parses a dkim subcommand's flags and arguments (DOMAIN, and
// SELECTOR for activate and remove); check, if set, checks the flags.
func dkimArgs(e *env, sub string, args []string, flags func(*flag.FlagSet), check func() error) (dir string, pos []string, err error) {
	if dir, pos, err = parseWith(e, "dkim "+sub, args, flags); err != nil {
		return "", nil, err
	}
	switch {
	case (sub == "activate" || sub == "remove") && len(pos) != 2:
		return "", nil, usagef("dkim %s takes DOMAIN SELECTOR", sub)
	case sub != "activate" && sub != "remove" && len(pos) != 1:
		return "", nil, usagef("dkim %s takes one DOMAIN", sub)
	}
	if check != nil {
		if err := check(); err != nil {
			return "", nil, err
		}
	}
	if pos[0], err = delivery.ParseHostedDomain(pos[0]); err != nil {
		return "", nil, usagef("%v", err)
	}
	return dir, pos, nil
}

// openDKIMStore opens the store and checks the box hosts domain.
func openDKIMStore(dir, domain string) (*store.Store, error) {
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	if ok, err := st.IsLocalDomain(context.Background(), domain); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("domain %s is not hosted here", domain)
		}
		return nil, errors.Join(err, st.Close())
	}
	return st, nil
}

// withDKIMStore is withStore for a domain the box must host.
func withDKIMStore(dir, domain string, fn func(*store.Store) error) (err error) {
	st, err := openDKIMStore(dir, domain)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	return fn(st)
}

func dkimShow(e *env, args []string) error {
	dir, pos, err := dkimArgs(e, "show", args, nil, nil)
	if err != nil {
		return err
	}
	return withDKIMStore(dir, pos[0], func(st *store.Store) error {
		return printDKIMRecords(e, st, pos[0])
	})
}

// dkimRotate: 'dkim rotate' makes a key under a new selector that does
// not sign yet; 'dkim activate' switches signing to it once the DNS
// check of 'boxmail status' sees its record published, and 'dkim remove'
// drops an old key once its record has been gone long enough.
func dkimRotate(e *env, args []string) error {
	var alg string
	dir, pos, err := dkimArgs(e, "rotate", args, func(fs *flag.FlagSet) {
		fs.StringVar(&alg, "algorithm", mailauth.AlgRSA, "rsa or ed25519")
	}, func() error {
		if alg != mailauth.AlgRSA && alg != mailauth.AlgEd25519 {
			return usagef("--algorithm: want rsa or ed25519")
		}
		return nil
	})
	if err != nil {
		return err
	}
	domain := pos[0]
	return withDKIMStore(dir, domain, func(st *store.Store) error {
		k, rec, err := newAdmin(st).RotateDKIM(context.Background(), domain, alg)
		if err != nil {
			return err
		}
		sel := k.Selector
		fmt.Fprintf(e.stdout, "new %s DKIM key for %s under selector %s; it does not sign yet.\n\n", alg, domain, sel)
		fmt.Fprintf(e.stdout, "1. Publish this record at your DNS host (keep the old one):\n\n   %s._domainkey\tTXT\t%s\n\n", sel, rec)
		fmt.Fprintf(e.stdout, "2. When 'boxmail status %s' shows it, switch signing to it:\n\n   boxmail dkim activate %s %s\n\n", domain, domain, sel)
		fmt.Fprintf(e.stdout, "3. A week later remove the old record and key ('boxmail dkim remove %s SELECTOR').\n", domain)
		return nil
	})
}

func dkimActivate(e *env, args []string) error {
	var force bool
	var timeout time.Duration
	dir, pos, err := dkimArgs(e, "activate", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "switch even if the DNS check does not see the record")
		fs.DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each DNS query")
	}, nil)
	if err != nil {
		return err
	}
	domain, selector := pos[0], pos[1]
	return withDKIMStore(dir, domain, func(st *store.Store) error {
		// The DNS check asks the config's resolvers; --force needs no config.
		var cfg config.Config
		if !force {
			var err error
			if cfg, err = config.Load(dir); err != nil {
				return err
			}
		}
		act, err := newBoxAdmin(dir, cfg, st, nil, nil).ActivateDKIM(context.Background(), domain, selector, force, timeout)
		if err != nil {
			return err
		}
		if act.AlreadyActive {
			fmt.Fprintf(e.stdout, "%s already signs for %s\n", selector, domain)
			return nil
		}
		fmt.Fprintf(e.stdout, "%s now signs for %s with %s", domain, selector, act.Key.Algorithm)
		for _, old := range act.Replaced {
			fmt.Fprintf(e.stdout, " instead of %s; keep %s._domainkey published for a week, then 'boxmail dkim remove %s %s'", old, old, domain, old)
		}
		fmt.Fprintln(e.stdout)
		return nil
	})
}

func dkimRemove(e *env, args []string) error {
	dir, pos, err := dkimArgs(e, "remove", args, nil, nil)
	if err != nil {
		return err
	}
	domain, selector := pos[0], pos[1]
	return withDKIMStore(dir, domain, func(st *store.Store) error {
		if err := newAdmin(st).RemoveDKIM(context.Background(), domain, selector); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed DKIM key %s of %s; remove %s._domainkey from DNS too\n", selector, domain, selector)
		return nil
	})
}
