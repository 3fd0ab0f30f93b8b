package mailauth

// DMARC (RFC 7489): policy discovery through resolver.Resolver with
// emersion/go-msgauth/dmarc's record parser, identifier alignment, and
// the result the receiver acts on.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"boxmail/internal/mailmsg"
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
	// Published is the policy record found (at Domain or at its
	// organizational domain), for the aggregate reports the receiver
	// sends (RFC 7489 7.2); nil when none was, or when an own domain got
	// the default policy.
	Published *DMARCPolicy
	// DKIMAligned and SPFAligned are the two halves of the evaluation
	// (RFC 7489 appendix C, policy_evaluated): an aligned DKIM signature
	// passed; SPF passed for an aligned domain.
	DKIMAligned, SPFAligned bool
	// SampledOut says pct= put a failing message outside the sample, so
	// a weaker policy than p= was applied (report reason sampled_out).
	SampledOut bool
}

// DMARCPolicy is a published DMARC record, as aggregate reports repeat
// it (policy_published) and with the addresses they go to.
type DMARCPolicy struct {
	Domain      string // where the record was found
	P, SP       string
	ADKIM, ASPF string // "r" or "s"
	Pct         int
	RUA         []string // rua= URIs, as published
}

func publishedPolicy(domain string, rec *dmarc.Record) *DMARCPolicy {
	p := &DMARCPolicy{Domain: domain, P: string(rec.Policy), SP: string(rec.SubdomainPolicy), ADKIM: string(rec.DKIMAlignment), ASPF: string(rec.SPFAlignment),
		Pct: 100, RUA: rec.ReportURIAggregate}
	if p.ADKIM == "" {
		p.ADKIM = "r"
	}
	if p.ASPF == "" {
		p.ASPF = "r"
	}
	if p.SP == "" {
		p.SP = p.P
	}
	if rec.Percent != nil {
		p.Pct = *rec.Percent
	}
	return p
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
// not name exactly one domain; ParseAuthor's errors wrap it.
var ErrFromDomain = errors.New("the From field does not name exactly one domain")

// Author is what the RFC5322.From fields of a message say about its
// author.
type Author struct {
	// Domain is the one author domain, lower-case; "" when Err is set.
	Domain string
	// Err says why the message has no single author domain (RFC 7489
	// 6.6.1): no From field, several, one that cannot be parsed, one with
	// no address or with addresses in different domains. It wraps
	// ErrFromDomain and reads as a reason ("the message has 2 From
	// fields").
	Err error
	// values are the unfolded values of every From field, parsed or not.
	values []string
}

// authorError is a reason for no author domain; it is an ErrFromDomain.
type authorError string

func (e authorError) Error() string        { return string(e) }
func (e authorError) Is(target error) bool { return target == ErrFromDomain }

// addressParser parses address lists leniently about display names: an
// encoded word in a charset Go does not know is kept undecoded rather
// than failing the whole field (only the addresses matter here).
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: rawCharset}}

func rawCharset(_ string, r io.Reader) (io.Reader, error) { return r, nil }

// ParseAddressList parses the value of an address field (From, Sender,
// Resent-From...) as net/mail does, except that display names in unknown
// charsets are no error.
func ParseAddressList(v string) ([]*mail.Address, error) {
	return addressParser.ParseList(v)
}

// ParseAuthor reads the From fields of msg's header section.
func ParseAuthor(msg []byte) Author {
	var a Author
	for f := range mailmsg.Fields(msg) {
		if f.Is("From") {
			a.values = append(a.values, fieldValue(f))
		}
	}
	switch len(a.values) {
	case 0:
		a.Err = authorError("the message has no From field")
		return a
	case 1:
	default:
		a.Err = authorError(fmt.Sprintf("the message has %d From fields", len(a.values)))
		return a
	}
	list, err := ParseAddressList(a.values[0])
	if err != nil {
		a.Err = authorError("the From field cannot be parsed (" + strings.TrimPrefix(err.Error(), "mail: ") + ")")
		return a
	}
	if len(list) == 0 {
		a.Err = authorError("the From field names no address")
		return a
	}
	for _, ad := range list {
		at := strings.LastIndexByte(ad.Address, '@')
		d := strings.ToLower(strings.TrimSuffix(ad.Address[at+1:], "."))
		if at < 0 || d == "" {
			a.Err = authorError("the From field has an address without a domain")
			return a
		}
		if a.Domain != "" && d != a.Domain {
			a.Domain, a.Err = "", authorError("the From field names addresses in different domains")
			return a
		}
		a.Domain = d
	}
	return a
}

// Mentions reports whether domain (lower-case), or a subdomain of it,
// follows an "@" anywhere in any From field: in an address, a display
// name, a comment or a field that did not parse, as written or with its
// encoded words decoded. A receiver that shows such a message to people
// must treat it as claiming that domain, whatever the parsed address is.
func (a Author) Mentions(domain string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if domain == "" {
		return false
	}
	for _, v := range a.values {
		if mentions(strings.ToLower(v), domain) {
			return true
		}
		if strings.Contains(v, "=?") {
			if dec, err := addressParser.WordDecoder.DecodeHeader(v); err == nil && mentions(strings.ToLower(dec), domain) {
				return true
			}
		}
	}
	return false
}

// mentions looks for domain in s after an "@" (blanks allowed in
// between), directly or after subdomain labels, and not followed by
// more of a domain name (a final dot aside).
func mentions(s, domain string) bool {
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], domain)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(domain)
		i = start + 1
		if rest := strings.TrimPrefix(s[end:], "."); rest != "" && isDomainByte(rest[0]) {
			continue // example.test.evil.example is another domain
		}
		k := start
		if k > 0 && s[k-1] == '.' { // a subdomain: back over its labels
			for k > 0 && isDomainByte(s[k-1]) {
				k--
			}
		}
		for k > 0 && (s[k-1] == ' ' || s[k-1] == '\t') {
			k--
		}
		if k > 0 && s[k-1] == '@' {
			return true
		}
	}
	return false
}

func isDomainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c >= 0x80
}

// FromDomain returns the domain of the message's RFC5322.From, lower-case.
// RFC 7489 6.6.1: a message with no From, several From fields or
// addresses in different domains has no single author domain.
func FromDomain(msg []byte) (string, error) {
	a := ParseAuthor(msg)
	return a.Domain, a.Err
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
	if err == nil {
		at := res.Domain
		if sub {
			at = OrgDomain(res.Domain)
		}
		res.Published = publishedPolicy(at, rec)
	}
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
		if d.Result == "pass" && aligned(d.Domain, res.Domain, rec.DKIMAlignment) && !res.DKIMAligned {
			res.DKIMAligned, res.Reason = true, "aligned DKIM signature of "+d.Domain
		}
		if d.Result == "temperror" && aligned(d.Domain, res.Domain, rec.DKIMAlignment) {
			temp = true
		}
	}
	if aligned(in.SPFDomain, res.Domain, rec.SPFAlignment) {
		switch in.SPF {
		case "pass":
			res.SPFAligned = true
			if !res.DKIMAligned {
				res.Reason = "aligned SPF of " + strings.ToLower(in.SPFDomain)
			}
		case "temperror":
			temp = true
		}
	}
	if res.DKIMAligned || res.SPFAligned {
		res.Result = "pass"
		return res
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
			p, res.SampledOut = dmarc.PolicyQuarantine, true
		case dmarc.PolicyQuarantine:
			p, res.SampledOut = dmarc.PolicyNone, true
		}
	}
	if in.OwnDomain {
		p = dmarc.PolicyReject
	}
	res.Policy = string(p)
	return res
}
