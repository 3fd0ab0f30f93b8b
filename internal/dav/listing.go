package dav

// The two requests a sync is made of, answered straight from the store's
// rows: a Depth 1 PROPFIND listing a collection's objects, and an
// addressbook-multiget or calendar-multiget fetching them (RFC 6352
// section 8.7, RFC 4791 section 7.9). go-webdav answers both by decoding
// every stored object into a vCard or iCalendar tree (for the listing,
// only to read its ETag) and encoding it again; the stored bytes are
// already what its encoder wrote (EncodeCard, EncodeCalendar), so here
// they are sent as they are, all names of a multiget fetched in a few
// queries, and the answer compressed when the client takes gzip.
//
// Only plain requests are answered here: named properties among
// objectProps, an address-data or calendar-data element without
// attributes or children (no partial or converted data), hrefs inside
// the collection asked. Anything else goes to go-webdav as before.

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"boxmail/internal/store"
)

var (
	resourceTypeName  = xml.Name{Space: nsDAV, Local: "resourcetype"}
	contentLengthName = xml.Name{Space: nsDAV, Local: "getcontentlength"}
	lastModifiedName  = xml.Name{Space: nsDAV, Local: "getlastmodified"}
	cardMultigetName  = xml.Name{Space: nsCardDAV, Local: "addressbook-multiget"}
	calMultigetName   = xml.Name{Space: nsCalDAV, Local: "calendar-multiget"}
)

// propList is a <prop> element's children by name; nested is set when
// one of them has attributes or children of its own.
type propList struct {
	names  []xml.Name
	nested bool
}

func (p *propList) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	depth := 0
	for {
		t, err := d.Token()
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 {
				p.names = append(p.names, t.Name)
				p.nested = p.nested || len(t.Attr) > 0
			} else {
				p.nested = true
			}
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// plainRequest is the part of a PROPFIND or a multiget read here.
type plainRequest struct {
	Prop     *propList `xml:"DAV: prop"`
	AllProp  *struct{} `xml:"DAV: allprop"`
	PropName *struct{} `xml:"DAV: propname"`
	Hrefs    []string  `xml:"DAV: href"`
}

// dataName is the element carrying an object of kind.
func dataName(kind store.DAVKind) xml.Name {
	if kind == store.DAVCards {
		return addressDataName
	}
	return calendarDataName
}

// plainProps reads a PROPFIND or multiget body and returns its property
// names when every one can be answered from the store for kind, and
// whether the data is asked; ok is false for anything else.
func plainProps(body []byte, kind store.DAVKind) (req plainRequest, withData, ok bool) {
	if err := xml.Unmarshal(body, &req); err != nil || req.Prop == nil || req.AllProp != nil || req.PropName != nil || req.Prop.nested {
		return req, false, false
	}
	for _, n := range req.Prop.names {
		switch n {
		case getETagName, contentTypeName, contentLengthName, lastModifiedName, resourceTypeName:
		case dataName(kind):
			withData = true
		default:
			return req, false, false
		}
	}
	return req, withData, len(req.Prop.names) > 0
}

// writeObject writes one object's response with the properties asked.
func writeObject(out *bytes.Buffer, href string, o store.DAVObject, kind store.DAVKind, props []xml.Name) {
	out.WriteString("<response><href>" + escape(href) + "</href><propstat><prop>")
	for _, n := range props {
		switch n {
		case getETagName:
			out.WriteString(`<getetag>` + escape(`"`+o.ETag+`"`) + `</getetag>`)
		case contentTypeName:
			ct := ical.MIMEType
			if kind == store.DAVCards {
				ct = vcard.MIMEType
			}
			out.WriteString(`<getcontenttype>` + ct + `</getcontenttype>`)
		case contentLengthName:
			out.WriteString(`<getcontentlength>` + strconv.Itoa(o.Size) + `</getcontentlength>`)
		case lastModifiedName:
			out.WriteString(`<getlastmodified>` + o.Modified.UTC().Format(http.TimeFormat) + `</getlastmodified>`)
		case resourceTypeName:
			out.WriteString(`<resourcetype/>`)
		default: // the data (plainProps let nothing else through)
			out.WriteString(`<` + n.Local + ` xmlns="` + n.Space + `">`)
			_ = xml.EscapeText(out, o.Data) // a bytes.Buffer does not fail
			out.WriteString(`</` + n.Local + `>`)
		}
	}
	out.WriteString("</prop><status>HTTP/1.1 200 OK</status></propstat></response>")
}

// objectHref is the escaped href of an object.
func objectHref(ri *reqInfo, kind store.DAVKind, coll, name string) string {
	return (&url.URL{Path: objectPath(ri.acct, kind, coll, name)}).EscapedPath()
}

// propfindListing answers a Depth 1 PROPFIND on a collection: the
// collection's own response as go-webdav (and propfindWithSyncProps)
// gives it for Depth 0, then every object from the store.
func (h *Handler) propfindListing(w http.ResponseWriter, r *http.Request, p davPath, body []byte) {
	req, withData, _ := plainProps(body, p.kind)
	ctx := r.Context()
	b := &backend{h: h}
	c, _, err := b.target(ctx, r.URL.Path, p.kind, levelCollection)
	if err != nil {
		writeError(w, err)
		return
	}
	r0 := r.Clone(ctx)
	r0.Header.Set("Depth", "0")
	r0.Body = io.NopCloser(bytes.NewReader(body))
	rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	if asksOurProps(body) {
		h.propfindWithSyncProps(rec, r0, p.kind, h.protocol(p.kind))
	} else {
		h.protocol(p.kind).ServeHTTP(rec, r0)
	}
	head, ok := bytes.CutSuffix(bytes.TrimSpace(rec.body.Bytes()), []byte("</multistatus>"))
	if rec.code != http.StatusMultiStatus || !ok || !bytes.Contains(head, []byte(`<multistatus xmlns="DAV:">`)) {
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body.Bytes()) // the client went away: nothing to tell
		return
	}
	objs, err := h.o.Store.DAVObjects(ctx, c.ID, withData)
	if err != nil {
		writeError(w, b.fail(ctx, err))
		return
	}
	var out bytes.Buffer
	out.Grow(len(head) + len(objs)*300)
	out.Write(head)
	ri := info(ctx)
	for _, o := range objs {
		writeObject(&out, objectHref(ri, p.kind, c.Name, o.Name), o, p.kind, req.Prop.names)
	}
	out.WriteString("</multistatus>")
	h.writeMultistatus(w, r, out.Bytes())
}

