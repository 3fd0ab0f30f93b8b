package dav

// Moving in: the exports every provider offers, a .vcf of many vCards and
// an .ics of many events, split into one object per UID and stored in
// the account's default address book or calendar by UID, so importing
// the same file twice leaves the same objects (store.ImportDAVObject).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"boxmail/internal/store"
)

// ImportResult counts what an import did.
type ImportResult struct {
	Read      int `json:"read"` // objects in the file (one per UID)
	Created   int `json:"created"`
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
}

// ImportFile reads a .vcf (kind store.DAVCards) or an .ics (kind
// store.DAVCalendars) into the account's default collection of kind,
// importBatch objects per write. It stops at the first malformed entry
// or refused object, keeping the batches stored before (Created and
// Changed count only those).
func ImportFile(ctx context.Context, st *store.Store, accountID int64, kind store.DAVKind, r io.Reader) (ImportResult, error) {
	display := "Calendar"
	if kind == store.DAVCards {
		display = "Contacts"
	}
	c, err := st.CreateDAVCollection(ctx, store.DAVCollection{AccountID: accountID, Kind: kind, Name: defaultName, DisplayName: display}, true)
	if err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	var batch []store.DAVImport
	flush := func() error {
		out, err := st.ImportDAVObjects(ctx, c.ID, batch)
		if err != nil {
			return err
		}
		for _, o := range out {
			switch o {
			case store.DAVCreated:
				res.Created++
			case store.DAVChanged:
				res.Changed++
			default:
				res.Unchanged++
			}
		}
		batch = batch[:0]
		return nil
	}
	add := func(uid, ext string, data []byte) error {
		res.Read++
		batch = append(batch, store.DAVImport{UID: uid, Name: store.DAVNameFromUID(uid, ext), Data: data})
		if len(batch) < importBatch {
			return nil
		}
		return flush()
	}
	if kind == store.DAVCards {
		err = importCards(r, add)
	} else {
		err = importCalendars(r, add)
	}
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err == nil && res.Read == 0 {
		err = errors.New("no vCard or calendar object in the file")
	}
	return res, err
}

// importBatch is how many objects an import stores in one write.
const importBatch = 500

func hashUID(b []byte) string {
	h := sha256.Sum256(b)
	return "boxmail-import-" + hex.EncodeToString(h[:12])
}

func importCards(r io.Reader, add func(uid, ext string, data []byte) error) error {
	dec := vcard.NewDecoder(r)
	for n := 1; ; n++ {
		card, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("vCard %d: %w", n, err)
		}
		if card.Value(vcard.FieldUID) == "" {
			data, err := EncodeCard(card)
			if err != nil {
				return fmt.Errorf("vCard %d: %w", n, err)
			}
			card.SetValue(vcard.FieldUID, hashUID(data)) // the same card gets the same UID each time
		}
		data, err := EncodeCard(card)
		if err != nil {
			return fmt.Errorf("vCard %d: %w", n, err)
		}
		if err := add(card.Value(vcard.FieldUID), ".vcf", data); err != nil {
			return err
		}
	}
}

func importCalendars(r io.Reader, add func(uid, ext string, data []byte) error) error {
	dec := ical.NewDecoder(r)
	for n := 1; ; n++ {
		cal, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("calendar %d: %w", n, err)
		}
		objs, err := splitCalendar(cal)
		if err != nil {
			return fmt.Errorf("calendar %d: %w", n, err)
		}
		for _, o := range objs {
			data, uid, err := EncodeCalendar(o)
			if err != nil {
				return fmt.Errorf("calendar %d: %w", n, err)
			}
			if err := add(uid, ".ics", data); err != nil {
				return err
			}
		}
	}
}

// splitCalendar makes one calendar object per UID of cal's components
// (a recurring event's exceptions share its UID), each with the
// VTIMEZONEs its TZIDs name; METHOD is left out (RFC 4791 section 4.1).
func splitCalendar(cal *ical.Calendar) ([]*ical.Calendar, error) {
	zones := map[string]*ical.Component{}
	var order []string
	groups := map[string][]*ical.Component{}
	for _, comp := range cal.Children {
		if comp.Name == ical.CompTimezone {
			if id, err := comp.Props.Text(ical.PropTimezoneID); err == nil && id != "" {
				zones[id] = comp
			}
			continue
		}
		uid, err := comp.Props.Text(ical.PropUID)
		if err != nil {
			return nil, err
		}
		if uid == "" {
			var b bytesWriter
			if err := ical.NewEncoder(&b).Encode(&ical.Calendar{Component: &ical.Component{Name: ical.CompCalendar, Props: cal.Props, Children: []*ical.Component{comp}}}); err != nil {
				return nil, err
			}
			uid = hashUID(b)
			comp.Props.SetText(ical.PropUID, uid)
		}
		if _, ok := groups[uid]; !ok {
			order = append(order, uid)
		}
		groups[uid] = append(groups[uid], comp)
	}
	out := make([]*ical.Calendar, 0, len(order))
	for _, uid := range order {
		o := ical.NewCalendar()
		for _, name := range []string{ical.PropProductID, ical.PropVersion, ical.PropCalendarScale} {
			if p := cal.Props.Get(name); p != nil {
				o.Props.Set(p)
			}
		}
		if o.Props.Get(ical.PropProductID) == nil {
			o.Props.SetText(ical.PropProductID, "-//boxmail//import//EN")
		}
		if o.Props.Get(ical.PropVersion) == nil {
			o.Props.SetText(ical.PropVersion, "2.0")
		}
		for _, id := range tzids(groups[uid]) {
			if z := zones[id]; z != nil {
				o.Children = append(o.Children, z)
			}
		}
		o.Children = append(o.Children, groups[uid]...)
		out = append(out, o)
	}
	return out, nil
}

// tzids lists the TZID parameters the components' properties name.
func tzids(comps []*ical.Component) []string {
	seen := map[string]bool{}
	var ids []string
	var walk func(c *ical.Component)
	walk = func(c *ical.Component) {
		for _, props := range c.Props {
			for _, p := range props {
				if id := p.Params.Get(ical.ParamTimezoneID); id != "" && !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		for _, ch := range c.Children {
			walk(ch)
		}
	}
	for _, c := range comps {
		walk(c)
	}
	return ids
}

// bytesWriter is a byte slice to encode into.
type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
