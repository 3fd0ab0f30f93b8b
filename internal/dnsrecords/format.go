package dnsrecords

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the records of the zones for a person copying them
// into a DNS host's forms: the name relative to the zone, the type, the
// value as it is pasted (TXT unquoted), and under it why it is needed. SOA and NS
// are left out (they matter only where the box is the name server) and
// mentioned in a closing note.
func (s *Set) WriteTable(w io.Writer, zones []string) error {
	// The table is built in memory and written once, so that a failed
	// write (a full disk under "> file") is reported: a tabwriter does
	// not keep the error of a write it did before Flush.
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for i, z := range zones {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "zone %s\n", z)
		fmt.Fprintln(tw, "NAME\tTYPE\tVALUE")
		for _, r := range s.Zone(z) {
			if r.NameServer {
				continue
			}
			why := r.Why
			if r.Custom {
				why = "custom record ('boxmail dns unset' removes it)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n\t\t# %s\n", r.Relative(), r.Type, r.Text(), why)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, z := range zones {
		for _, ds := range s.DS[z] {
			fmt.Fprintf(&b, "\nDNSSEC, where the box is %s's name server: give its registrar the DS record\n  %s. IN DS %s\n", z, z, ds)
		}
	}
	if len(zones) > 0 {
		fmt.Fprintf(&b, "\nIf the box itself is a zone's name server, set NS %s at the registrar instead and skip the table: 'boxmail dns records --format zone' is what it serves.\n", nsName(s, zones[0]))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func nsName(s *Set, zone string) string {
	for _, r := range s.Find(zone, "NS") {
		return strings.TrimSuffix(r.Value, ".")
	}
	return "the box"
}

// WriteZone prints a zone file (RFC 1035 5) for each zone, with the
// reason of each record as a comment.
func (s *Set) WriteZone(w io.Writer, zones []string) error {
	var b strings.Builder // written once, so that a failed write is reported
	for i, z := range zones {
		if i > 0 {
			fmt.Fprintln(&b)
		}
		fmt.Fprintf(&b, "$ORIGIN %s.\n$TTL %d\n", z, DefaultTTL)
		for _, ds := range s.DS[z] {
			fmt.Fprintf(&b, "; DNSSEC: give the registrar of %s this DS record (it belongs in the parent zone, not here):\n; %s.\t%d\tIN\tDS\t%s\n", z, z, DefaultTTL, ds)
		}
		for _, r := range s.Zone(z) {
			fmt.Fprintf(&b, "; %s\n%s.\t%d\tIN\t%s\t%s\n", r.Why, r.Name, r.TTL, r.Type, r.Value)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the zones' records as JSON: {"zones": [...],
// "records": [{zone, name, type, ttl, value, why, ...}]}, each record
// also with "relative" (the name in its zone) and "text" (the value
// unquoted).
func (s *Set) WriteJSON(w io.Writer, zones []string) error {
	type rec struct {
		Record
		Relative string `json:"relative"`
		Text     string `json:"text"`
	}
	out := struct {
		Zones   []string            `json:"zones"`
		Records []rec               `json:"records"`
		DS      map[string][]string `json:"ds,omitempty"`
	}{Zones: zones, Records: []rec{}}
	for _, z := range zones {
		if ds := s.DS[z]; len(ds) > 0 {
			if out.DS == nil {
				out.DS = map[string][]string{}
			}
			out.DS[z] = ds
		}
	}
	for _, z := range zones {
		for _, r := range s.Zone(z) {
			out.Records = append(out.Records, rec{r, r.Relative(), r.Text()})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