// isPlainListing reports whether propfindListing answers a PROPFIND.
func isPlainListing(r *http.Request, p davPath, body []byte) bool {
	if r.Method != "PROPFIND" || p.level != levelCollection || strings.TrimSpace(r.Header.Get("Depth")) != "1" {
		return false
	}
	_, _, ok := plainProps(body, p.kind)
	return ok
}

// multigetName is the multiget REPORT of kind.
func multigetName(kind store.DAVKind) xml.Name {
	if kind == store.DAVCards {
		return cardMultigetName
	}
	return calMultigetName
}

// multigetNames returns the object names of a multiget's hrefs when all
// are inside the collection at collPath (and valid names).
func multigetNames(hrefs []string, collPath string) ([]string, bool) {
	names := make([]string, len(hrefs))
	for i, href := range hrefs {
		u, err := url.Parse(strings.TrimSpace(href))
		if err != nil {
			return nil, false
		}
		name, ok := strings.CutPrefix(u.Path, collPath)
		if !ok || !store.ValidDAVName(name) {
			return nil, false
		}
		names[i] = name
	}
	return names, true
}

// multiget answers an addressbook-multiget or calendar-multiget on a
// collection from the stored bytes; it reports false, having written
// nothing, when the request is not a plain one (go-webdav answers it).
func (h *Handler) multiget(w http.ResponseWriter, r *http.Request, p davPath, body []byte) bool {
	req, _, ok := plainProps(body, p.kind)
	if !ok || len(req.Hrefs) == 0 {
		return false
	}
	ctx := r.Context()
	ri := info(ctx)
	names, ok := multigetNames(req.Hrefs, collectionPath(ri.acct, p.kind, p.coll))
	if !ok {
		return false
	}
	b := &backend{h: h}
	c, _, err := b.target(ctx, r.URL.Path, p.kind, levelCollection)
	if err != nil {
		writeError(w, err)
		return true
	}
	objs, err := h.o.Store.DAVObjectsNamed(ctx, c.ID, names)
	if err != nil {
		writeError(w, b.fail(ctx, err))
		return true
	}
	byName := make(map[string]int, len(objs))
	for i, o := range objs {
		byName[o.Name] = i
	}
	var out bytes.Buffer
	out.WriteString(xml.Header + `<multistatus xmlns="DAV:">`)
	for _, name := range names {
		href := objectHref(ri, p.kind, c.Name, name)
		if i, ok := byName[name]; ok {
			writeObject(&out, href, objs[i], p.kind, req.Prop.names)
		} else {
			out.WriteString("<response><href>" + escape(href) + "</href><status>HTTP/1.1 404 Not Found</status></response>")
		}
	}
	out.WriteString("</multistatus>")
	h.writeMultistatus(w, r, out.Bytes())
	return true
}

// gzipMin is the smallest answer worth compressing.
const gzipMin = 1024

// writeMultistatus sends a 207 answer, compressed with gzip when the
// client takes it and the answer is large enough to gain.
func (h *Handler) writeMultistatus(w http.ResponseWriter, r *http.Request, out []byte) {
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	w.Header().Add("Vary", "Accept-Encoding")
	if len(out) < gzipMin || !acceptsGzip(r) {
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusMultiStatus)
		if _, err := w.Write(out); err != nil {
			h.log.Debug("dav answer", "err", err)
		}
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusMultiStatus)
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil { // only for a bad level
		h.log.Error("dav gzip", "err", err)
		return
	}
	if _, err := zw.Write(out); err != nil {
		h.log.Debug("dav answer", "err", err)
		return
	}
	if err := zw.Close(); err != nil {
		h.log.Debug("dav answer", "err", err)
	}
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// (and does not refuse it with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
