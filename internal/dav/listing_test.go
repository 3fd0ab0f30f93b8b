package dav

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestListingAndMultigetFromTheStore: a plain Depth 1 PROPFIND and a
// plain multiget are answered from the stored bytes (the same bytes and
// ETags as GET), a missing href is 404, another account's href sends the
// request to go-webdav (404 there), a partial address-data too, and a
// client taking gzip gets the answer compressed.
func TestListingAndMultigetFromTheStore(t *testing.T) {
	f := newFixture(t)
	ann := "ann@example.org"
	book := "/dav/ann@example.org/contacts/default/"
	code, _, resp := f.do(ann, "PUT", book+"ann-1.vcf", annCard, xmlCT, "text/vcard")
	if code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	etag := resp.Header.Get("ETag")
	_, stored, _ := f.do(ann, "GET", book+"ann-1.vcf", "")

	list := `<propfind xmlns="DAV:"><prop><resourcetype/><getcontenttype/><getetag/></prop></propfind>`
	code, body, _ := f.do(ann, "PROPFIND", book, list, xmlCT, "application/xml", "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(body, "<href>/dav/ann@example.org/contacts/default/</href>") ||
		!strings.Contains(body, "<addressbook") || !strings.Contains(body, "ann-1.vcf</href>") || !strings.Contains(body, escape(etag)) {
		t.Fatalf("listing: %d %s", code, body)
	}
	withSync := `<propfind xmlns="DAV:"><prop><getetag/><sync-token/></prop></propfind>`
	if code, body, _ := f.do(ann, "PROPFIND", book, withSync, xmlCT, "application/xml", "Depth", "1"); code != http.StatusMultiStatus ||
		!strings.Contains(body, "http://boxmail.invalid/ns/sync/") || !strings.Contains(body, escape(etag)) {
		t.Fatalf("listing with the sync token: %d %s", code, body)
	}

	mg := `<C:addressbook-multiget xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><prop><getetag/><C:address-data/></prop>` +
		`<href>/dav/ann@example.org/contacts/default/ann-1.vcf</href><href>/dav/ann@example.org/contacts/default/gone.vcf</href>%s</C:addressbook-multiget>`
	code, body, _ = f.do(ann, "REPORT", book, strings.Replace(mg, "%s", "", 1), xmlCT, "application/xml", "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(body, escape(stored)) || !strings.Contains(body, escape(etag)) ||
		!strings.Contains(body, "gone.vcf</href><status>HTTP/1.1 404 Not Found</status>") {
		t.Fatalf("multiget: %d %s", code, body)
	}
	other := strings.Replace(mg, "%s", "<href>/dav/bob@example.org/contacts/default/x.vcf</href>", 1)
	if code, body, _ := f.do(ann, "REPORT", book, other, xmlCT, "application/xml", "Depth", "1"); code != http.StatusMultiStatus ||
		!strings.Contains(body, "FN:Ann Example") || strings.Count(body, "404") < 2 {
		t.Errorf("multiget with another account's href: %d %s", code, body)
	}
	partial := strings.Replace(strings.Replace(mg, "<C:address-data/>", `<C:address-data><C:prop name="FN"/></C:address-data>`, 1), "%s", "", 1)
	if code, body, _ := f.do(ann, "REPORT", book, partial, xmlCT, "application/xml", "Depth", "1"); code != http.StatusMultiStatus || !strings.Contains(body, "ann-1.vcf") {
		t.Errorf("multiget of a partial address-data: %d %s", code, body)
	}

	for _, uid := range []string{"a", "b", "c", "d", "e", "f"} {
		if code, _, _ := f.do(ann, "PUT", book+uid+".vcf", strings.ReplaceAll(annCard, "ann-1", uid), xmlCT, "text/vcard"); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d", uid, code)
		}
	}
	req, err := http.NewRequest("PROPFIND", f.srv.URL+book, strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(ann, "secret-password-1")
	req.Header.Set("Depth", "1")
	req.Header.Set("Accept-Encoding", "gzip")
	tr := &http.Transport{DisableCompression: true}
	resp, err = (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip: %q, %d bytes", resp.Header.Get("Content-Encoding"), len(raw))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !strings.Contains(string(plain), "ann-1.vcf") {
		t.Errorf("gunzipped listing: %v %s", err, plain)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{"gzip": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "br": false, "": false, "GZIP": true} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", v)
		if got := acceptsGzip(r); got != want {
			t.Errorf("%q: %v", v, got)
		}
	}
}
