package smtpd

// Message authentication at the end of DATA: inbound mail is checked
// (SPF, DKIM, DMARC) and gets one Authentication-Results field; submitted
// mail gets an Authentication-Results saying who submitted it and is
// DKIM-signed with its From domain's active keys.
//
// Policy (inbound, clients outside Options.TrustedNetworks):
//   - A message without exactly one author domain (no From field,
//     several, one that does not parse, names no address or addresses in
//     different domains) is refused with 550 5.7.1 before any DNS work:
//     DMARC could not judge it (RFC 7489 6.6.1 allows the refusal), and
//     mail programs would show a From that nothing authenticated.
//   - DMARC fail with p=reject: 550 5.7.1; p=quarantine: the local copies
//     go to the recipients' Junk mailbox; p=none: delivered.
//   - A From in one of the box's own domains must pass DMARC, whatever
//     the published policy (or its absence): otherwise 550 5.7.1, or 451
//     4.7.5 when a DNS failure kept it from being checked. "In one of
//     the box's own domains" is wide: the author domain is a hosted
//     domain, the box's hostname or a subdomain of either, or one of them
//     follows an "@" anywhere in the From field (a display name, a
//     comment, an encoded word), since that is what people read.
//   - Every other outcome, temperror included, is delivered with the
//     results recorded; SPF alone never rejects. A DMARC refusal quotes
//     the SPF explanation (exp=) of a failed SPF check, sanitised.
//   - The DMARC evaluation (pass or fail) of a From domain that asks for
//     aggregate reports (rua=) and is not one of the box's own is
//     counted for the daily report (delivery/dmarcreport.go): in the
//     delivery's transaction, or on its own for a refused message.
//
// Trusted clients (default: loopback) skip the checks: their messages
// get "Authentication-Results: HOST; (trusted network) none".
//
// On every path, Authentication-Results fields that name the box as
// their authserv-id are removed before the box adds its own: a forged one
// would otherwise vouch for the message in the user's mail program.

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"boxmail/internal/mailauth"
	"boxmail/internal/store"
)

// checkTimeout bounds the DNS work of one message's checks.
const checkTimeout = 30 * time.Second

// authenticate returns the message to commit: the trace header and the
// body, with the Authentication-Results and, for submissions, the
// DKIM-Signature fields prepended. A non-nil error is the reply to send.
func (c *session) authenticate(ctx context.Context, buf, trace, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	host := c.s.o.Hostname
	var ar mailauth.AuthResults
	var sig []byte
	body = mailauth.StripAuthResults(body, host) // in place, header only
	if c.s.o.Mode == Submission {
		ar.AuthUser = c.user
		var err error
		if sig, err = c.sign(ctx, body); err != nil {
			return nil, err
		}
	} else {
		var err error
		if ar, err = c.check(ctx, body); err != nil {
			return nil, err
		}
	}
	return assemble(buf, sig, []byte(ar.Header(host)), trace, body), nil
}

// assemble returns sig, hdr, trace and body as one message. When body
// ends buf and buf has room before it (readMessage's headroom), the
// fields are moved or written there, in front of body, instead of
// copying a message of megabytes once more.
func assemble(buf, sig, hdr, trace, body []byte) []byte {
	n := len(sig) + len(hdr) + len(trace)
	start := len(buf) - len(body)
	if len(body) == 0 || &body[len(body)-1] != &buf[len(buf)-1] || start < n {
		// Join allocates without zeroing what it is about to overwrite.
		return bytes.Join([][]byte{sig, hdr, trace, body}, nil)
	}
	// trace lies in buf before body: copy moves it forward safely.
	copy(buf[start-len(trace):], trace)
	copy(buf[start-n:], sig)
	copy(buf[start-n+len(sig):], hdr)
	return buf[start-n:]
}

// sign makes the DKIM signatures of a submitted message with the active
// keys of its From domain. A domain without keys sends unsigned.
func (c *session) sign(ctx context.Context, body []byte) ([]byte, error) {
	domain, err := mailauth.FromDomain(body)
	if err != nil {
		return nil, nil // checkFrom has already refused what matters
	}
	sig, err := c.s.o.Deliverer.DKIMSign(ctx, body, domain)
	if err != nil {
		c.log.Warn("DKIM signing failed, sending unsigned", "domain", domain, "err", err)
		return nil, nil
	}
	if sig == nil {
		c.log.Warn("no active DKIM key, sending unsigned", "domain", domain)
	}
	return sig, nil
}

// trusted reports whether the client is in a trusted network.
func (c *session) trusted() (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(c.remote)
	if err != nil {
		return netip.Addr{}, false
	}
	ip := ap.Addr().Unmap()
	for _, p := range c.s.o.TrustedNetworks {
		if p.Contains(ip) {
			return ip, true
		}
	}
	return ip, false
}

