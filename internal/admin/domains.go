package admin

import (
	"context"
	"fmt"

	"boxmail/internal/delivery"
	"boxmail/internal/mailauth"
	"boxmail/internal/store"
)

// DefaultDomainKeys generates a new domain's DKIM key: RSA 2048 under
// the selector "mail", active.
func DefaultDomainKeys(domain string) ([]store.DKIMKey, error) {
	k, err := mailauth.NewDKIMKey(mailauth.AlgRSA)
	if err != nil {
		return nil, fmt.Errorf("generating the DKIM key of %s: %w", domain, err)
	}
	return []store.DKIMKey{{Domain: domain, Selector: mailauth.DefaultSelector, Algorithm: mailauth.AlgRSA, Private: k, Active: true}}, nil
}

// AddDomain hosts a domain, with its first DKIM key (Options.NewDomainKeys);
// one hosted already is store.ErrExists.
func (s *Service) AddDomain(ctx context.Context, name string) error {
	d, err := delivery.ParseHostedDomain(name)
	if err != nil {
		return &InputError{Msg: err.Error()}
	}
	keys, err := s.o.NewDomainKeys(d)
	if err != nil {
		return err
	}
	return s.st.AddDomain(ctx, d, keys...)
}

// RemoveDomain stops hosting a domain; one that still has accounts or
// aliases is store.ErrDomainNotEmpty.
func (s *Service) RemoveDomain(ctx context.Context, name string) error {
	d, err := delivery.ParseHostedDomain(name)
	if err != nil {
		return &InputError{Msg: err.Error()}
	}
	return s.st.RemoveDomain(ctx, d)
}
