package dav

// The collection properties go-webdav's PROPFIND does not know, which
// clients read to decide whether anything changed and how to sync:
// DAV:sync-token and DAV:supported-report-set (RFC 6578: DAVx5 and iOS
// use sync-collection only when it is listed) and CS:getctag
// (calendarserver.org, what Thunderbird and older clients poll). When a
// PROPFIND on a home set or a collection asks for one of them,
// go-webdav's answer is kept in memory, read back, and each collection's
// 404 entries for these properties become 200 with their values.

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"boxmail/internal/store"
)

var (
	syncTokenName = xml.Name{Space: nsDAV, Local: "sync-token"}
	reportSetName = xml.Name{Space: nsDAV, Local: "supported-report-set"}
	getCTagName   = xml.Name{Space: "http://calendarserver.org/ns/", Local: "getctag"}
)

func ourProp(n xml.Name) bool { return n == syncTokenName || n == reportSetName || n == getCTagName }

type propfindBody struct {
	Prop propNames `xml:"DAV: prop"`
}

// asksOurProps reports whether a PROPFIND body names one of ourProp.
func asksOurProps(body []byte) bool {
	var pf propfindBody
	if xml.Unmarshal(body, &pf) != nil {
		return false
	}
	for _, n := range pf.Prop {
		if ourProp(n) {
			return true
		}
	}
	return false
}

// The multistatus as go-webdav writes it, read back.
type msDoc struct {
	Responses []msResponse `xml:"DAV: response"`
}

type msResponse struct {
	Hrefs     []string     `xml:"DAV: href"`
	Propstats []msPropstat `xml:"DAV: propstat"`
	Status    string       `xml:"DAV: status"`
}

type msPropstat struct {
	Prop   msProp `xml:"DAV: prop"`
	Status string `xml:"DAV: status"`
}

type msProp struct {
	Items []rawProp `xml:",any"`
}

// rawProp is one property element: its name and its content as written
// (go-webdav's encoder declares every namespace on the element that
// uses it, so the content stands alone under a default namespace).
type rawProp struct {
	XMLName xml.Name
	Inner   string `xml:",innerxml"`
}

// bufferedResponse keeps a handler's answer in memory.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }

// propfindWithSyncProps runs a PROPFIND through next and adds ourProp
// values to its collections' responses.
func (h *Handler) propfindWithSyncProps(w http.ResponseWriter, r *http.Request, kind store.DAVKind, next http.Handler) {
	rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	next.ServeHTTP(rec, r)
	out := rec.body.Bytes()
	if rec.code == http.StatusMultiStatus {
		patched, err := h.addSyncProps(r.Context(), out, kind)
		if err != nil {
			h.log.Error("dav: reading back a PROPFIND answer", "err", err)
		} else {
			out = patched
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.code)
	if _, err := w.Write(out); err != nil {
		h.log.Debug("dav answer", "err", err)
	}
}

// addSyncProps rewrites a multistatus with ourProp values filled in for
// each collection of kind it lists.
func (h *Handler) addSyncProps(ctx context.Context, in []byte, kind store.DAVKind) ([]byte, error) {
	var doc msDoc
	if err := xml.Unmarshal(in, &doc); err != nil {
		return nil, err
	}
	b := &backend{h: h}
	var out bytes.Buffer
	out.WriteString(xml.Header + `<multistatus xmlns="DAV:">`)
	for _, resp := range doc.Responses {
		if len(resp.Hrefs) == 1 {
			if p, err := url.PathUnescape(resp.Hrefs[0]); err == nil {
				if c, _, err := b.target(ctx, p, kind, levelCollection); err == nil {
					resp.Propstats = fillSyncProps(resp.Propstats, c, kind)
				}
			}
		}
		writeResponse(&out, resp)
	}
	out.WriteString(`</multistatus>`)
	return out.Bytes(), nil
}

// fillSyncProps moves ourProp entries of the 404 propstat into a 200
// one, with the collection's values.
func fillSyncProps(pss []msPropstat, c store.DAVCollection, kind store.DAVKind) []msPropstat {
	var found []rawProp
	var kept []msPropstat
	for _, ps := range pss {
		if !strings.Contains(ps.Status, " 404 ") {
			kept = append(kept, ps)
			continue
		}
		var rest []rawProp
		for _, it := range ps.Prop.Items {
			if ourProp(it.XMLName) {
				it.Inner = syncPropValue(it.XMLName, c, kind)
				found = append(found, it)
			} else {
				rest = append(rest, it)
			}
		}
		if len(rest) > 0 {
			ps.Prop.Items = rest
			kept = append(kept, ps)
		}
	}
	if len(found) == 0 {
		return pss
	}
	for i := range kept {
		if strings.Contains(kept[i].Status, " 200 ") {
			kept[i].Prop.Items = append(kept[i].Prop.Items, found...)
			return kept
		}
	}
	return append(kept, msPropstat{Prop: msProp{Items: found}, Status: "HTTP/1.1 200 OK"})
}

// syncPropValue is the escaped content of one of ourProp.
func syncPropValue(n xml.Name, c store.DAVCollection, kind store.DAVKind) string {
	token := fmt.Sprintf("%s%d/%d", syncTokenPrefix, c.ID, c.ModSeq)
	if n != reportSetName {
		return escape(token)
	}
	reports := []string{`<sync-collection/>`}
	if kind == store.DAVCards {
		reports = append(reports, `<addressbook-query xmlns="`+nsCardDAV+`"/>`, `<addressbook-multiget xmlns="`+nsCardDAV+`"/>`)
	} else {
		reports = append(reports, `<calendar-query xmlns="`+nsCalDAV+`"/>`, `<calendar-multiget xmlns="`+nsCalDAV+`"/>`)
	}
	var s strings.Builder
	for _, r := range reports {
		s.WriteString("<supported-report><report>" + r + "</report></supported-report>")
	}
	return s.String()
}

// writeResponse writes one response under the default namespace DAV:.
func writeResponse(out *bytes.Buffer, resp msResponse) {
	out.WriteString("<response>")
	for _, href := range resp.Hrefs {
		out.WriteString("<href>" + escape(href) + "</href>")
	}
	for _, ps := range resp.Propstats {
		out.WriteString("<propstat><prop>")
		for _, it := range ps.Prop.Items {
			fmt.Fprintf(out, `<%s xmlns="%s">%s</%s>`, it.XMLName.Local, escape(it.XMLName.Space), it.Inner, it.XMLName.Local)
		}
		out.WriteString("</prop><status>" + escape(ps.Status) + "</status></propstat>")
	}
	if resp.Status != "" {
		out.WriteString("<status>" + escape(resp.Status) + "</status>")
	}
	out.WriteString("</response>")
}
