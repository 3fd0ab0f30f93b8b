package dav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav/carddav"

	"boxmail/internal/store"
)

// cardBackend is the CardDAV backend over the store.
type cardBackend struct{ *backend }

var _ carddav.Backend = (*cardBackend)(nil)

// AddressBookHomeSetPath implements carddav.Backend.
func (b *cardBackend) AddressBookHomeSetPath(ctx context.Context) (string, error) {
	return homePath(info(ctx).acct, store.DAVCards), nil
}

func (b *cardBackend) book(ctx context.Context, c store.DAVCollection) carddav.AddressBook {
	return carddav.AddressBook{
		Path: collectionPath(info(ctx).acct, store.DAVCards, c.Name), Name: c.DisplayName, Description: c.Description,
		MaxResourceSize: store.DAVMaxObjectBytes,
		SupportedAddressData: []carddav.AddressDataType{
			{ContentType: vcard.MIMEType, Version: "3.0"},
			{ContentType: vcard.MIMEType, Version: "4.0"},
		},
	}
}

// ListAddressBooks implements carddav.Backend.
func (b *cardBackend) ListAddressBooks(ctx context.Context) ([]carddav.AddressBook, error) {
	cs, err := b.collections(ctx, store.DAVCards)
	if err != nil {
		return nil, err
	}
	out := make([]carddav.AddressBook, len(cs))
	for i, c := range cs {
		out[i] = b.book(ctx, c)
	}
	return out, nil
}

// GetAddressBook implements carddav.Backend.
func (b *cardBackend) GetAddressBook(ctx context.Context, p string) (*carddav.AddressBook, error) {
	c, _, err := b.target(ctx, p, store.DAVCards, levelCollection)
	if err != nil {
		return nil, err
	}
	ab := b.book(ctx, c)
	return &ab, nil
}

// CreateAddressBook implements carddav.Backend (MKCOL).
func (b *cardBackend) CreateAddressBook(ctx context.Context, ab *carddav.AddressBook) error {
	return b.create(ctx, store.DAVCards, ab.Path, ab.Name, ab.Description)
}

// DeleteAddressBook implements carddav.Backend.
func (b *cardBackend) DeleteAddressBook(ctx context.Context, p string) error {
	return b.remove(ctx, store.DAVCards, p)
}

// cardObject decodes a stored vCard.
func (b *cardBackend) cardObject(ctx context.Context, c store.DAVCollection, o store.DAVObject) (carddav.AddressObject, error) {
	card, err := vcard.NewDecoder(bytes.NewReader(o.Data)).Decode()
	if err != nil {
		return carddav.AddressObject{}, b.fail(ctx, fmt.Errorf("stored vCard %s/%s: %w", c.Name, o.Name, err))
	}
	return carddav.AddressObject{
		Path: objectPath(info(ctx).acct, store.DAVCards, c.Name, o.Name), ModTime: o.Modified,
		ContentLength: int64(len(o.Data)), ETag: o.ETag, Card: card,
	}, nil
}

// GetAddressObject implements carddav.Backend.
func (b *cardBackend) GetAddressObject(ctx context.Context, p string, _ *carddav.AddressDataRequest) (*carddav.AddressObject, error) {
	c, name, err := b.target(ctx, p, store.DAVCards, levelObject)
	if err != nil {
		return nil, err
	}
	o, err := b.st().DAVObject(ctx, c.ID, name)
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	ao, err := b.cardObject(ctx, c, o)
	return &ao, err
}

// ListAddressObjects implements carddav.Backend.
func (b *cardBackend) ListAddressObjects(ctx context.Context, p string, _ *carddav.AddressDataRequest) ([]carddav.AddressObject, error) {
	c, _, err := b.target(ctx, p, store.DAVCards, levelCollection)
	if err != nil {
		return nil, err
	}
	objs, err := b.st().DAVObjects(ctx, c.ID, true)
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	out := make([]carddav.AddressObject, 0, len(objs))
	for _, o := range objs {
		ao, err := b.cardObject(ctx, c, o)
		if err != nil {
			return nil, err
		}
		out = append(out, ao)
	}
	return out, nil
}

// QueryAddressObjects implements carddav.Backend (addressbook-query).
// go-webdav's matcher compares case-sensitively, but the default
// collation is i;unicode-casemap (RFC 6352 section 8.3), which is what
// clients send: it matches folded copies of the query and the cards.
func (b *cardBackend) QueryAddressObjects(ctx context.Context, p string, q *carddav.AddressBookQuery) ([]carddav.AddressObject, error) {
	all, err := b.ListAddressObjects(ctx, p, &q.DataRequest)
	if err != nil {
		return nil, err
	}
	folded := *q
	folded.PropFilters = make([]carddav.PropFilter, len(q.PropFilters))
	for i, pf := range q.PropFilters {
		pf.TextMatches = append([]carddav.TextMatch(nil), pf.TextMatches...)
		for j := range pf.TextMatches {
			pf.TextMatches[j].Text = strings.ToLower(pf.TextMatches[j].Text)
		}
		folded.PropFilters[i] = pf
	}
	var out []carddav.AddressObject
	for _, ao := range all {
		fc := carddav.AddressObject{Card: foldCard(ao.Card)}
		ok, err := carddav.Match(&folded, &fc)
		if err != nil {
			return nil, httpError(http.StatusBadRequest, err.Error())
		}
		if ok {
			out = append(out, ao)
		}
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	return out, nil
}

// foldCard is a copy of card with its values in lower case.
func foldCard(card vcard.Card) vcard.Card {
	out := make(vcard.Card, len(card))
	for k, fields := range card {
		fs := make([]*vcard.Field, len(fields))
		for i, f := range fields {
			c := *f
			c.Value = strings.ToLower(f.Value)
			fs[i] = &c
		}
		out[k] = fs
	}
	return out
}

// PutAddressObject implements carddav.Backend.
func (b *cardBackend) PutAddressObject(ctx context.Context, p string, card vcard.Card, opts *carddav.PutAddressObjectOptions) (*carddav.AddressObject, error) {
	data, err := EncodeCard(card)
	if err != nil {
		return nil, httpError(http.StatusBadRequest, err.Error())
	}
	put, err := conditions(opts.IfMatch, opts.IfNoneMatch)
	if err != nil {
		return nil, err
	}
	put.UID, put.Data = card.Value(vcard.FieldUID), data
	c, o, err := b.put(ctx, store.DAVCards, p, put)
	if err != nil {
		return nil, err
	}
	o.Data = data
	ao, err := b.cardObject(ctx, c, o)
	return &ao, err
}

// DeleteAddressObject implements carddav.Backend.
func (b *cardBackend) DeleteAddressObject(ctx context.Context, p string) error {
	return b.remove(ctx, store.DAVCards, p)
}

// EncodeCard checks a parsed vCard and returns the bytes to store: it
// must name its VERSION, and fit in store.DAVMaxObjectBytes.
func EncodeCard(card vcard.Card) ([]byte, error) {
	if card.Value(vcard.FieldVersion) == "" {
		return nil, errors.New("invalid vCard: no VERSION")
	}
	var buf bytes.Buffer
	if err := vcard.NewEncoder(&buf).Encode(card); err != nil {
		return nil, fmt.Errorf("invalid vCard: %w", err)
	}
	if buf.Len() > store.DAVMaxObjectBytes {
		return nil, errors.New("a vCard of more than 1 MiB")
	}
	return buf.Bytes(), nil
}
