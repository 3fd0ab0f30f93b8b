package main

// DKIM key rotation: 'dkim rotate' makes a key under a new selector that
// does not sign yet, 'dkim activate' switches signing to it once the DNS
// check of 'boxmail status' sees its record published, and 'dkim remove'
// drops an old key once its record has been gone long enough.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// newSelector returns an unused selector for a key made now: "m" and the
// year and month ("m202611"), with a letter added if that is taken.
func newSelector(keys []store.DKIMKey, now time.Time) string {
	used := map[string]bool{}
	for _, k := range keys {
		used[k.Selector] = true
	}
	base := "m" + now.Format("200601")
	s := base
	for i := 0; used[s]; i++ {
		s = base + string(rune('b'+i%25))
		if i >= 25 {
			s = fmt.Sprintf("%s%d", base, i)
		}
	}
	return s
}

func dkimRotate(e *env, st *store.Store, domain, alg string) error {
	ctx := context.Background()
	keys, err := st.DKIMKeys(ctx, domain)
	if err != nil {
		return err
	}
	priv, err := mailauth.NewDKIMKey(alg)
	if err != nil {
		return err
	}
	sel := newSelector(keys, time.Now())
	if err := st.AddDKIMKey(ctx, store.DKIMKey{Domain: domain, Selector: sel, Algorithm: alg, Private: priv, Active: false}); err != nil {
		return err
	}
	rec, err := mailauth.DKIMRecord(priv)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "new %s DKIM key for %s under selector %s; it does not sign yet.\n\n", alg, domain, sel)
	fmt.Fprintf(e.stdout, "1. Publish this record at your DNS host (keep the old one):\n\n   %s._domainkey\tTXT\t%s\n\n", sel, rec)
	fmt.Fprintf(e.stdout, "2. When 'boxmail status %s' shows it, switch signing to it:\n\n   boxmail dkim activate %s %s\n\n", domain, domain, sel)
	fmt.Fprintf(e.stdout, "3. A week later remove the old record and key ('boxmail dkim remove %s SELECTOR').\n", domain)
	return nil
}

// dkimPublished runs the DKIM check of 'boxmail status' for one key.
func dkimPublished(cfg config.Config, k store.DKIMKey, timeout time.Duration) (bool, string, error) {
	in := dnsrecords.Input{Hostname: cfg.Hostname, Domains: []dnsrecords.Domain{{Name: k.Domain,
		DKIM: []dnsrecords.DKIMKey{{Selector: k.Selector, PrivatePEM: k.Private}}}}}
	set, err := dnsrecords.Build(in)
	if err != nil {
		return false, "", err
	}
	r := resolver.System()
	if len(cfg.Resolvers) > 0 {
		r = &resolver.Net{Servers: cfg.Resolvers}
	}
	r.Timeout = timeout
	for _, res := range dnsrecords.Check(context.Background(), r, set, in, dnsrecords.CheckOptions{Domains: []string{k.Domain}}) {
		if res.Check == "DKIM" {
			return res.Level == dnsrecords.OK, res.Found, nil
		}
	}
	return false, "", errors.New("the DNS check found no DKIM record to check")
}

func dkimActivate(e *env, dir string, st *store.Store, domain, selector string, force bool, timeout time.Duration) error {
	ctx := context.Background()
	keys, err := st.DKIMKeys(ctx, domain)
	if err != nil {
		return err
	}
	var key *store.DKIMKey
	for i := range keys {
		if keys[i].Selector == selector {
			key = &keys[i]
		}
	}
	if key == nil {
		return fmt.Errorf("domain %s has no DKIM key with selector %s", domain, selector)
	}
	if key.Active {
		fmt.Fprintf(e.stdout, "%s already signs for %s\n", selector, domain)
		return nil
	}
	if !force {
		cfg, err := config.Load(dir)
		if err != nil {
			return err
		}
		ok, found, err := dkimPublished(cfg, *key, timeout)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("not switching: %s (publish the record 'boxmail dkim show %s' prints, or pass --force)", found, domain)
		}
	}
	if err := st.ActivateDKIMKey(ctx, domain, selector); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s now signs for %s with %s", domain, selector, key.Algorithm)
	for _, k := range keys {
		if k.Active && k.Algorithm == key.Algorithm && k.Selector != selector {
			fmt.Fprintf(e.stdout, " instead of %s; keep %s._domainkey published for a week, then 'boxmail dkim remove %s %s'", k.Selector, k.Selector, domain, k.Selector)
		}
	}
	fmt.Fprintln(e.stdout)
	return nil
}

func dkimRemove(e *env, st *store.Store, domain, selector string) error {
	ctx := context.Background()
	keys, err := st.DKIMKeys(ctx, domain)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Selector == selector && k.Active {
			return fmt.Errorf("%s still signs for %s: activate another key first", selector, domain)
		}
	}
	if err := st.RemoveDKIMKey(ctx, domain, selector); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed DKIM key %s of %s; remove %s._domainkey from DNS too\n", selector, domain, selector)
	return nil
}
