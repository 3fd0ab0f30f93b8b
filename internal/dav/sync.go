package dav

// The two requests go-webdav's server does not take, answered here:
// the sync-collection REPORT (RFC 6578) from the store's modseqs and
// tombstones, and MKCALENDAR (RFC 4791 section 5.3.1).

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"boxmail/internal/store"
)

const (
	nsDAV     = "DAV:"
	nsCardDAV = "urn:ietf:params:xml:ns:carddav"
	nsCalDAV  = "urn:ietf:params:xml:ns:caldav"
)

var (
	syncCollectionName = xml.Name{Space: nsDAV, Local: "sync-collection"}
	getETagName        = xml.Name{Space: nsDAV, Local: "getetag"}
	contentTypeName    = xml.Name{Space: nsDAV, Local: "getcontenttype"}
	addressDataName    = xml.Name{Space: nsCardDAV, Local: "address-data"}
	calendarDataName   = xml.Name{Space: nsCalDAV, Local: "calendar-data"}
)

// syncTokenPrefix starts every sync token; the collection's id and
// modseq follow ("…/12/345"), so a token of another collection is
// refused rather than misread.
const syncTokenPrefix = "http://boxmail.invalid/ns/sync/"

// rootElement is the name of an XML body's root element (zero if none).
func rootElement(body []byte) xml.Name {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		t, err := d.Token()
		if err != nil {
			return xml.Name{}
		}
		if se, ok := t.(xml.StartElement); ok {
			return se.Name
		}
	}
}

// propNames collects the names of a <prop> element's children.
type propNames []xml.Name

func (p *propNames) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for {
		t, err := d.Token()
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			*p = append(*p, t.Name)
			if err := d.Skip(); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

type syncRequest struct {
	XMLName   xml.Name  `xml:"DAV: sync-collection"`
	SyncToken string    `xml:"DAV: sync-token"`
	SyncLevel string    `xml:"DAV: sync-level"`
	Prop      propNames `xml:"DAV: prop"`
}

// parseToken reads a sync token of collection id; "" is modseq 0.
func parseToken(tok string, id int64) (int64, bool) {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return 0, true
	}
	rest, ok := strings.CutPrefix(tok, syncTokenPrefix)
	if !ok {
		return 0, false
	}
	idPart, seqPart, ok := strings.Cut(rest, "/")
	gotID, err1 := strconv.ParseInt(idPart, 10, 64)
	seq, err2 := strconv.ParseInt(seqPart, 10, 64)
	if !ok || err1 != nil || err2 != nil || gotID != id || seq < 0 {
		return 0, false
	}
	return seq, true
}

// syncCollection answers a sync-collection REPORT on a collection: the
// objects changed since the token with the properties asked for, the
// removed ones as 404, and the next token.
func (h *Handler) syncCollection(w http.ResponseWriter, r *http.Request, p davPath, body []byte) {
	var req syncRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		http.Error(w, "A malformed sync-collection request.", http.StatusBadRequest)
		return
	}
	if p.level != levelCollection || req.SyncLevel != "1" {
		http.Error(w, "sync-collection is answered on an address book or calendar, with sync-level 1.", http.StatusForbidden)
		return
	}
	b := &backend{h: h}
	ctx := r.Context()
	c, _, err := b.target(ctx, r.URL.Path, p.kind, levelCollection)
	if err != nil {
		writeError(w, err)
		return
	}
	since, ok := parseToken(req.SyncToken, c.ID)
	if !ok {
		invalidToken(w)
		return
	}
	changes, now, err := h.o.Store.DAVChangesSince(ctx, c.ID, since)
	if err != nil {
		if errorsIsInvalid(err) {
			invalidToken(w)
			return
		}
		writeError(w, b.fail(ctx, err))
		return
	}
	data, err := h.changedData(r, c, changes, p.kind, req.Prop)
	if err != nil {
		writeError(w, b.fail(ctx, err))
		return
	}
	var out bytes.Buffer
	out.WriteString(xml.Header + `<D:multistatus xmlns:D="DAV:">`)
	for _, ch := range changes {
		href := (&url.URL{Path: objectPath(info(ctx).acct, p.kind, c.Name, ch.Name)}).EscapedPath()
		out.WriteString("<D:response><D:href>" + escape(href) + "</D:href>")
		if ch.Deleted {
			out.WriteString("<D:status>HTTP/1.1 404 Not Found</D:status></D:response>")
			continue
		}
		if err := h.syncProps(r, &out, c, ch, p.kind, req.Prop, data); err != nil {
			writeError(w, b.fail(ctx, err))
			return
		}
		out.WriteString("</D:response>")
	}
	fmt.Fprintf(&out, "<D:sync-token>%s%d/%d</D:sync-token></D:multistatus>", syncTokenPrefix, c.ID, now)
	h.writeMultistatus(w, r, out.Bytes())
}

