package spam

import "strings"

// AuthResults is what the box recorded of a message's authentication.
type AuthResults struct {
	Found bool // the box's own field was there
	// SPF, DKIM (the best result), DMARC: "pass", "fail", "softfail",
	// "none", "temperror"... ("" when not checked).
	SPF, DKIM, DMARC string
	SPFDomain        string   // the domain SPF passed for
	DKIMDomains      []string // the signing domains that passed
	// Submitted is set for mail a user submitted (auth=pass); Trusted for
	// mail from a trusted network, which was not checked.
	Submitted, Trusted bool
}

// parseAuthResults reads an Authentication-Results value (RFC 8601) if
// it names authserv. It reads what the box writes (mailauth.AuthResults),
// not every form the RFC allows.
func parseAuthResults(v, authserv string) (AuthResults, bool) {
	var ar AuthResults
	items := strings.Split(v, ";")
	id := strings.TrimSpace(items[0])
	if i := strings.IndexAny(id, " \t("); i >= 0 {
		id = id[:i]
	}
	if authserv == "" || !strings.EqualFold(id, authserv) {
		return ar, false
	}
	ar.Found = true
	if strings.Contains(items[0], "(trusted network)") || len(items) > 1 && strings.Contains(items[1], "(trusted network)") {
		ar.Trusted = true
	}
	for _, it := range items[1:] {
		fields := strings.Fields(stripComments(it))
		if len(fields) == 0 {
			continue
		}
		method, result, ok := strings.Cut(strings.ToLower(fields[0]), "=")
		if !ok {
			continue
		}
		props := map[string]string{}
		for _, p := range fields[1:] {
			if k, val, ok := strings.Cut(p, "="); ok {
				props[strings.ToLower(k)] = strings.ToLower(strings.Trim(val, "\""))
			}
		}
		switch method {
		case "auth":
			ar.Submitted = result == "pass"
		case "spf":
			ar.SPF = result
			if result == "pass" {
				d := props["smtp.mailfrom"]
				if i := strings.LastIndexByte(d, '@'); i >= 0 {
					d = d[i+1:]
				}
				if d == "" {
					d = props["smtp.helo"]
				}
				ar.SPFDomain = d
			}
		case "dkim":
			if result == "pass" {
				ar.DKIMDomains = append(ar.DKIMDomains, props["header.d"])
			}
			if ar.DKIM != "pass" {
				ar.DKIM = result
			}
		case "dmarc":
			ar.DMARC = result
		}
	}
	return ar, true
}

// stripComments removes RFC 5322 comments (not nested deeper than the
// box writes them).
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}