// check runs SPF, DKIM and DMARC on an inbound message and applies the
// policy in the file comment.
func (c *session) check(ctx context.Context, body []byte) (mailauth.AuthResults, error) {
	ip, trusted := c.trusted()
	if trusted {
		return mailauth.AuthResults{Comment: "trusted network"}, nil
	}
	if c.s.o.Resolver == nil {
		return mailauth.AuthResults{Comment: "not checked"}, nil
	}
	author := mailauth.ParseAuthor(body)
	if author.Err != nil {
		c.log.Info("refused: no single author domain", "reason", author.Err)
		return mailauth.AuthResults{}, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Message rejected: "+replyText(author.Err.Error())+
			"; exactly one From field with addresses in one domain is required (RFC 7489 6.6.1)")
	}
	fromDomain := author.Domain
	own, err := c.ownAuthor(ctx, author)
	if err != nil {
		return mailauth.AuthResults{}, c.internal("local domain check", err)
	}
	r := c.s.o.Resolver
	helo := c.c.Hostname()
	spf, _ := mailauth.CheckSPF(ctx, r, ip, helo, c.from)
	ar := mailauth.AuthResults{SPF: string(spf.Status), SPFReason: spf.Reason}
	if c.from != "" {
		ar.SPFFrom = c.from
	} else {
		ar.SPFHelo = helo
	}
	ar.DKIM = mailauth.VerifyDKIM(ctx, r, body)
	dm := mailauth.CheckDMARC(ctx, r, mailauth.DMARCInput{FromDomain: fromDomain,
		SPF: string(spf.Status), SPFDomain: spf.Domain, DKIM: ar.DKIM, OwnDomain: own})
	ar.DMARC = &dm
	log := c.log.With("spf", spf.Status, "dmarc", dm.Result, "from_domain", fromDomain)
	for _, d := range ar.DKIM {
		log = log.With("dkim_"+d.Domain, d.Result)
	}
	scope := "mfrom"
	if c.from == "" {
		scope = "helo"
	}
	ev := dmarcEvaluation(ip, fromDomain, own, scope, spf, ar.DKIM, dm)
	switch {
	case dm.Result == "fail" && dm.Policy == mailauth.PolicyReject:
		log.Info("rejected by DMARC policy", "own_domain", own)
		if ev != nil {
			c.s.o.Deliverer.RecordDMARC(ctx, *ev)
		}
		return ar, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Message rejected: its From domain "+fromDomain+" does not authenticate it (DMARC)"+spfExplanation(spf))
	case own && dm.Result == "temperror":
		log.Info("own domain not verifiable now")
		return ar, smtpErr(451, smtp.EnhancedCode{4, 7, 5}, "Cannot verify the From domain "+fromDomain+" now (DMARC temperror), try again later")
	case dm.Result == "fail" && dm.Policy == mailauth.PolicyQuarantine:
		log.Info("quarantined by DMARC policy")
		c.txn.SetMailbox("Junk")
	default:
		log.Debug("message authentication")
	}
	if ev != nil && dm.Result != "temperror" {
		c.txn.SetDMARC(*ev)
	}
	return ar, nil
}

// spfExplanation is the sender domain's exp= text (RFC 7208 6.2) for a
// failed SPF check, to quote in a refusal: it is text from the sender's
// DNS, so only printable ASCII and capped (replyText).
func spfExplanation(spf mailauth.SPFResult) string {
	if spf.Status != mailauth.SPFFail || strings.TrimSpace(spf.Explanation) == "" {
		return ""
	}
	return "; SPF: " + replyText(strings.TrimSpace(spf.Explanation))
}

// dmarcEvaluation is what the aggregate report to the From domain's
// owner will say of this message (RFC 7489 7.2); nil when the domain
// asks for no reports (no rua=) or is one of the box's own (the box
// does not report to itself).
func dmarcEvaluation(ip netip.Addr, fromDomain string, own bool, scope string, spf mailauth.SPFResult, dkim []mailauth.DKIMResult, dm mailauth.DMARCResult) *store.DMARCEvaluation {
	p := dm.Published
	if own || p == nil || len(p.RUA) == 0 || (dm.Result != "pass" && dm.Result != "fail") {
		return nil
	}
	e := &store.DMARCEvaluation{
		Policy:   store.DMARCPolicyRow{Domain: p.Domain, P: p.P, SP: p.SP, ADKIM: p.ADKIM, ASPF: p.ASPF, Pct: p.Pct, RUA: p.RUA},
		SourceIP: ip.String(), HeaderFrom: fromDomain, SPFDomain: strings.ToLower(spf.Domain), SPFScope: scope, SPFResult: string(spf.Status),
		Disposition: mailauth.PolicyNone, DKIMEval: passFail(dm.DKIMAligned), SPFEval: passFail(dm.SPFAligned),
	}
	if e.SPFResult == "" {
		e.SPFResult = "none"
	}
	if dm.Result == "fail" && dm.Policy != "" {
		e.Disposition = dm.Policy
	}
	if dm.SampledOut {
		e.Reason = "sampled_out"
	}
	for _, d := range dkim {
		if d.Domain != "" {
			e.DKIM = append(e.DKIM, store.DMARCAuth{Domain: strings.ToLower(d.Domain), Selector: d.Selector, Result: d.Result})
		}
	}
	return e
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}

// ownAuthor reports whether a message's From claims one of the box's own
// domains (see the file comment).
func (c *session) ownAuthor(ctx context.Context, author mailauth.Author) (bool, error) {
	hosted, err := c.s.o.Deliverer.HostedDomains(ctx)
	if err != nil {
		return false, err
	}
	if h := strings.ToLower(strings.TrimSuffix(c.s.o.Hostname, ".")); h != "" {
		hosted = append(hosted, h)
	}
	for _, h := range hosted {
		if author.Domain == h || strings.HasSuffix(author.Domain, "."+h) || author.Mentions(h) {
			return true, nil
		}
	}
	return false, nil
}

// replyText makes a reason safe and short for an SMTP reply line.
func replyText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