// changedData fetches the data of the changed objects when the request
// asks for it, in a few queries: by name.
func (h *Handler) changedData(r *http.Request, c store.DAVCollection, changes []store.DAVChange, kind store.DAVKind, props propNames) (map[string][]byte, error) {
	asked := false
	for _, n := range props {
		asked = asked || n == dataName(kind)
	}
	if !asked {
		return nil, nil
	}
	names := make([]string, 0, len(changes))
	for _, ch := range changes {
		if !ch.Deleted {
			names = append(names, ch.Name)
		}
	}
	objs, err := h.o.Store.DAVObjectsNamed(r.Context(), c.ID, names)
	data := make(map[string][]byte, len(objs))
	for _, o := range objs {
		data[o.Name] = o.Data
	}
	return data, err
}

// syncProps writes the propstats of one changed object: the properties
// it has (getetag, getcontenttype, address-data or calendar-data, the
// latter from data when there) as 200, the rest as 404.
func (h *Handler) syncProps(r *http.Request, out *bytes.Buffer, c store.DAVCollection, ch store.DAVChange, kind store.DAVKind, props propNames, data map[string][]byte) error {
	if len(props) == 0 {
		props = propNames{getETagName}
	}
	var found, missing strings.Builder
	for _, n := range props {
		switch {
		case n == getETagName:
			found.WriteString(`<D:getetag>` + escape(`"`+ch.ETag+`"`) + `</D:getetag>`)
		case n == contentTypeName && kind == store.DAVCards:
			found.WriteString(`<D:getcontenttype>` + vcard.MIMEType + `</D:getcontenttype>`)
		case n == contentTypeName:
			found.WriteString(`<D:getcontenttype>` + ical.MIMEType + `</D:getcontenttype>`)
		case n == addressDataName && kind == store.DAVCards, n == calendarDataName && kind == store.DAVCalendars:
			d, ok := data[ch.Name]
			if !ok {
				o, err := h.o.Store.DAVObject(r.Context(), c.ID, ch.Name)
				if err != nil {
					return err
				}
				d = o.Data
			}
			fmt.Fprintf(&found, `<X:%s xmlns:X="%s">%s</X:%s>`, n.Local, n.Space, escape(string(d)), n.Local)
		default:
			fmt.Fprintf(&missing, `<X:%s xmlns:X="%s"/>`, escape(n.Local), escape(n.Space))
		}
	}
	if found.Len() > 0 {
		out.WriteString("<D:propstat><D:prop>" + found.String() + "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>")
	}
	if missing.Len() > 0 {
		out.WriteString("<D:propstat><D:prop>" + missing.String() + "</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>")
	}
	return nil
}

// invalidToken is RFC 6578 section 3.2's answer to a token we did not
// give (or from before a collection was made again).
func invalidToken(w http.ResponseWriter) {
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(xml.Header + `<D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>`)) // the client went away: nothing to tell
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// mkcalendarRequest is MKCALENDAR's optional body.
type mkcalendarRequest struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav mkcalendar"`
	Set     struct {
		Prop struct {
			DisplayName string `xml:"DAV: displayname"`
			Description string `xml:"urn:ietf:params:xml:ns:caldav calendar-description"`
		} `xml:"DAV: prop"`
	} `xml:"DAV: set"`
}

// mkcalendar makes a calendar (RFC 4791 section 5.3.1).
func (h *Handler) mkcalendar(w http.ResponseWriter, r *http.Request, p davPath, body []byte) {
	var req mkcalendarRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := xml.Unmarshal(body, &req); err != nil {
			http.Error(w, "A malformed MKCALENDAR request.", http.StatusBadRequest)
			return
		}
	}
	if p.kind != store.DAVCalendars {
		http.Error(w, "Calendars are made under the calendar home.", http.StatusForbidden)
		return
	}
	b := &backend{h: h}
	if err := b.create(r.Context(), store.DAVCalendars, r.URL.Path, req.Set.Prop.DisplayName, req.Set.Prop.Description); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func errorsIsInvalid(err error) bool { return errors.Is(err, store.ErrInvalid) }
