package mailauth

// DMARC (RFC 7489): policy discovery through resolver.Resolver with
// emersion/go-msgauth/dmarc's record parser, identifier alignment, and
// the result the receiver acts on.

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"boxmail/internal/resolver"
)

// DMARC policies.
const (
	PolicyNone       = "none"
	PolicyQuarantine = "quarantine"
	PolicyReject     = "reject"
)

// DMARCInput is what DMARC evaluates: the RFC5322.From domain and the
// SPF and DKIM results already computed for the message.
type DMARCInput struct {
	FromDomain string
	// SPF is the SPF result ("pass", "fail", "temperror", ...) for
	// SPFDomain, the MAIL FROM domain (the HELO name for a null sender,
	// RFC 7208 2.4).
	SPF, SPFDomain string
	DKIM           []DKIMResult
	// OwnDomain says the From domain is one of the receiver's own: a
	// message from outside claiming it must pass, so a missing or broken
	// policy record counts as p=reject with relaxed alignment, and any
	// failure gets Policy reject whatever the record says.
	OwnDomain bool
}

// DMARCResult is the DMARC verdict on a message.
type DMARCResult struct {
	// Result is "pass", "fail", "none" (no policy published),
	// "temperror" or "permerror" (RFC 8601 2.7.7).
	Result string
	// Domain is the From domain evaluated.
	Domain string
	// Policy is what the domain owner asks of a failing message
	// ("none", "quarantine", "reject"), after sp= and pct= are applied;
	// "" when Result is not "fail".
	Policy string
	Reason string
}

// OrgDomain returns the organizational domain of a domain name (RFC 7489
// 3.2, from the public suffix list): mail.example.co.uk -> example.co.uk.
func OrgDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

func aligned(a, b string, mode dmarc.AlignmentMode) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return OrgDomain(a) == OrgDomain(b)
}

// ErrFromDomain is returned by FromDomain for a message whose From does
// not name exactly one domain.
var ErrFromDomain = errors.New("the From field does not name exactly one domain")

// FromDomain returns the domain of the message's RFC5322.From, lower-case.
// RFC 7489 6.6.1: a message with no From, several From fields or
// addresses in different domains has no single author domain.
func FromDomain(msg []byte) (string, error) {
	fields, _ := splitHeader(msg)
	domain := ""
	n := 0
	for _, f := range fields {
		if !strings.EqualFold(f.Name, "From") {
			continue
		}
		n++
		list, err := mail.ParseAddressList(f.Value())
		if err != nil || len(list) == 0 || n > 1 {
			return "", ErrFromDomain
		}
		for _, a := range list {
			at := strings.LastIndexByte(a.Address, '@')
			d := strings.ToLower(a.Address[at+1:])
			if at < 0 || d == "" || domain != "" && d != domain {
				return "", ErrFromDomain
			}
			domain = d
		}
	}
	if domain == "" {
		return "", ErrFromDomain
	}
	return domain, nil
}

// dmarcPolicy finds the policy record for domain (RFC 7489 6.6.3): at
// _dmarc.DOMAIN, else at the organizational domain, whose sp= applies.
func dmarcPolicy(ctx context.Context, r resolver.Resolver, domain string) (rec *dmarc.Record, sub bool, err error) {
	opts := &dmarc.LookupOptions{LookupTXT: txtLookup(ctx, r)}
	rec, err = dmarc.LookupWithOptions(domain, opts)
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := OrgDomain(domain); org != domain {
			rec, err = dmarc.LookupWithOptions(org, opts)
			sub = true
		}
	}
	return rec, sub, err
}

// CheckDMARC evaluates DMARC for a message. It never fails: DNS trouble
// is a temperror, a junk policy record a permerror (and no policy is
// applied, RFC 7489 6.6.3).
func CheckDMARC(ctx context.Context, r resolver.Resolver, in DMARCInput) DMARCResult {
	res := DMARCResult{Domain: strings.ToLower(in.FromDomain)}
	if res.Domain == "" {
		res.Result, res.Reason = "permerror", "no single From domain"
		return res
	}
	rec, sub, err := dmarcPolicy(ctx, r, res.Domain)
	if in.OwnDomain && err != nil && !dmarc.IsTempFail(err) {
		rec, err = &dmarc.Record{Policy: dmarc.PolicyReject, DKIMAlignment: dmarc.AlignmentRelaxed, SPFAlignment: dmarc.AlignmentRelaxed}, nil
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		res.Result = "none"
		return res
	case dmarc.IsTempFail(err):
		res.Result, res.Reason = "temperror", "policy lookup failed"
		return res
	case err != nil && strings.Contains(err.Error(), "failed to lookup"):
		res.Result, res.Reason = "temperror", "policy lookup failed"
		return res
	case err != nil:
		res.Result, res.Reason = "permerror", "bad policy record: "+strings.TrimPrefix(err.Error(), "dmarc: ")
		return res
	}
	temp := false
	for _, d := range in.DKIM {
		if d.Result == "pass" && aligned(d.Domain, res.Domain, rec.DKIMAlignment) {
			res.Result, res.Reason = "pass", "aligned DKIM signature of "+d.Domain
			return res
		}
		if d.Result == "temperror" && aligned(d.Domain, res.Domain, rec.DKIMAlignment) {
			temp = true
		}
	}
	if aligned(in.SPFDomain, res.Domain, rec.SPFAlignment) {
		switch in.SPF {
		case "pass":
			res.Result, res.Reason = "pass", "aligned SPF of "+strings.ToLower(in.SPFDomain)
			return res
		case "temperror":
			temp = true
		}
	}
	if temp {
		// An aligned identifier could not be checked: the message may
		// well pass later, so no policy is applied now.
		res.Result, res.Reason = "temperror", "an aligned check failed temporarily"
		return res
	}
	res.Result, res.Reason = "fail", "no aligned SPF or DKIM pass"
	p := rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		p = rec.SubdomainPolicy
	}
	// pct= (RFC 7489 6.6.4): messages outside the sample get the next
	// weaker policy.
	if rec.Percent != nil && *rec.Percent < 100 && rand.IntN(100) >= *rec.Percent {
		switch p {
		case dmarc.PolicyReject:
			p = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			p = dmarc.PolicyNone
		}
	}
	if in.OwnDomain {
		p = dmarc.PolicyReject
	}
	res.Policy = string(p)
	return res
}
