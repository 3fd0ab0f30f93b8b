package admin

// DKIM key rotation: RotateDKIM makes a key under a new selector that
// does not sign yet, ActivateDKIM switches signing to it once the DNS
// check sees its record published, and RemoveDKIM drops an old key once
// its record has been gone long enough.

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// RotateDKIM makes a new key of algorithm alg (mailauth.AlgRSA or
// AlgEd25519) for a hosted domain, not signing yet, and returns it with
// the TXT record to publish at SELECTOR._domainkey.
func (s *Service) RotateDKIM(ctx context.Context, domain, alg string) (store.DKIMKey, string, error) {
	keys, err := s.st.DKIMKeys(ctx, domain)
	if err != nil {
		return store.DKIMKey{}, "", err
	}
	priv, err := mailauth.NewDKIMKey(alg)
	if err != nil {
		return store.DKIMKey{}, "", err
	}
	k := store.DKIMKey{Domain: domain, Selector: newSelector(keys, s.o.Now()), Algorithm: alg, Private: priv, Active: false}
	if err := s.st.AddDKIMKey(ctx, k); err != nil {
		return store.DKIMKey{}, "", err
	}
	rec, err := mailauth.DKIMRecord(priv)
	return k, rec, err
}

// DKIMActivation is what ActivateDKIM did.
type DKIMActivation struct {
	Key           store.DKIMKey
	AlreadyActive bool     // the key signed already: nothing changed
	Replaced      []string // selectors of the same algorithm it replaces
}

// ActivateDKIM switches a domain's signing to the key with selector,
// once the DNS check sees its record (unless force); a record not seen
// is an *InputError.
func (s *Service) ActivateDKIM(ctx context.Context, domain, selector string, force bool, timeout time.Duration) (DKIMActivation, error) {
	keys, err := s.st.DKIMKeys(ctx, domain)
	if err != nil {
		return DKIMActivation{}, err
	}
	var key *store.DKIMKey
	for i := range keys {
		if keys[i].Selector == selector {
			key = &keys[i]
		}
	}
	if key == nil {
		return DKIMActivation{}, inputErrorf("domain %s has no DKIM key with selector %s", domain, selector)
	}
	if key.Active {
		return DKIMActivation{Key: *key, AlreadyActive: true}, nil
	}
	if !force {
		ok, found, err := s.dkimPublished(ctx, *key, timeout)
		if err != nil {
			return DKIMActivation{}, err
		}
		if !ok {
			return DKIMActivation{}, inputErrorf("not switching: %s (publish the record 'boxmail dkim show %s' prints, or pass --force)", found, domain)
		}
	}
	if err := s.st.ActivateDKIMKey(ctx, domain, selector); err != nil {
		return DKIMActivation{}, err
	}
	act := DKIMActivation{Key: *key}
	for _, k := range keys {
		if k.Active && k.Algorithm == key.Algorithm && k.Selector != selector {
			act.Replaced = append(act.Replaced, k.Selector)
		}
	}
	return act, nil
}

// dkimPublished runs the DKIM check of 'boxmail status' for one key.
func (s *Service) dkimPublished(ctx context.Context, k store.DKIMKey, timeout time.Duration) (bool, string, error) {
	in := dnsrecords.Input{Hostname: s.o.Hostname, Domains: []dnsrecords.Domain{{Name: k.Domain,
		DKIM: []dnsrecords.DKIMKey{{Selector: k.Selector, PrivatePEM: k.Private}}}}}
	set, err := dnsrecords.Build(in)
	if err != nil {
		return false, "", err
	}
	for _, res := range dnsrecords.Check(ctx, s.resolver(timeout), set, in, dnsrecords.CheckOptions{Domains: []string{k.Domain}}) {
		if res.Check == "DKIM" {
			return res.Level == dnsrecords.OK, res.Found, nil
		}
	}
	return false, "", errors.New("the DNS check found no DKIM record to check")
}

// resolver is the resolver of the checks: Options.Resolvers, else the
// system's.
func (s *Service) resolver(timeout time.Duration) *resolver.Net {
	r := resolver.Servers(s.o.Resolvers)
	r.Timeout = timeout
	return r
}

// RemoveDKIM drops a domain's key that no longer signs.
func (s *Service) RemoveDKIM(ctx context.Context, domain, selector string) error {
	keys, err := s.st.DKIMKeys(ctx, domain)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Selector == selector && k.Active {
			return inputErrorf("%s still signs for %s: activate another key first", selector, domain)
		}
	}
	return s.st.RemoveDKIMKey(ctx, domain, selector)
}
