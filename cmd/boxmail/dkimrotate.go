package main

// DKIM key rotation: 'dkim rotate' makes a key under a new selector that
// does not sign yet, 'dkim activate' switches signing to it once the DNS
// check of 'boxmail status' sees its record published, and 'dkim remove'
// drops an old key once its record has been gone long enough.

import (
	"context"
	"fmt"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/store"
)

func dkimRotate(e *env, st *store.Store, domain, alg string) error {
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
}

func dkimActivate(e *env, dir string, st *store.Store, domain, selector string, force bool, timeout time.Duration) error {
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
}

func dkimRemove(e *env, st *store.Store, domain, selector string) error {
	if err := newAdmin(st).RemoveDKIM(context.Background(), domain, selector); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed DKIM key %s of %s; remove %s._domainkey from DNS too\n", selector, domain, selector)
	return nil
}
