package admin

import (
	"context"
	"errors"
	"strings"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// SetDNSRecord adds a custom record (NAME TYPE VALUE as a person types
// it) to the zones the box serves, whose current records and input are
// set and in; it returns the record as stored and the records of set it
// replaces (a CNAME replaces every record of its name). A CNAME next to
// other custom records of its name, or a record stored already, is an
// *InputError.
func (s *Service) SetDNSRecord(ctx context.Context, set *dnsrecords.Set, in dnsrecords.Input, name, typ, value string) (dnsrecords.Custom, []dnsrecords.Record, error) {
	c, err := dnsrecords.ParseCustom(set.Zones, name, typ, value)
	if err != nil {
		return c, nil, err
	}
	for _, o := range in.Custom {
		if o.Name == c.Name && (o.Type == "CNAME") != (c.Type == "CNAME") {
			return c, nil, inputErrorf("%s already has a custom %s record; a CNAME cannot share its name with other records ('boxmail dns unset %s %s' first)", c.Name, o.Type, o.Name, o.Type)
		}
	}
	replaced := set.Find(c.Name, c.Type)
	if c.Type == "CNAME" {
		replaced = nil
		for _, r := range set.Records {
			if r.Name == c.Name {
				replaced = append(replaced, r)
			}
		}
	}
	if err := s.st.AddDNSRecord(ctx, store.DNSRecord{Name: c.Name, Type: c.Type, Value: c.Value}); errors.Is(err, store.ErrExists) {
		return c, nil, inputErrorf("the record %s %s %s exists already", c.Name, c.Type, c.Value)
	} else if err != nil {
		return c, nil, err
	}
	return c, replaced, nil
}

// UnsetDNSRecords removes the custom records of a name and type (and
// value, unless empty, parsed in the zones of set) and returns the name,
// the type and how many; none is an *InputError.
func (s *Service) UnsetDNSRecords(ctx context.Context, set *dnsrecords.Set, name, typ, value string) (string, string, int, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	typ = strings.ToUpper(typ)
	if value != "" {
		c, err := dnsrecords.ParseCustom(set.Zones, name, typ, value)
		if err != nil {
			return name, typ, 0, err
		}
		value = c.Value
	}
	n, err := s.st.RemoveDNSRecords(ctx, name, typ, value)
	if errors.Is(err, store.ErrNotFound) {
		with := ""
		if value != "" {
			with = " with that value"
		}
		return name, typ, 0, inputErrorf("there is no custom %s record at %s%s ('boxmail dns records' lists them)", typ, name, with)
	}
	return name, typ, n, err
}

// Unblock lifts a login block of a network (guard.ParseClientNet's
// form); none is store.ErrNotFound.
func (s *Service) Unblock(ctx context.Context, network string) error {
	return s.st.RemoveAuthBlock(ctx, network)
}
