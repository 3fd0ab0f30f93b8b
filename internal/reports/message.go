package reports

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/emersion/go-message"

	"boxmail/internal/mailmsg"
)

const (
	// maxDoc is the most one report may decompress to: a busy sender's
	// daily report is a few hundred KiB, and a zip or gzip bomb stops here.
	maxDoc = 32 << 20
	// maxParts is how many MIME parts FromMessage looks at.
	maxParts = 50
)

// IsReport tells, from the header alone, whether a message looks like a
// report: the subject RFC 7489 7.2.1.1 gives DMARC reports ("Report
// Domain: ..."), or RFC 8460 5.3's TLS-Report-Domain field. Every
// delivered message is asked, so this reads no further than the header.
func IsReport(msg []byte) bool {
	if _, ok := mailmsg.Lookup(msg, "TLS-Report-Domain"); ok {
		return true
	}
	f, ok := mailmsg.Lookup(msg, "Subject")
	if !ok {
		return false
	}
	s := strings.TrimSpace(string(mailmsg.Unfold(f.Value)))
	return len(s) >= 14 && strings.EqualFold(s[:14], "Report Domain:")
}

// FromMessage returns the reports attached to a message: each part that
// is XML or JSON, or a gzip or zip holding one, is parsed as a DMARC or
// a TLS report by its first byte. Parts that are neither are skipped; a
// part that claims to be a report and is malformed is an error.
func FromMessage(msg []byte) ([]Report, error) {
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("reading the report message: %w", err)
	}
	var out []Report
	parts := 0
	err = e.Walk(func(_ []int, p *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if parts++; parts > maxParts {
			return fmt.Errorf("more than %d MIME parts", maxParts)
		}
		if p.MultipartReader() != nil {
			return nil
		}
		doc, ok, err := document(p)
		if err != nil || !ok {
			return err
		}
		r, err := parse(doc)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// document decompresses a part that holds a report, by its type or its
// file name.
func document(p *message.Entity) ([]byte, bool, error) {
	ct, _, _ := p.Header.ContentType()
	_, dp, _ := p.Header.ContentDisposition()
	_, tp, _ := p.Header.ContentType()
	name := strings.ToLower(or(dp["filename"], tp["name"]))
	switch {
	case ct == "application/zip" || ct == "application/x-zip-compressed" || path.Ext(name) == ".zip":
		return unzip(p.Body)
	case ct == "application/gzip" || ct == "application/x-gzip" || ct == "application/tlsrpt+gzip" || path.Ext(name) == ".gz":
		z, err := gzip.NewReader(p.Body)
		if err != nil {
			return nil, false, fmt.Errorf("report %q: not gzip: %w", name, err)
		}
		doc, err := readCapped(z)
		return doc, err == nil, err
	case ct == "text/xml" || ct == "application/xml" || ct == "application/json" || ct == "application/tlsrpt+json" ||
		path.Ext(name) == ".xml" || path.Ext(name) == ".json":
		doc, err := readCapped(p.Body)
		return doc, err == nil, err
	}
	return nil, false, nil
}

// unzip returns the first file of a zip archive.
func unzip(r io.Reader) ([]byte, bool, error) {
	raw, err := readCapped(r)
	if err != nil {
		return nil, false, err
	}
	z, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, false, fmt.Errorf("report: not a zip archive: %w", err)
	}
	for _, f := range z.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, false, fmt.Errorf("report %q in the zip: %w", f.Name, err)
		}
		doc, err := readCapped(rc)
		return doc, err == nil, errors.Join(err, rc.Close())
	}
	return nil, false, errors.New("report: an empty zip archive")
}

// readCapped reads r whole, up to maxDoc bytes; more is an error.
func readCapped(r io.Reader) ([]byte, error) {
	doc, err := io.ReadAll(io.LimitReader(r, maxDoc+1))
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if len(doc) > maxDoc {
		return nil, fmt.Errorf("report: more than %d MiB once decompressed", maxDoc>>20)
	}
	return doc, nil
}

// parse tells a DMARC report (XML) from a TLS report (JSON).
func parse(doc []byte) (Report, error) {
	t := bytes.TrimLeft(doc, " \t\r\n\ufeff")
	switch {
	case bytes.HasPrefix(t, []byte("<")):
		return ParseDMARC(doc)
	case bytes.HasPrefix(t, []byte("{")):
		return ParseTLS(doc)
	}
	return Report{}, errors.New("report: neither XML (DMARC) nor JSON (TLS)")
}
