package admin

import (
	"context"

	"boxmail/internal/store"
)

// AddDNSRecord stores a custom DNS record the box serves (parsed and
// checked by dnsrecords.ParseCustom); one stored already is
// store.ErrExists.
func (s *Service) AddDNSRecord(ctx context.Context, r store.DNSRecord) error {
	return s.st.AddDNSRecord(ctx, r)
}

// RemoveDNSRecords removes the custom records of a name and type (and
// value, unless empty) and returns how many; none is store.ErrNotFound.
func (s *Service) RemoveDNSRecords(ctx context.Context, name, typ, value string) (int, error) {
	return s.st.RemoveDNSRecords(ctx, name, typ, value)
}

// Unblock lifts a login block of a network (guard.ParseClientNet's
// form); none is store.ErrNotFound.
func (s *Service) Unblock(ctx context.Context, network string) error {
	return s.st.RemoveAuthBlock(ctx, network)
}
