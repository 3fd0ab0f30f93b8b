package dav

// PROPPATCH on a collection (RFC 4918 section 9.2), which go-webdav's
// backends refuse: the display name and the description can be set or
// removed; any other property is refused (403) and then, as the RFC
// wants, nothing is changed (the others answer 424).

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"

	"boxmail/internal/store"
)

var (
	displayNameName  = xml.Name{Space: nsDAV, Local: "displayname"}
	calDescName      = xml.Name{Space: nsCalDAV, Local: "calendar-description"}
	cardDescName     = xml.Name{Space: nsCardDAV, Local: "addressbook-description"}
	maxCollectionTxt = 1024 // bytes of a display name or description
)

type patchProp struct {
	XMLName xml.Name
	Text    string `xml:",chardata"`
}

type propertyUpdate struct {
	XMLName xml.Name `xml:"DAV: propertyupdate"`
	Set     []struct {
		Props []patchProp `xml:",any"`
	} `xml:"DAV: set>prop"`
	Remove []struct {
		Props []patchProp `xml:",any"`
	} `xml:"DAV: remove>prop"`
}

// proppatch answers a PROPPATCH on a collection.
func (h *Handler) proppatch(w http.ResponseWriter, r *http.Request, p davPath, body []byte) {
	var u propertyUpdate
	if err := xml.Unmarshal(body, &u); err != nil || p.level != levelCollection {
		http.Error(w, "A PROPPATCH takes a propertyupdate on an address book or calendar.", http.StatusBadRequest)
		return
	}
	if _, shared := sharedID(p.coll); shared {
		http.Error(w, "A shared address book or calendar is renamed by its owner.", http.StatusForbidden)
		return
	}
	desc := cardDescName
	if p.kind == store.DAVCalendars {
		desc = calDescName
	}
	var display, description *string
	var names []xml.Name
	refused := map[xml.Name]bool{}
	take := func(pp patchProp, value string) {
		names = append(names, pp.XMLName)
		v := value
		switch {
		case len(v) > maxCollectionTxt:
			refused[pp.XMLName] = true
		case pp.XMLName == displayNameName:
			display = &v
		case pp.XMLName == desc:
			description = &v
		default:
			refused[pp.XMLName] = true
		}
	}
	for _, s := range u.Set {
		for _, pp := range s.Props {
			take(pp, pp.Text)
		}
	}
	for _, s := range u.Remove {
		for _, pp := range s.Props {
			take(pp, "")
		}
	}
	b := &backend{h: h}
	if _, _, err := b.target(r.Context(), r.URL.Path, p.kind, levelCollection); err != nil {
		writeError(w, err)
		return
	}
	if len(refused) == 0 && len(names) > 0 {
		if err := h.o.Store.SetDAVCollectionNames(r.Context(), info(r.Context()).acct.ID, p.kind, p.coll, display, description); err != nil {
			writeError(w, b.fail(r.Context(), err))
			return
		}
	}
	var out bytes.Buffer
	out.WriteString(xml.Header + `<multistatus xmlns="DAV:"><response><href>` + escape(r.URL.EscapedPath()) + `</href>`)
	for _, n := range names {
		status := "200 OK"
		switch {
		case refused[n]:
			status = "403 Forbidden"
		case len(refused) > 0:
			status = "424 Failed Dependency"
		}
		fmt.Fprintf(&out, `<propstat><prop><%s xmlns="%s"/></prop><status>HTTP/1.1 %s</status></propstat>`, n.Local, escape(n.Space), status)
	}
	out.WriteString(`</response></multistatus>`)
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusMultiStatus)
	if _, err := w.Write(out.Bytes()); err != nil {
		h.log.Debug("dav answer", "err", err)
	}
}
