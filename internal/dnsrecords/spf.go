package dnsrecords

// The SPF switch-over of a migration (the seed document's "Preliminary
// steps" and "Checklist"): first the domain's SPF record also authorises
// the box (include:HOSTNAME) while the old provider still sends, then MX
// moves to the box, then SPF is hardened to the box alone.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"boxmail/internal/mailauth"
)

// SPFAdvice is a proposed SPF record with notes for the admin.
type SPFAdvice struct {
	Record  string   // the record to publish
	Changed bool     // Record differs from the existing one
	Notes   []string // warnings and advice, one line each
}

// UnquoteTXT turns a TXT value pasted with its quotes ("v=spf1 " "mx
// -all") into its text; text without quotes is returned trimmed.
func UnquoteTXT(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			in = !in
		case c == '\\' && in && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case in:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// includeBox adds the box to a record (after RelaxSPF resolved its names):
// "v=spf1 ip4:192.0.2.10 -all" becomes "v=spf1 ip4:192.0.2.10
// include:BOX -all". The include goes before the first "all" (or at the
// end of the mechanisms), so everything the record allowed stays
// allowed. changed says the record was already rewritten.
func includeBox(rec *mailauth.SPFRecord, box string, changed bool) (SPFAdvice, error) {
	inc := "include:" + box
	adv := SPFAdvice{Record: rec.String(), Changed: changed}
	for _, t := range rec.Terms {
		if t.Mechanism == "include" && strings.EqualFold(strings.TrimSuffix(t.Value, "."), box) {
			if !changed {
				adv.Notes = append(adv.Notes, "the record already includes "+box+": no change needed")
			}
			note, err := lookupNote(rec, box)
			adv.Notes = append(adv.Notes, note)
			return adv, err
		}
		if t.Mechanism == "ptr" {
			adv.Notes = append(adv.Notes, "ptr is deprecated (RFC 7208 5.5) and slow for receivers; consider ip4:/ip6: instead")
		}
	}
	if r := rec.Redirect(); r != "" && strings.EqualFold(strings.TrimSuffix(r, "."), box) {
		if !changed {
			adv.Notes = append(adv.Notes, "the record already redirects to "+box+": no change needed")
		}
		note, err := lookupNote(rec, box)
		adv.Notes = append(adv.Notes, note)
		return adv, err
	}
	newTerm := mailauth.SPFTerm{Qualifier: '+', Mechanism: "include", Value: box, Prefix4: -1, Prefix6: -1, Raw: inc}
	pos := len(rec.Terms)
	for i, t := range rec.Terms {
		if t.Mechanism == "all" || t.Mechanism == "" {
			pos = i
			break
		}
	}
	// Modifiers may sit anywhere; put the include after the last mechanism
	// before "all" or the first modifier.
	out := &mailauth.SPFRecord{Terms: slices.Insert(slices.Clone(rec.Terms), pos, newTerm)}
	all, hasAll := out.All()
	switch {
	case hasAll && all.Qualifier == '+':
		for i, t := range out.Terms {
			if t.Mechanism == "all" {
				out.Terms[i].Qualifier, out.Terms[i].Raw = '~', "~all"
			}
		}
		adv.Notes = append(adv.Notes, "warning: "+all.Raw+" authorises the whole internet to send as the domain; it was replaced by ~all (publish -all once the migration is done)")
	case hasAll && all.Qualifier == '?':
		adv.Notes = append(adv.Notes, "?all tells receivers nothing about other senders; once every user sends through the box, harden it ('boxmail spf harden DOMAIN')")
	case hasAll && all.Qualifier == '~':
		adv.Notes = append(adv.Notes, "~all (soft fail) suits the migration; once every user sends through the box, harden it to -all ('boxmail spf harden DOMAIN')")
	case !hasAll && rec.Redirect() != "":
		adv.Notes = append(adv.Notes, "the record ends in redirect="+rec.Redirect()+": the box is checked first, then the redirected policy applies as before")
	case !hasAll:
		adv.Notes = append(adv.Notes, "the record has no all: mail from other senders is neutral; consider ending it with ~all")
	}
	note, err := lookupNote(out, box)
	if err != nil {
		return SPFAdvice{}, err
	}
	adv.Notes = append(adv.Notes, note)
	adv.Record = out.String()
	adv.Changed = true
	return adv, nil
}

// lookupNote counts the DNS lookups of a record's own terms (RFC 7208
// 4.6.4 allows 10 in all, included records' terms counted too): over the
// limit is an error, otherwise a note with the count.
func lookupNote(rec *mailauth.SPFRecord, box string) (string, error) {
	n := rec.LookupTerms()
	if n > mailauth.SPFLookupLimit {
		return "", fmt.Errorf("with include:%s the record needs at least %d DNS lookups, over the limit of %d (RFC 7208 4.6.4): replace a, mx or include terms by ip4:/ip6: ranges first", box, n, mailauth.SPFLookupLimit)
	}
	note := fmt.Sprintf("DNS lookups: the record's own terms cost %d of the %d receivers allow (ip4:/ip6: cost none; each include: costs the lookups of the record it includes too)", n, mailauth.SPFLookupLimit)
	if n >= 5 {
		note = fmt.Sprintf("warning: the record now has %d terms that cost a DNS lookup, and each include may cost more; receivers allow %d in all: check it with 'boxmail status'", n, mailauth.SPFLookupLimit)
	}
	return note, nil
}

// HardenedSPF is the strict record for when every user has switched:
// only the domain's MX (the box) may send.
const HardenedSPF = "v=spf1 mx -all"

// SPFSwitchState says where a domain's SPF record is in the switch-over.
type SPFSwitchState struct {
	// Box: a term authorises the box (include/a/redirect of the
	// hostname, its addresses, or mx while MX points at the box).
	Box bool
	// Others are the terms that authorise other senders (the old
	// provider), as written.
	Others []string
	// Strict: the record ends in -all (or redirects to a strict box
	// policy).
	Strict bool
}

// Hardened reports the last step: only the box may send, and strictly.
func (s SPFSwitchState) Hardened() bool { return s.Box && len(s.Others) == 0 && s.Strict }

// ClassifySPF reads an SPF record statically: which terms authorise the
// box and which authorise someone else. mxIsBox says whether the
// domain's MX points at the box (so "mx" means the box).
func ClassifySPF(record, box string, boxIPs []netip.Addr, mxIsBox bool) (SPFSwitchState, error) {
	var st SPFSwitchState
	rec, err := mailauth.ParseSPF(record)
	if err != nil {
		return st, err
	}
	box = strings.ToLower(strings.TrimSuffix(box, "."))
	isBox := func(v string) bool { return strings.EqualFold(strings.TrimSuffix(v, "."), box) }
	for _, t := range rec.Terms {
		if t.Mechanism == "" {
			if t.Modifier == "redirect" {
				if _, hasAll := rec.All(); hasAll {
					continue
				}
				if isBox(t.Value) {
					st.Box, st.Strict = true, true
				} else {
					st.Others = append(st.Others, t.Raw)
				}
			}
			continue
		}
		if t.Qualifier != '+' {
			if t.Mechanism == "all" && t.Qualifier == '-' {
				st.Strict = true
			}
			continue
		}
		switch t.Mechanism {
		case "all":
			st.Others = append(st.Others, t.Raw)
		case "include", "a":
			if t.Value != "" && isBox(t.Value) {
				st.Box = true
			} else {
				st.Others = append(st.Others, t.Raw)
			}
		case "mx":
			if t.Value == "" && mxIsBox || isBox(t.Value) {
				st.Box = true
			} else {
				st.Others = append(st.Others, t.Raw)
			}
		case "ip4", "ip6":
			a, _ := netip.ParseAddr(t.Value)
			bits := a.BitLen()
			if t.Prefix4 >= 0 && a.Is4() {
				bits = t.Prefix4
			} else if t.Prefix6 >= 0 && a.Is6() {
				bits = t.Prefix6
			}
			p, _ := a.Prefix(bits)
			mine := false
			for _, ip := range boxIPs {
				if p.Contains(ip) && p.Bits() == ip.BitLen() {
					mine = true
				}
			}
			if mine {
				st.Box = true
			} else {
				st.Others = append(st.Others, t.Raw)
			}
		default:
			st.Others = append(st.Others, t.Raw)
		}
	}
	return st, nil
}
